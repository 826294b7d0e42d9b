"""The peers: certbot (certbot-dns-cloudflare) and lego's Cloudflare provider (certbot-dns-multi).

They live in their own virtualenv (``bench/.venv-peers``, made on first use, never in the
project's dependencies). This module builds their command lines and credentials files, and
clones a certbot lineage many times for the "nothing due" measurement.

How each peer waits for DNS (read from their source in the peers' virtualenv):

- certbot-dns-cloudflare creates the TXT records, then sleeps a fixed
  ``--dns-cloudflare-propagation-seconds`` (default 10) and answers the CA; it never looks
  at DNS.
- certbot-dns-multi hands only the record work to lego: its bridge calls the lego provider's
  ``Present``/``CleanUp`` and nothing else, so lego's own propagation check (which asks the
  authoritative nameservers on port 53) never runs. certbot then sleeps a fixed
  ``--dns-multi-propagation-seconds`` (default 60). Before calling the API, lego's provider
  follows ``_acme-challenge`` CNAMEs and finds the zone with SOA queries through recursive
  nameservers, by default the system's, which do not know the emulated zones; we point it at
  the emulator's resolver with ``--dns-multi-nameservers`` (the resolver, like a real one,
  only sees what the slowest nameserver sees).

Does not: start servers, measure, or decide what a figure means.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# One virtualenv per peer, so that neither pays for the other's plugin: certbot imports every
# installed plugin at start-up, and certbot-dns-multi loads lego, a 94 MB Go library.
PEERS = {
    "dns-cloudflare": ("certbot", "certbot-dns-cloudflare"),
    "dns-multi": ("certbot", "certbot-dns-multi"),
}
INSTALL_TIMEOUT = 900.0
CERTBOT_DEFAULT_WAIT = 10  # certbot-dns-cloudflare's --dns-cloudflare-propagation-seconds
MULTI_DEFAULT_WAIT = 60  # certbot-dns-multi's --dns-multi-propagation-seconds


class PeersUnavailable(Exception):
    """The peers' virtualenvs could not be made; the message says why."""


@dataclass(frozen=True)
class PeerTools:
    root: Path
    versions: dict[str, str]

    def certbot(self, plugin: str) -> str:
        """The certbot of the virtualenv that has ``plugin`` ("dns-cloudflare", "dns-multi")."""
        return str(self.root / plugin / "bin" / "certbot")


def prepare(root: Path, *, echo: bool = True) -> PeerTools:
    """Make (or reuse) one virtualenv per peer under ``root``; return them with their versions.

    Reuses a virtualenv that a previous run finished installing. Raises PeersUnavailable with
    pip's last words when making one fails (e.g. no network).
    """
    versions: dict[str, str] = {}
    for plugin, packages in PEERS.items():
        venv = root / plugin
        python = str(venv / "bin" / "python")
        stamp = venv / ".installed"
        if not (stamp.exists() and stamp.read_text().split() == list(packages)):
            if echo:
                print(f"installing a peer into {venv}: pip install {' '.join(packages)}")
            shutil.rmtree(venv, ignore_errors=True)
            _run_or_explain([sys.executable, "-m", "venv", str(venv)], "python -m venv")
            pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            _run_or_explain([*pip, *packages], "pip install " + " ".join(packages))
            stamp.write_text("\n".join(packages) + "\n")
        script = (
            "import importlib.metadata as m, json; "
            f"print(json.dumps({{p: m.version(p) for p in {list(packages)!r}}}))"
        )
        completed = subprocess.run(
            [python, "-c", script], capture_output=True, text=True, timeout=60, check=False
        )
        if completed.returncode != 0:
            raise PeersUnavailable(f"{venv} is broken: {completed.stderr.strip()}")
        versions.update(json.loads(completed.stdout))
    return PeerTools(root=root, versions=versions)


def _run_or_explain(command: Sequence[str], what: str) -> None:
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise PeersUnavailable(f"{what} did not finish within {INSTALL_TIMEOUT:.0f} s") from err
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines()
        raise PeersUnavailable(f"{what} failed: {lines[-1] if lines else completed.returncode}")


@dataclass(frozen=True)
class Plugin:
    """A certbot DNS authenticator and the flags that configure it."""

    label: str
    flags: tuple[str, ...]


def cloudflare_plugin(credentials: Path, wait: int | None) -> Plugin:
    """certbot-dns-cloudflare; ``wait`` None keeps its default fixed sleep."""
    flags = ["--authenticator", "dns-cloudflare", "--dns-cloudflare-credentials", str(credentials)]
    if wait is not None:
        flags += ["--dns-cloudflare-propagation-seconds", str(wait)]
    return Plugin("dns-cloudflare", tuple(flags))


def multi_plugin(credentials: Path, resolver: str, wait: int | None) -> Plugin:
    """certbot-dns-multi (lego's Cloudflare provider); ``wait`` None keeps its default sleep."""
    flags = [
        "--authenticator", "dns-multi",
        "--dns-multi-credentials", str(credentials),
        "--dns-multi-nameservers", resolver,
    ]  # fmt: skip
    if wait is not None:
        flags += ["--dns-multi-propagation-seconds", str(wait)]
    return Plugin("dns-multi", tuple(flags))


def write_cloudflare_credentials(path: Path, token: str) -> Path:
    """certbot-dns-cloudflare's INI file, mode 600 (certbot warns about anything wider)."""
    return _write_secret(path, f"dns_cloudflare_api_token = {token}\n")


def write_multi_credentials(path: Path, token: str) -> Path:
    """certbot-dns-multi's INI file: the lego provider and lego's own variable names."""
    text = f"dns_multi_provider = cloudflare\nCLOUDFLARE_DNS_API_TOKEN = {token}\n"
    return _write_secret(path, text)


def _write_secret(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)
    return path


def certbot_dirs(certbot: str, root: Path) -> list[str]:
    """``certbot`` and the flags that keep all its state under ``root``."""
    return [
        certbot,
        "--config-dir", str(root / "config"),
        "--work-dir", str(root / "work"),
        "--logs-dir", str(root / "logs"),
        "--non-interactive",
    ]  # fmt: skip


def certonly(
    tools: PeerTools, root: Path, plugin: Plugin, server: str, names: Sequence[str]
) -> list[str]:
    """``certbot certonly`` for ``names`` against ``server``, registering an account if needed."""
    command = [
        *certbot_dirs(tools.certbot(plugin.label), root),
        "certonly", "--agree-tos", "-m", "bench@example.com", "--server", server,
        "--key-type", "ecdsa", *plugin.flags,
    ]  # fmt: skip
    for name in names:
        command += ["-d", name]
    return command


def renew(
    tools: PeerTools, plugin: str, root: Path, extra: Sequence[str] = (), *, force: bool
) -> list[str]:
    """``certbot renew`` over every lineage under ``root``, without certbot's random sleep.

    certbot sleeps up to 8 minutes before the first renewal when standard input is not a
    terminal; acmecf sleeps only when asked (--random-sleep), so both run without it here.
    """
    command = [
        *certbot_dirs(tools.certbot(plugin), root),
        "renew",
        "--no-random-sleep-on-renew",
        *extra,
    ]
    if force:
        command.append("--force-renewal")
    return command


def copy_root(source: Path, destination: Path) -> None:
    """Copy certbot's state under ``source`` to ``destination``, rewriting the absolute paths
    that its renewal configurations hold."""
    shutil.copytree(source, destination, symlinks=True)
    for conf in (destination / "config" / "renewal").glob("*.conf"):
        conf.write_text(conf.read_text().replace(f"{source}/", f"{destination}/"))


def clone_lineages(root: Path, lineage: str, total: int) -> int:
    """Copy certbot lineage ``lineage`` under ``root`` until there are ``total`` lineages;
    return how many there are.

    Each copy is a lineage as certbot writes it (archive files, live links, renewal
    configuration with its paths rewritten), differing only in its name. Idempotent.
    """
    config = root / "config"
    renewal = config / "renewal"
    template = (renewal / f"{lineage}.conf").read_text()
    archive = config / "archive" / lineage
    live = config / "live" / lineage
    present = len(list(renewal.glob("*.conf")))
    for index in range(max(0, total - present)):
        name = f"{lineage}-{index:04d}"
        shutil.copytree(archive, config / "archive" / name, symlinks=True)
        (config / "live" / name).mkdir()
        for link in live.iterdir():
            copy = config / "live" / name / link.name
            if link.is_symlink():
                target = str(link.readlink())
                copy.symlink_to(target.replace(f"archive/{lineage}/", f"archive/{name}/"))
            else:
                shutil.copy2(link, copy)
        text = template.replace(f"/archive/{lineage}\n", f"/archive/{name}\n").replace(
            f"/live/{lineage}/", f"/live/{name}/"
        )
        (renewal / f"{name}.conf").write_text(text)
    return len(list(renewal.glob("*.conf")))
