"""The console entry point: signals are handled before anything heavy is imported, so even a
SIGTERM during start-up ends with exit status 130 and one line, never a traceback."""

from __future__ import annotations


def main() -> None:
    from acmecf import interrupts

    interrupts.install()
    try:
        from acmecf.cli import main as run

        run()
    except KeyboardInterrupt:
        # The first signal unwinds with KeyboardInterrupt wherever it lands (the CLI's own
        # boundary catches it once a command runs); here it is caught wherever that is not.
        interrupts.exit_now("interrupted; the live certificate is unchanged")
