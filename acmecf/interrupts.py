"""Ctrl-C and SIGTERM, handled the way a run at 3 am needs them.

`install` is called first thing by the command-line entry point, before any heavy import. The
first signal sets the interruption, calls every registered callback (a run cancels its waits)
and, unless a cleanup-protected section is running, unwinds the main thread with
KeyboardInterrupt. Inside `protected()` (a run with challenge records to remove), the first
signal does not unwind: the workers see the cancellation, remove their records (bounded) and
end; one line says so. A second signal ends the process at once with exit status 130 and one
line: what is left is in the journal, and the next run removes it.

Does not: know what a run is doing; print anything but those lines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

EXIT_STATUS = 130
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_lock = threading.Lock()
_interrupted = threading.Event()
_signals = 0
_protected = 0
_callbacks: list[Callable[[], None]] = []


def install() -> None:
    """Handle SIGINT and SIGTERM from now on (main thread only)."""
    for number in SIGNALS:
        signal.signal(number, _handle)


def interrupted() -> bool:
    """Whether a signal arrived."""
    return _interrupted.is_set()


def on_interrupt(callback: Callable[[], None]) -> None:
    """Call `callback` (from the signal handler) when the first signal arrives; at once if one
    already did."""
    with _lock:
        _callbacks.append(callback)
    if _interrupted.is_set():
        callback()


@contextlib.contextmanager
def protected() -> Iterator[None]:
    """While the block runs, the first signal cancels instead of unwinding (see module doc)."""
    global _protected
    with _lock:
        _protected += 1
    try:
        yield
    finally:
        with _lock:
            _protected -= 1


def exit_now(message: str) -> None:
    """Write `message` as one line to stderr and end the process with status 130."""
    with contextlib.suppress(OSError):
        os.write(2, f"acmecf: error: {message}\n".encode())
    os._exit(EXIT_STATUS)


def _handle(number: int, frame: object) -> None:
    global _signals
    _signals += 1
    if _signals >= 2:
        exit_now(
            "interrupted again: stopped at once; challenge records this run could not remove "
            "yet are in the journal, and the next acmecf run removes them"
        )
    _interrupted.set()
    with _lock:
        callbacks = list(_callbacks)
        protecting = _protected > 0
    for callback in callbacks:
        with contextlib.suppress(Exception):
            callback()
    if protecting:
        with contextlib.suppress(OSError):
            os.write(
                2,
                b"acmecf: interrupted: removing this run's challenge records first "
                b"(interrupt again to stop at once)\n",
            )
        return
    raise KeyboardInterrupt


def quiet_from_now_on() -> None:
    """From now on (the process is exiting), a signal ends it at once with one line."""
    for number in SIGNALS:
        signal.signal(number, lambda *_: exit_now("interrupted while exiting"))


def reset_for_tests() -> None:
    """Forget earlier signals and callbacks (tests only)."""
    global _signals, _protected
    _interrupted.clear()
    with _lock:
        _signals = 0
        _protected = 0
        _callbacks.clear()
