"""The CLI's error boundary: one line, the right exit code, interruptions recognised."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from acmecf import interrupts
from acmecf.cli.base import run_command
from acmecf.errors import CredentialsError


def _exit_code(command: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        run_command(
            command,
            {"debug": False, "verbose": False, "quiet": False, "config_dir": "/tmp/x"},
            lambda common, kwargs: common,
        )
    return int(caught.value.code or 0), capsys.readouterr().err


def test_an_expected_error_is_one_line_with_its_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def command(options: dict[str, Any]) -> None:
        raise CredentialsError("no Cloudflare credentials: set CLOUDFLARE_API_TOKEN")

    code, err = _exit_code(command, capsys)
    assert code == 2
    assert err == "acmecf: error: no Cloudflare credentials: set CLOUDFLARE_API_TOKEN\n"


def test_an_unexpected_error_says_so_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def command(options: dict[str, Any]) -> None:
        raise ValueError("boom")

    code, err = _exit_code(command, capsys)
    assert code == 1
    assert err.startswith("acmecf: error: unexpected error: ValueError: boom")
    assert "Traceback" not in err


def test_ctrl_c_wrapped_by_a_library_is_still_an_interruption(
    capsys: pytest.CaptureFixture[str],
) -> None:
    previous = signal.getsignal(signal.SIGINT)
    interrupts.install()

    # pydantic turns a KeyboardInterrupt raised while it builds a validator into its own error.
    def command(options: dict[str, Any]) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here at the latest
        except KeyboardInterrupt as err:
            raise RuntimeError("Error building validator: KeyboardInterrupt") from err

    try:
        code, err = _exit_code(command, capsys)
    finally:
        signal.signal(signal.SIGINT, previous)
        interrupts.reset_for_tests()
    assert code == 130
    assert err == "acmecf: error: interrupted; the live certificate is unchanged\n"


def test_an_error_message_with_line_breaks_is_printed_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def command(options: Any) -> None:
        raise CredentialsError("first line\nsecond line\tand a tab")

    _, err = _exit_code(command, capsys)
    assert err == "acmecf: error: first line second line and a tab\n"


def test_an_empty_config_dir_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_command(lambda o: None, {"config_dir": ""}, lambda common, kwargs: common)
    assert caught.value.code == 2
    assert "invalid --config-dir ''" in capsys.readouterr().err
