"""The CLI's error boundary: one line, the right exit code, interruptions recognised."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from acmecf.cli.base import run_command
from acmecf.errors import CredentialsError


def _exit_code(command: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        run_command(command, {"debug": False, "verbose": False, "quiet": False})
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
    # pydantic turns a KeyboardInterrupt raised while it builds a validator into its own error.
    def command(options: dict[str, Any]) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here at the latest
        except KeyboardInterrupt as err:
            raise RuntimeError("Error building validator: KeyboardInterrupt") from err

    code, err = _exit_code(command, capsys)
    assert code == 130
    assert err == "acmecf: error: interrupted; the live certificate is unchanged\n"
