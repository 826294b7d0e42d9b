"""The benchmark's figures: one row per measured (or unmeasurable) thing, its target and verdict.

A row holds the samples of one tool in one measurement; its figure is their median. Rows of
acmecf get PASS or FAIL against the issue's target; the peers' rows get the same ratio to the
same target, for comparison, but no verdict (the targets are acmecf's).

Does not: run anything.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MB = 1_000_000


@dataclass
class Row:
    number: str
    measure: str
    tool: str
    unit: str  # "s", "MB" or "calls/cert"
    values: list[float] = field(default_factory=list)
    target: float | None = None
    strict: bool = False  # "under" (<) rather than "within" / "at most" (<=)
    ours: bool = True
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    not_run: str = ""  # why this was not measured at all

    @property
    def value(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.target:
            return None
        return self.value / self.target

    @property
    def verdict(self) -> str:
        if self.not_run:
            return "NOT RUN"
        if self.value is None:
            return "FAILED"
        if not self.ours or self.target is None:
            return ""
        if self.failures:
            return "FAIL"  # a failed run never passes, whatever the others did
        met = self.value < self.target if self.strict else self.value <= self.target
        return "PASS" if met else "FAIL"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(median=self.value, ratio=self.ratio, verdict=self.verdict)
        return data


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        if value < 1:
            return f"{value:.3f} s"
        return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
    if unit == "MB":
        return f"{value / MB:.0f} MB"
    return f"{value:.3f} {unit}" if value < 1 else f"{value:.1f} {unit}"


def table(rows: list[Row]) -> str:
    """The rows as an aligned text table, each row's notes and failures as footnotes."""
    header = ("#", "measurement", "tool", "median", "n", "target", "ratio", "result")
    lines: list[tuple[str, ...]] = [header]
    footnotes: dict[str, int] = {}  # text -> number: a repeated note gets one number
    for row in rows:
        marks = ""
        texts = [*row.notes, *(f"failed run: {f}" for f in row.failures)]
        if row.not_run:
            texts.append(f"not run: {row.not_run}")
        for note in texts:
            number = footnotes.setdefault(note, len(footnotes) + 1)
            marks += f"[{number}]"
        target = "-"
        if row.target is not None:
            target = ("< " if row.strict else "<= ") + format_value(row.target, row.unit)
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        lines.append(
            (
                row.number,
                row.measure,
                row.tool + (" " + marks if marks else ""),
                format_value(row.value, row.unit),
                str(len(row.values)),
                target,
                ratio,
                row.verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {3, 4, 5, 6}
    text = []
    for index, line in enumerate(lines):
        cells = [
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        text.append("  ".join(cells).rstrip())
        if index == 0:
            text.append("  ".join("-" * width for width in widths))
    return "\n".join([*text, "", *(f"[{n}] {note}" for note, n in footnotes.items())])


def write_json(path: Path, rows: list[Row], context: dict[str, Any]) -> None:
    data = {**context, "rows": [row.as_json() for row in rows]}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def publish(
    headline: str, rows: list[Row], notes: list[str], path: Path, context: dict[str, Any]
) -> None:
    """Print the headline, the table and how it was measured; write the rows and `context`
    to `path` as JSON."""
    print()
    print(headline)
    print()
    print(table(rows))
    print()
    print("How it was measured:")
    for note in notes:
        print(f"- {note}")
    write_json(path, rows, context)
