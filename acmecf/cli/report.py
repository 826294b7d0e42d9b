"""What `issue` and `renew` print: one line per certificate as it finishes, a status line on
a terminal, and the last line that sums a run up; with `--json`, one versioned JSON document
instead of the lines on stdout (its schema: acmecf/data/run-result.schema.json).

Does not: decide anything (the lifecycle does) or exit (the error boundary does).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
        say(
            f"deployed {outcome.cert_name}: version {outcome.version} was live without its "
            "deploy hooks having run here"
        )
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


def summary_line(
    outcomes: list[Outcome],
    *,
    errors: Sequence[str] = (),
    hook_failures: Sequence[str] = (),
    records_left: Sequence[str] = (),
    what: str = "renewals",
) -> str | None:
    """The last line of a run that had problems, or None: which certificates failed (their
    live files unchanged), which went live but with a hook or state problem, which run-wide
    hooks failed, and how many challenge records are left for the next run."""
    failed = [o.cert_name for o in outcomes if o.error is not None] + list(errors)
    troubled = [o.cert_name for o in outcomes if o.error is None and (o.hook_errors or o.warnings)]
    parts = []
    if failed:
        total = len(outcomes) + len(errors)
        parts.append(f"{len(failed)} of {total} {what} failed: {', '.join(failed)} (see above)")
    if troubled:
        parts.append(f"{', '.join(troubled)} went live, but with problems (see above)")
    parts.extend(f"{hook} failed (see above)" for hook in hook_failures)
    if records_left:
        parts.append(records_left_text(list(records_left)))
    return "; ".join(parts) or None


# --- --json: one document per run -------------------------------------------------------------

RESULT_VERSION = 1


def outcome_record(outcome: Outcome, *, dry_run: bool, verb: str) -> dict[str, Any]:
    """One certificate of a run, as `--json` prints it (acmecf/data/run-result.schema.json)."""
    from acmecf.redaction import redact

    if outcome.skipped is not None:
        kind = "skipped"
    elif outcome.version is not None:
        kind = verb if outcome.issued is not None else "deployed"
    elif outcome.issued is not None and dry_run:
        kind = "dry_run"
    else:
        kind = "failed"
    not_after = outcome.issued.chain.not_after if outcome.issued is not None else None
    return {
        "name": outcome.cert_name,
        "outcome": kind,
        "domains": list(outcome.names) or None,
        "not_after": _time(not_after),
        "version": outcome.version,
        "files": dict(outcome.files) or None,
        "error": redact(str(outcome.error)) if outcome.error is not None else None,
        "hook_errors": [redact(str(error)) for error in outcome.hook_errors],
        "warnings": [redact(warning) for warning in outcome.warnings],
        "reason": outcome.skipped,
    }


def other_record(
    name: str, kind: str, *, reason: str | None = None, error: str | None = None
) -> dict[str, Any]:
    """A certificate the run did not obtain: not due (with the reason), or failed before any
    order (a broken file)."""
    from acmecf.redaction import redact

    return {
        "name": name,
        "outcome": kind,
        "domains": None,
        "not_after": None,
        "version": None,
        "files": None,
        "error": redact(error) if error is not None else None,
        "hook_errors": [],
        "warnings": [],
        "reason": reason,
    }


def print_document(
    command: str,
    certificates: list[dict[str, Any]],
    *,
    dry_run: bool,
    ok: bool,
    hook_errors: Sequence[str] = (),
    records_left: Sequence[str] = (),
    origin_pull_clients: Sequence[dict[str, Any]] = (),
) -> None:
    """Print the run's one JSON document to stdout (the only thing `--json` prints there)."""
    import json

    from acmecf.redaction import redact

    document = {
        "version": RESULT_VERSION,
        "command": command,
        "dry_run": dry_run,
        "ok": ok,
        "certificates": sorted(certificates, key=lambda record: str(record["name"])),
        "hook_errors": [redact(error) for error in hook_errors],
        "records_left": list(records_left),
        "origin_pull_clients": list(origin_pull_clients),
    }
    click.echo(json.dumps(document, indent=2))


def _time(moment: datetime.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
