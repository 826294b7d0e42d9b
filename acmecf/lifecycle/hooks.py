"""Running user hooks: deploy hooks after each new certificate, failure hooks after a failed
one, pre/post hooks around renewals.

A hook is a shell command given by the user (run by /bin/sh) or an executable in
`<config>/hooks/deploy/`; hooks run as the same user as acmecf (root, from the timer).
Certificate data reaches a hook only through `ACMECF_*` environment variables (and certbot's
RENEWED_LINEAGE / RENEWED_DOMAINS), never spliced into the command text. Its environment
holds no credential: Cloudflare variables, acmecf's own settings and systemd's
CREDENTIALS_DIRECTORY are removed. Its output goes to acmecf's stderr (the journal), never
to stdout, which stays for acmecf's own results. A hook that leaves a background child behind
does not hold the run: acmecf waits for the hook itself, not for its children. This module
does not decide when hooks run; it runs them and reports how they ended.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from acmecf.errors import HookError
from acmecf.storage.files import HookFile

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0
STDERR_TAIL = 400
# Removed from a hook's environment: credentials of every kind acmecf may have been given, and
# acmecf's own settings, so the ACMECF_* variables a hook sees are exactly the documented ones.
_PRIVATE_PREFIXES = ("CLOUDFLARE_", "ACMECF_", "CF_API_", "CF_DNS_", "CF_ZONE_")
_PRIVATE_NAMES = frozenset({"CREDENTIALS_DIRECTORY", "CF_TOKEN", "CF_KEY", "CF_EMAIL"})


@dataclass(frozen=True)
class Hook:
    command: str  # a shell command, or the path of an executable
    shell: bool
    refused: str | None = None  # why it must not run (an untrusted file); None: it may


def deploy_hooks(commands: Sequence[str], files: Sequence[HookFile]) -> list[Hook]:
    """The stored deploy-hook commands, then every file of `hooks/deploy/` by name (refused
    ones included, so running them reports why they did not run)."""
    hooks = [Hook(command, shell=True) for command in commands]
    hooks += [Hook(str(f.path), shell=False, refused=f.problem) for f in files]
    return hooks


def certificate_environment(cert_name: str, names: Sequence[str], live_dir: Path) -> dict[str, str]:
    """The variables a deploy hook gets about the certificate it deploys."""
    return {
        "ACMECF_CERT_NAME": cert_name,
        "ACMECF_DOMAINS": " ".join(names),
        "ACMECF_LIVE_DIR": str(live_dir),
        "ACMECF_CERT": str(live_dir / "cert.pem"),
        "ACMECF_CHAIN": str(live_dir / "chain.pem"),
        "ACMECF_FULLCHAIN": str(live_dir / "fullchain.pem"),
        "ACMECF_PRIVKEY": str(live_dir / "privkey.pem"),
        # certbot's names, so existing deploy hooks keep working
        "RENEWED_LINEAGE": str(live_dir),
        "RENEWED_DOMAINS": " ".join(names),
    }


def hook_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """acmecf's environment without any credential or acmecf setting, plus `variables`."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_PRIVATE_PREFIXES) and k not in _PRIVATE_NAMES
    }
    environment.update(variables)
    return environment


def run_hook(
    hook: Hook,
    variables: Mapping[str, str],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Run one hook with `variables` added to a credential-free environment.

    Raises HookError with the exit status and the tail of stderr when it fails, runs past
    `timeout` (it and its children are then stopped) or is refused (an untrusted file).
    """
    if hook.refused is not None:
        raise HookError(f"{what} {hook.command} was not run: {hook.refused}")
    args: str | list[str] = hook.command if hook.shell else [hook.command]
    log.info("running %s: %s", what, hook.command)
    with tempfile.TemporaryFile() as stderr:
        try:
            # Its own session, so that a timeout stops the hook's children too. Its stderr goes
            # to a file, not a pipe: a background child keeping it open must not hold us.
            process = subprocess.Popen(
                args,
                shell=hook.shell,
                env=hook_environment(variables),
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as err:
            raise HookError(f"{what} `{hook.command}` could not start: {err.strerror}") from err
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            _stop(process)
            raise HookError(
                f"{what} `{hook.command}` did not finish within {timeout:.0f}s and was stopped"
                + _tail(_read(stderr))
            ) from err
        except BaseException:
            _stop(process)
            raise
        output = _read(stderr)
    if output:
        log.debug("%s stderr: %s", what, output.decode(errors="replace").strip())
    if returncode != 0:
        raise HookError(
            f"{what} `{hook.command}` failed with exit status {returncode}" + _tail(output)
        )


def _has_fileno(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _read(handle: object) -> bytes:
    assert hasattr(handle, "seek") and hasattr(handle, "read")
    handle.seek(0)
    data: bytes = handle.read(64 * 1024)
    return data


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the hook's whole process group: SIGTERM, then SIGKILL after a grace period."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(stderr: bytes | None) -> str:
    if not stderr:
        return ""
    text = stderr.decode(errors="replace")
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    if len(text) > STDERR_TAIL:
        text = "..." + text[-STDERR_TAIL:]
    return f": {text}"
