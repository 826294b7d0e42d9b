"""Running user hooks: deploy hooks after each new certificate, pre/post hooks around renewals.

A hook is a shell command given by the user (run by /bin/sh) or an executable in
`<config>/hooks/deploy/`. Certificate data reaches it only through `ACMECF_*` environment
variables (and certbot's RENEWED_LINEAGE / RENEWED_DOMAINS), never spliced into the command
text. Cloudflare credentials and acmecf's own settings are removed from its environment. This
module does not decide when hooks run; it runs them and reports how they ended.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from acmecf.errors import AcmecfError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0
STDERR_TAIL = 400
# Removed from a hook's environment: Cloudflare credentials, and acmecf's own settings so that
# the ACMECF_* variables a hook sees are exactly the ones documented for it.
_PRIVATE_PREFIXES = ("CLOUDFLARE_", "ACMECF_")


class HookError(AcmecfError):
    """A hook exited non-zero or ran past its timeout; the certificate itself is in place."""


@dataclass(frozen=True)
class Hook:
    command: str  # a shell command, or the path of an executable
    shell: bool


def deploy_hooks(commands: Sequence[str], hooks_dir: Path) -> list[Hook]:
    """The stored deploy-hook commands, then every executable in `hooks_dir` by name."""
    hooks = [Hook(command, shell=True) for command in commands]
    try:
        entries = sorted(hooks_dir.iterdir())
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if entry.is_file() and os.access(entry, os.X_OK) and not entry.name.startswith("."):
            hooks.append(Hook(str(entry), shell=False))
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


def run_hook(
    hook: Hook,
    variables: Mapping[str, str],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Run one hook with `variables` added to a credential-free environment.

    Raises HookError with the exit status and the tail of stderr when it fails or times out.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)}
    environment.update(variables)
    args: str | list[str] = hook.command if hook.shell else [hook.command]
    log.info("running %s: %s", what, hook.command)
    try:
        # Its own session, so that a timeout stops the hook's children too (a shell's `sleep`
        # would otherwise hold stderr open, and us with it).
        process = subprocess.Popen(
            args,
            shell=hook.shell,
            env=environment,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as err:
        raise HookError(f"{what} `{hook.command}` could not start: {err.strerror}") from err
    stderr: bytes | None
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        _, stderr = _stop(process)
        raise HookError(
            f"{what} `{hook.command}` did not finish within {timeout:.0f}s and was stopped"
            + _tail(stderr)
        ) from err
    except BaseException:
        _stop(process)
        raise
    completed = subprocess.CompletedProcess(args, process.returncode, None, stderr)
    if completed.stderr:
        log.debug("%s stderr: %s", what, completed.stderr.decode(errors="replace").strip())
    if completed.returncode != 0:
        raise HookError(
            f"{what} `{hook.command}` failed with exit status {completed.returncode}"
            + _tail(completed.stderr)
        )


def _stop(process: subprocess.Popen[bytes]) -> tuple[bytes | None, bytes | None]:
    """Stop the hook's whole process group: SIGTERM, then SIGKILL after a grace period."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            return process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return process.communicate()


def _tail(stderr: bytes | str | None) -> str:
    if not stderr:
        return ""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    if len(text) > STDERR_TAIL:
        text = "..." + text[-STDERR_TAIL:]
    return f": {text}"
