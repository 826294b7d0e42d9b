"""The run log: nothing is written until the run does something; then everything, redacted."""

from __future__ import annotations

import io
import logging

from acmecf.cli.logs import RunLogHandler
from acmecf.redaction import forget_secrets, remember_secret


def test_records_wait_for_the_start_and_are_redacted_even_if_the_secret_came_late() -> None:
    handler = RunLogHandler()
    logger = logging.getLogger("acmecf.test_run_log")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("token is %s", "tok-0123456789abcdef")
        stream = io.StringIO()
        remember_secret("tok-0123456789abcdef")
        handler.start(stream, None, "text")
        logger.info("afterwards")
    finally:
        logger.removeHandler(handler)
        forget_secrets()
    text = stream.getvalue()
    assert "DEBUG acmecf.test_run_log: token is ***" in text
    assert "tok-0123456789abcdef" not in text
    assert text.splitlines()[-1].endswith("INFO acmecf.test_run_log: afterwards")


def test_a_handler_never_started_writes_nothing() -> None:
    handler = RunLogHandler()
    handler.handle(logging.LogRecord("acmecf", logging.INFO, __file__, 1, "x", None, None))
    assert not handler.started and handler.path is None


class _FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_a_log_that_cannot_be_written_stops_quietly(capsys: object) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [logging.StreamHandler()]  # the console, as setup_logging has it
    try:
        handler = RunLogHandler()
        handler.start(_FullDisk(), None, "text")
        record = logging.LogRecord("acmecf.x", logging.INFO, __file__, 1, "first", None, None)
        handler.handle(record)
        handler.handle(record)  # no second attempt, and no traceback either time
    finally:
        root.handlers[:] = saved
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "Traceback" not in err
    assert err.count("cannot be written (No space left on device)") == 1
