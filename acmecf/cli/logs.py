"""Logging of a command: lines on stderr as the user asked for them, and a log file of every
run that did something, with the debug detail the console left out.

The console handler keeps acmecf's lines as they always were (plain messages; under systemd,
journald adds time and unit). The run log handler keeps every record from the start, in
memory, and writes nothing until the run starts doing something (`start_run_log`: `renew`
calls it only once something is due, so a no-op renewal writes no file); it then writes what
it kept and everything after it to the run's file (storage.run_logs), or to `--log-file`, as
text or JSON lines (`--log-format json`, for log shippers). Both handlers redact every line
(acmecf.redaction), and the file's text is redacted again as it is written, so a secret
registered late is masked in earlier lines too. What the command prints (results, the error
line) is in the file as well.

Does not: decide which commands do something (they call start_run_log), or print results.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any

from acmecf.redaction import RedactingFilter, redact

OUTPUT_LOGGER = "acmecf.output"  # what the command printed: for the run log, not the console
RUN_LOGGER = "acmecf.run"  # about the run itself (command, pid, traceback): the run log only
FORMATS = ("text", "json")
_PENDING_LIMIT = 20000  # records kept before the run starts doing something
# In the run log, beside acmecf's own debug lines: the acme library's (requests and answers
# of the CA, keys masked) and the other libraries' from INFO.
_FILE_LIBRARY_LEVELS = {"acme": logging.DEBUG}


class Threshold(logging.Filter):
    """Lets through acmecf's records from `own`, other libraries' from `others` (a level per
    library in `libraries`), and never those of `excluded` loggers."""

    def __init__(
        self,
        own: int,
        others: int,
        *,
        libraries: dict[str, int] | None = None,
        excluded: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.own = own
        self.others = others
        self.libraries = libraries or {}
        self.excluded = excluded

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if any(name == e or name.startswith(e + ".") for e in self.excluded):
            return False
        if name == "acmecf" or name.startswith("acmecf."):
            return record.levelno >= self.own
        top = name.split(".", 1)[0]
        return record.levelno >= self.libraries.get(top, self.others)


class _Context(logging.Filter):
    """Notes on each record which certificate its worker was busy with (formatted later)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from acmecf.lifecycle.context import current_certificate

        record.acmecf_certificate = current_certificate.get()
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = _timestamp(record)
        certificate = getattr(record, "acmecf_certificate", None)
        where = f" [{certificate}]" if certificate else ""
        text = f"{moment} {record.levelname} {record.name}{where}: {record.getMessage()}"
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "certificate": getattr(record, "acmecf_certificate", None),
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunLogHandler(logging.Handler):
    """The run's log file: records are kept until `start`, then written one line each."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RedactingFilter())
        self.addFilter(Threshold(logging.DEBUG, logging.INFO, libraries=dict(_FILE_LIBRARY_LEVELS)))
        self.addFilter(_Context())
        self.path: Path | None = None
        self._stream: IO[str] | None = None
        self._pending: list[logging.LogRecord] = []
        self.setFormatter(TextFormatter())

    @property
    def started(self) -> bool:
        return self._stream is not None

    def emit(self, record: logging.LogRecord) -> None:
        if self._stream is None:
            if len(self._pending) < _PENDING_LIMIT:
                self._pending.append(record)
            return
        self._write(record)

    def start(self, stream: IO[str], path: Path | None, log_format: str) -> None:
        """Write every record kept so far, and from now on each as it comes, to `stream`."""
        self.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
        self.path = path
        self._stream = stream
        pending, self._pending = self._pending, []
        for record in pending:
            self._write(record)

    def _write(self, record: logging.LogRecord) -> None:
        assert self._stream is not None
        try:
            self._stream.write(redact(self.format(record)) + "\n")
            self._stream.flush()
            return
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        # A full disk must not fail the run, nor fill the console with tracebacks: say it
        # once, and write no more.
        self._stream = _Discard()
        logging.getLogger("acmecf").warning(
            "the run log %s cannot be written (%s): the rest of this run is not in it",
            self.path or "file",
            reason,
        )

    def close(self) -> None:
        if self._stream is not None and self._stream not in (sys.stderr, sys.stdout):
            with contextlib.suppress(OSError):
                self._stream.close()
        self._stream = None
        super().close()


class _Discard(io.StringIO):
    """Where a run log goes that cannot be written: nowhere."""

    def write(self, text: str) -> int:
        return len(text)


_handler: RunLogHandler | None = None
_settings: dict[str, Any] = {}


def install(*, log_file: str | None, log_format: str | None) -> RunLogHandler:
    """Install a fresh run log handler on the root logger (replacing an earlier one)."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    _handler = RunLogHandler()
    root.addHandler(_handler)
    _settings.clear()
    _settings.update(log_file=log_file, log_format=log_format)
    return _handler


def start_run_log(store: Any) -> Path | None:
    """The run does something: from now on its log goes to its file (see the module doc).
    Returns the file's path (None when it goes to a stream or nothing). Idempotent; a log
    that cannot be written is a warning, never a failure of the run."""
    handler = _handler
    if handler is None or handler.started:
        return handler.path if handler is not None else None
    from acmecf import __version__
    from acmecf.errors import AcmecfError, UsageError

    try:
        keep, file_format = _run_section(store)
        log_format = _settings.get("log_format") or file_format or "text"
        stream, path = _open(store, _settings.get("log_file"), keep)
    except UsageError:
        raise
    except (AcmecfError, OSError) as err:
        logging.getLogger("acmecf").warning("this run is not logged to a file: %s", err)
        handler.start(_Discard(), None, "text")
        return None
    handler.start(stream, path, log_format)
    import click

    context = click.get_current_context(silent=True)
    command = context.command_path if context is not None else "acmecf"
    logging.getLogger(RUN_LOGGER).info(
        "%s (acmecf %s, pid %d, uid %d, config %s)",
        command,
        __version__,
        os.getpid(),
        os.geteuid(),
        store.config_dir,
    )
    return path


def _run_section(store: Any) -> tuple[int, str | None]:
    """[run] keep_logs and log_format of the global file."""
    from acmecf.settings import config_file
    from acmecf.settings.run import run_defaults

    defaults = run_defaults(config_file.load(store))
    return defaults.keep_logs, defaults.log_format


def _open(store: Any, log_file: str | None, keep: int) -> tuple[IO[str], Path | None]:
    if log_file:
        path = Path(log_file)
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        return os.fdopen(fd, "a", encoding="utf-8", errors="replace"), path
    from acmecf.storage.run_logs import open_run_log

    fd, path = open_run_log(store, keep=keep)
    return os.fdopen(fd, "a", encoding="utf-8", errors="replace"), path


def run_log_path() -> Path | None:
    """The file this run logs to, once it has started (None before, or without one)."""
    return _handler.path if _handler is not None else None
