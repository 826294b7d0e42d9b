"""The command line's frame: the `acmecf` group, shared options, and the one error boundary.

Every command calls `run_command`, the only place that turns failures into one line and an
exit code. The command modules (certificates, sandbox, ...) only parse their flags, call the
library and print. Heavy libraries are imported inside commands, so `acmecf --help` is fast.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from acmecf import __version__
from acmecf.errors import AcmecfError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES = """\b
Exit codes:
  0  success
  1  something failed (the message says what and what to do)
  2  usage error: bad option, name or credentials file
  130  interrupted (Ctrl-C or SIGTERM); challenge records were removed
"""

log = logging.getLogger("acmecf")


class _Interrupted(BaseException):
    """Raised from the SIGTERM handler so that cleanup runs as it does for Ctrl-C."""


def common_options(function: F) -> F:
    """Options every command takes."""
    options = [
        click.option(
            "--config-dir",
            type=click.Path(file_okay=False, path_type=Path),
            envvar="ACMECF_CONFIG_DIR",
            help="Where accounts and certificates live. Default: /etc/acmecf for root, "
            "~/.config/acmecf otherwise. Env: ACMECF_CONFIG_DIR.",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Say more about each step."),
        click.option("-q", "--quiet", is_flag=True, help="Print only errors and warnings."),
        click.option("--debug", is_flag=True, help="Show API details and a traceback on errors."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES,
)
@click.version_option(__version__, prog_name="acmecf")
def cli() -> None:
    """Real TLS certificates for origin servers behind Cloudflare.

    acmecf orders certificates from Let's Encrypt (or any ACME CA), proves control of the
    names with DNS-01 TXT records published through the Cloudflare API, waits until every
    authoritative nameserver serves them, and writes the key and the full chain.

    \b
    Example:
      export CLOUDFLARE_API_TOKEN=...   # Zone > Zone > Read + Zone > DNS > Edit
      acmecf issue --agree-tos --email you@example.com -d example.com -d '*.example.com'
    """


def run_command(command: Callable[[dict[str, Any]], None], options: dict[str, Any]) -> None:
    """The error boundary: run a command, turn every failure into one line and an exit code."""
    from acmecf.config import redact

    debug = bool(options.get("debug"))
    _setup_logging(
        debug=debug, verbose=bool(options.get("verbose")), quiet=bool(options.get("quiet"))
    )
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        command(options)
    except AcmecfError as err:
        if _interrupted.is_set():
            _fail(INTERRUPTED_MESSAGE, 130, debug)
        _fail(redact(str(err)), err.exit_code, debug)
    except (KeyboardInterrupt, _Interrupted):
        _fail(INTERRUPTED_MESSAGE, 130, debug)
    except click.exceptions.Exit:
        raise
    except Exception as err:  # a bug, or a failure we did not foresee
        if _interrupted.is_set():
            # A library wrapped the interruption in an error of its own (pydantic does, while
            # the Cloudflare SDK builds its validators): it is still the interruption.
            _fail(INTERRUPTED_MESSAGE, 130, debug)
        _fail(
            redact(f"unexpected error: {type(err).__name__}: {err}")
            + " (run again with --debug and report it)",
            1,
            debug,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def on_interrupt(callback: Callable[[], None]) -> None:
    """Call `callback` when Ctrl-C or SIGTERM arrives (e.g. to cancel a run's waits)."""
    _interrupt_callbacks.append(callback)


INTERRUPTED_MESSAGE = "interrupted; the live certificate is unchanged"
_interrupted = threading.Event()
_interrupt_callbacks: list[Callable[[], None]] = []


def _on_signal(signum: int, frame: object) -> None:
    """Remember the interruption, cancel the run's waits, and unwind the main thread."""
    _interrupted.set()
    for callback in _interrupt_callbacks:
        callback()
    if signum == signal.SIGTERM:
        raise _Interrupted()
    raise KeyboardInterrupt()


def _fail(message: str, code: int, debug: bool) -> NoReturn:
    from acmecf.config import redact

    if debug:
        click.echo(redact(traceback.format_exc()), err=True)
    click.echo(f"acmecf: error: {message}", err=True)
    sys.exit(code)


class _RedactingFormatter(logging.Formatter):
    """Masks secrets; names the certificate in parallel runs; marks warnings."""

    def __init__(self, fmt: str, *, plain: bool) -> None:
        super().__init__(fmt)
        self.plain = plain

    def format(self, record: logging.LogRecord) -> str:
        from acmecf.config import redact
        from acmecf.renew import current_certificate

        text = super().format(record)
        if self.plain and record.levelno >= logging.WARNING:
            text = f"warning: {text}"
        certificate = current_certificate.get()
        if certificate is not None:
            text = f"{certificate}: {text}"
        return redact(text)


def _setup_logging(*, debug: bool, verbose: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if debug:
        handler.setFormatter(
            _RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s", plain=False)
        )
    else:
        handler.setFormatter(_RedactingFormatter("%(message)s", plain=True))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    level = logging.DEBUG if (debug or verbose) else logging.WARNING if quiet else logging.INFO
    logging.getLogger("acmecf").setLevel(level)


def main() -> None:
    cli(prog_name="acmecf")


def store_from(options: dict[str, Any]) -> Any:
    """The Store for the --config-dir (or ACMECF_CONFIG_DIR, or the default) of a command."""
    from acmecf.store import Store, default_config_dir

    return Store(Path(options["config_dir"] or default_config_dir()).absolute())
