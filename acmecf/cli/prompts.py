"""Asking the user: a yes/no question that a script (no terminal), a "no" and Ctrl-D all answer
safely. Does not: decide what happens after."""

from __future__ import annotations

import sys

import click

from acmecf.errors import NotConfirmed, UsageError


def confirm(question: str, *, refuse: str) -> None:
    """Return when the user answers yes. Without a terminal, raise UsageError(`refuse`); on no
    or Ctrl-D, raise NotConfirmed."""
    if not sys.stdin.isatty():
        raise UsageError(refuse)
    if not ask(question):
        raise NotConfirmed("not confirmed: nothing was changed")


def ask(question: str, *, default: bool = False) -> bool:
    """The answer to a yes/no question on the terminal; no (or `default`) on Ctrl-D."""
    try:
        return bool(click.confirm(question, default=default))
    except (click.exceptions.Abort, EOFError):
        click.echo("", err=True)
        return False
