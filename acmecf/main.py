"""The console entry point: signals are handled before anything heavy is imported, so even a
SIGTERM during start-up ends with exit status 130 and one line, never a traceback."""

from __future__ import annotations


def main() -> None:
    from acmecf import interrupts

    interrupts.install()
    try:
        from acmecf.cli import main as run
    except KeyboardInterrupt:
        interrupts.exit_now("interrupted; the live certificate is unchanged")
    run()
