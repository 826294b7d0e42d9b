"""The command line's frame: the `acmecf` group, the options every command shares, and the one
error boundary.

Every command calls `run_command`, the only place that turns failures into one line and an
exit code: an AcmecfError prints its message (its remedy included), anything unforeseen prints
one line asking for a report; a traceback only with --debug. Every line is redacted. The
command modules (certificates, accounts, origin, ...) only turn their flags into a typed
options object, call the library and print. Heavy libraries are imported inside commands, so
`acmecf --help` is fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from acmecf import __version__, interrupts
from acmecf.errors import AcmecfError, UsageError

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

EXIT_CODES = """\b
Exit codes:
  0  success (or nothing due)
  1  something failed (the message says what and what to do)
  2  usage error: bad option, name or file
  130  interrupted (Ctrl-C or SIGTERM)
"""

log = logging.getLogger("acmecf")
OUTPUT_LOGGER = "acmecf.output"  # cli.logs.OUTPUT_LOGGER: printed lines, for the run log only


@dataclass(frozen=True)
class Common:
    """The options every command takes."""

    config_dir: Path
    verbose: bool = False
    quiet: bool = False
    debug: bool = False
    store_url: str | None = None  # --store: etcd://HOST:PORT[,...]/PREFIX, or "files"
    store_key_file: str | None = None  # --store-key-file: the fleet key

    def store(self) -> Any:
        """The store the configuration chooses (settings.store): the FileStore of the
        configuration directory, or a FleetStore over etcd (checked when first used)."""
        from acmecf.storage.selection import open_store

        return open_store(self.config_dir, self.store_settings())

    def store_settings(self) -> Any:
        """The StoreSettings of --store, the environment and [store] in acmecf.toml."""
        from acmecf.settings import config_file
        from acmecf.settings.store import store_settings
        from acmecf.storage.files import FileStore

        config = config_file.load(FileStore(self.config_dir))
        return store_settings(
            url=self.store_url,
            key_file=self.store_key_file,
            environment=os.environ,
            section=config.section("store"),
            config_path=config.path,
            config_dir=self.config_dir,
        )


def common_options(function: F) -> F:
    """Options every command takes."""
    options = [
        click.option(
            "--config-dir",
            envvar="ACMECF_CONFIG_DIR",
            metavar="DIR",
            help="Where accounts and certificates live. Default: /etc/acmecf for root, "
            "~/.config/acmecf otherwise. Env: ACMECF_CONFIG_DIR.",
        ),
        click.option(
            "--store",
            "store_url",
            metavar="URL",
            help="Where certificates live: etcd://HOST:PORT[,HOST:PORT...]/PREFIX for a fleet "
            "of origins sharing them (etcd TLS and auth: [store] in acmecf.toml), or files "
            "(the configuration directory). Default: [store] url in acmecf.toml, else files. "
            "Env: ACMECF_STORE.",
        ),
        click.option(
            "--store-key-file",
            metavar="FILE",
            help="The fleet key encrypting private keys in an etcd store: 32 random bytes "
            "(head -c 32 /dev/urandom), the same on every origin. Env: ACMECF_STORE_KEY_FILE.",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Say more about each step."),
        click.option("-q", "--quiet", is_flag=True, help="Print only errors and warnings."),
        click.option(
            "--debug",
            is_flag=True,
            help="Show API details (credentials and keys masked) and a traceback on errors.",
        ),
        click.option(
            "--log-file",
            envvar="ACMECF_LOG_FILE",
            metavar="FILE",
            help="Append this run's log to FILE instead of a new file in <config-dir>/logs/ "
            "(/var/log/acmecf for root). Env: ACMECF_LOG_FILE.",
        ),
        click.option(
            "--log-format",
            envvar="ACMECF_LOG_FORMAT",
            type=click.Choice(["text", "json"]),
            help="The run log's format: text, or one JSON object a line for log shippers "
            "(default: [run] log_format of acmecf.toml, else text). The console is unchanged. "
            "Env: ACMECF_LOG_FORMAT.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def common_from(kwargs: Mapping[str, Any]) -> Common:
    """The Common options of a command's keyword arguments. Raises UsageError."""
    raw = kwargs.get("config_dir")
    if raw is None:
        from acmecf.storage.files import default_config_dir

        directory = default_config_dir()
    else:
        text = str(raw)
        if not text.strip() or any(not c.isprintable() for c in text):
            raise UsageError(
                f"invalid --config-dir {text!r}: give a directory path (or leave it out for "
                "the default)"
            )
        directory = Path(text)
    return Common(
        config_dir=Path(os.path.abspath(directory)),
        verbose=bool(kwargs.get("verbose")),
        quiet=bool(kwargs.get("quiet")),
        debug=bool(kwargs.get("debug")),
        store_url=kwargs.get("store_url"),
        store_key_file=kwargs.get("store_key_file"),
    )


def options_from(cls: type[T], kwargs: Mapping[str, Any], **values: Any) -> T:
    """A `cls` dataclass from the command's keyword arguments of the same names, plus
    `values` (already converted ones)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    chosen = {k: v for k, v in kwargs.items() if k in names and k not in values}
    return cls(**chosen, **values)


# Every command: the module that defines it (imported only when the command runs) and the
# first sentence of its help, which `acmecf --help` shows, so the overview needs no command
# module at all. A unit test keeps each sentence equal to the command's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "account": (
        "accounts",
        "Your ACME account at a CA: register, show, update, deactivate, roll its key over.",
    ),
    "apache-config": (
        "webserver",
        "Print Apache virtual hosts for NAME: a first, catch-all virtual host that denies "
        "unknown host names, and the site.",
    ),
    "certificates": (
        "inventory",
        "List the certificates acmecf manages, with profile, lifetime, expiry and next renewal.",
    ),
    "cloudflare": (
        "origin",
        "Zone settings that decide how Cloudflare talks to the origin.",
    ),
    "completion": (
        "install",
        "Print the completion script of SHELL (bash, zsh or fish) for acmecf's commands, "
        "options and values.",
    ),
    "delete": (
        "inventory",
        "Delete a certificate: its live files, every old version and its renewal settings.",
    ),
    "import-certbot": (
        "certbot",
        "Take over the certificates certbot renews with the dns-cloudflare plugin.",
    ),
    "issue": (
        "certificates",
        "Obtain a certificate and write it under <config-dir>/live/<cert-name>/.",
    ),
    "list": (
        "inventory",
        "List the certificates acmecf manages, with profile, lifetime, expiry and next renewal.",
    ),
    "man-page": (
        "install",
        "Print acmecf's manual page (roff), made from the help of every command.",
    ),
    "nginx-config": (
        "webserver",
        "Print nginx server blocks for NAME: the site, and a default server that refuses "
        "unknown host names.",
    ),
    "origin": (
        "origin",
        "Look at the origin server directly, as Cloudflare's edge meets it.",
    ),
    "persist": (
        "persist",
        "dns-persist-01: one TXT record per name, published once, instead of one per order.",
    ),
    "reconfigure": (
        "reconfigure",
        "Change a certificate's stored settings, without ordering anything.",
    ),
    "renew": (
        "certificates",
        "Renew every certificate that is due, and leave the others alone.",
    ),
    "revoke": (
        "accounts",
        "Revoke a certificate at its CA; then offer to delete it (--delete for scripts).",
    ),
    "sandbox": (
        "sandbox",
        "A local test bed: Pebble (a test ACME CA) and a Cloudflare API emulator.",
    ),
    "store": (
        "fleet",
        "Move this origin's certificates into a shared etcd store, or out of it.",
    ),
    "sync": (
        "fleet",
        "Write the fleet's live version of every certificate into this origin's live/ files.",
    ),
}


class LazyGroup(click.Group):
    """The `acmecf` group: a command's module is imported only when that command runs (so
    `acmecf renew` loads only what renew needs), and `--help` lists them from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            import importlib

            importlib.import_module(f"acmecf.cli.{COMMANDS[name][0]}")
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = sorted(COMMANDS)
        limit = formatter.width - 6 - max(len(name) for name in names)  # as click computes it
        rows = [(name, _shorten(COMMANDS[name][1], limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word to fit `limit` characters with "...", as click shortens help."""
    if len(text) <= limit:
        return text
    words, line = text.split(), ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if len(candidate) + 3 > limit:
            break
        line = candidate
    return f"{line}..."


@click.group(
    cls=LazyGroup,
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


def run_command(
    command: Callable[[T], None],
    kwargs: Mapping[str, Any],
    build: Callable[[Common, Mapping[str, Any]], T],
    *,
    logged: bool = False,
) -> None:
    """The error boundary: build the command's typed options, run it, and turn every failure
    into one line and an exit code. A `logged` command changes something every time it runs,
    so its run log starts as soon as its options are checked (`renew` starts its own only when
    something is due: cli.logs)."""
    debug = bool(kwargs.get("debug"))
    setup_logging(
        debug=debug,
        verbose=bool(kwargs.get("verbose")),
        quiet=bool(kwargs.get("quiet")),
        log_file=kwargs.get("log_file"),
        log_format=kwargs.get("log_format"),
    )
    try:
        common = common_from(kwargs)
        options = build(common, kwargs)
        if logged:
            from acmecf.cli.logs import start_run_log

            start_run_log(common.store())
        command(options)
    except AcmecfError as err:
        if interrupts.interrupted():
            fail(interrupted_message(), 130, debug)
        fail(str(err), err.exit_code, debug)
    except KeyboardInterrupt:
        fail(interrupted_message(), 130, debug)
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except Exception as err:  # a bug, or a failure we did not foresee
        output = output_failure(err)
        if output is not None:
            fail(output, 1, debug)
        if interrupts.interrupted():
            # A library wrapped the interruption in an error of its own (pydantic does, while
            # the Cloudflare SDK builds its validators): it is still the interruption.
            fail(interrupted_message(), 130, debug)
        fail(
            f"unexpected error: {type(err).__name__}: {err} (run again with --debug and report it)",
            1,
            debug,
        )


def output_failure(err: BaseException) -> str | None:
    """The line for a failure to write acmecf's own output (standard output on a full disk, a
    pipe whose reader went away), or None when `err` came from anywhere else. Told by where it
    was raised: in click.echo, through which every line acmecf prints goes."""
    if not isinstance(err, OSError):
        return None
    frame = err.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code is click.utils.echo.__code__:
            reason = err.strerror or type(err).__name__
            return f"could not write the output: {reason} (what the command did is in its run log)"
        frame = frame.tb_next
    return None


_published: list[str] = []


def note_published(names: list[str]) -> None:
    """Remember which certificates went live in this run, so an interruption says so."""
    _published[:] = names


def interrupted_message() -> str:
    if _published:
        return (
            f"interrupted, after {', '.join(_published)} went live; the others are unchanged, "
            "and this run's challenge records were removed"
        )
    return "interrupted; the live certificate is unchanged"


def one_line(text: str) -> str:
    """`text` on one line: line breaks and other control characters become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def fail(message: str, code: int, debug: bool) -> NoReturn:
    from acmecf.redaction import redact

    trace = traceback.format_exc()
    if debug:
        click.echo(redact(trace), err=True)
    line = f"acmecf: error: {one_line(redact(message))}"
    if sys.exc_info()[0] is not None:
        logging.getLogger("acmecf.run").debug("the error's traceback:\n%s", trace)
    logging.getLogger(OUTPUT_LOGGER).error("%s (exit status %d)", line, code)
    click.echo(line, err=True)
    sys.exit(code)


def say(text: str, *, err: bool = False) -> None:
    """Print one line (redacted): results to stdout, problems to stderr. The run log gets it
    too."""
    from acmecf.redaction import redact

    line = redact(text)
    logging.getLogger(OUTPUT_LOGGER).info("%s", line)
    click.echo(line, err=err)


class _Formatter(logging.Formatter):
    """Names the certificate in parallel runs; marks warnings."""

    def __init__(self, fmt: str, *, plain: bool) -> None:
        super().__init__(fmt)
        self.plain = plain

    def format(self, record: logging.LogRecord) -> str:
        from acmecf.lifecycle.context import current_certificate

        text = super().format(record)
        if self.plain and record.levelno >= logging.WARNING:
            text = f"warning: {text}"
        certificate = current_certificate.get()
        if certificate is not None:
            text = f"{certificate}: {text}"
        return text


def setup_logging(
    *,
    debug: bool,
    verbose: bool,
    quiet: bool,
    log_file: str | None = None,
    log_format: str | None = None,
) -> None:
    """Log to stderr through the redacting filter: every logger's records (the SDK's, httpx's
    and the acme library's too) have credentials, key blocks and credential headers masked.
    The run log (cli.logs) gets every record at debug level, whatever the console shows."""
    from acmecf.cli.logs import RUN_LOGGER, Threshold, install
    from acmecf.redaction import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    level = logging.DEBUG if (debug or verbose) else logging.WARNING if quiet else logging.INFO
    handler.addFilter(
        Threshold(
            level, logging.DEBUG if debug else logging.WARNING, excluded=(OUTPUT_LOGGER, RUN_LOGGER)
        )
    )
    if debug:
        handler.setFormatter(
            _Formatter("%(asctime)s %(name)s %(levelname)s %(message)s", plain=False)
        )
    else:
        handler.setFormatter(_Formatter("%(message)s", plain=True))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    logging.getLogger("acmecf").setLevel(logging.NOTSET)
    install(log_file=log_file, log_format=log_format)


def main() -> None:
    """The console entry point: click's own errors (an unknown option, a bad value, a prompt
    answered with Ctrl-D) are one line too, with where to find help."""
    interrupts.install()
    try:
        result = cli.main(prog_name="acmecf", standalone_mode=False)
    except SystemExit as done:  # the error boundary has printed its line
        _exit(done.code if isinstance(done.code, int) else 1)
    except KeyboardInterrupt:
        click.echo(f"acmecf: error: {interrupted_message()}", err=True)
        _exit(130)
    except click.exceptions.Abort:
        if interrupts.interrupted():  # click turns a KeyboardInterrupt into Abort
            click.echo(f"acmecf: error: {interrupted_message()}", err=True)
            _exit(130)
        click.echo("acmecf: error: aborted; nothing was changed", err=True)
        _exit(1)
    except click.ClickException as err:
        context = getattr(err, "ctx", None)
        where = f" (see `{context.command_path} --help`)" if context is not None else ""
        message = one_line(err.format_message())
        click.echo(f"acmecf: error: {message[:1].lower()}{message[1:]}{where}", err=True)
        _exit(err.exit_code)
    except Exception as err:  # before a command runs: --help or --version to a full disk
        if "--debug" in sys.argv:
            traceback.print_exc()
        line = output_failure(err) or (
            f"unexpected error: {type(err).__name__}: {err} (run again with --debug and report it)"
        )
        with contextlib.suppress(OSError):
            click.echo(f"acmecf: error: {one_line(line)}", err=True)
        _exit(1)
    _exit(result if isinstance(result, int) else 0)


def _exit(code: int) -> NoReturn:
    """Exit with `code`; a signal from here on still ends in one line and status 130, never a
    traceback or a death by signal (interrupts.finish)."""
    interrupts.finish(code)
