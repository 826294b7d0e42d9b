"""What `issue` and `renew` print: one line per certificate as it finishes, a status line on
a terminal, and the last line that sums a run up.

Does not: decide anything (the lifecycle does) or exit (the error boundary does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from acmecf.cli.base import say

if TYPE_CHECKING:
    from acmecf.lifecycle.obtain import Outcome


def print_outcome(outcome: Outcome, *, dry_run: bool, quiet: bool, verb: str = "renewed") -> None:
    """One line per certificate: renewed/issued (stdout) or failed, with the reason (stderr)."""
    if outcome.skipped is not None:
        if not quiet:
            say(f"skipped {outcome.cert_name}: {outcome.skipped}")
        return
    if outcome.issued is not None and not quiet:
        shown = f"would be {verb} (dry run)" if dry_run else verb
        say(
            f"{shown} {outcome.cert_name}: valid until "
            f"{outcome.issued.chain.not_after:%Y-%m-%d %H:%M} UTC"
        )
    elif outcome.issued is None and outcome.version is not None and not quiet:
        say(f"deployed {outcome.cert_name}: version {outcome.version} went live in a run that died")
    if outcome.error is not None:
        say(f"failed {outcome.cert_name}: {outcome.error}", err=True)
    for warning in outcome.warnings:
        say(f"warning: {outcome.cert_name}: {warning}", err=True)
    for hook_error in outcome.hook_errors:
        prefix = "it is live, but " if outcome.version or outcome.issued else ""
        say(f"failed {outcome.cert_name}: {prefix}{hook_error}", err=True)


class Progress:
    """A status line on a terminal (rewritten in place); nothing when output goes to a log."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled and text:
            click.echo(f"\r{text}\x1b[K", err=True, nl=False)
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            click.echo("\r\x1b[K", err=True, nl=False)
            self.shown = False


def records_left_text(records: list[str]) -> str:
    count = len(records)
    return (
        f"{count} challenge record{'s' * (count != 1)} could not be removed ({records[0]}"
        f"{' ...' if count > 1 else ''}): they are in the journal, and the next acmecf run "
        "removes them"
    )


def failure_line(
    failures: int, total: int, names: list[str], records_left: list[str], what: str
) -> str:
    parts = []
    if failures:
        parts.append(f"{failures} of {total} {what} failed: {', '.join(names)} (see above)")
    if records_left:
        parts.append(records_left_text(records_left))
    return "; ".join(parts)
