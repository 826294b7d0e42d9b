"""The journal comes first: every record is durable in it before it can exist, and leaves it
only once it was removed, whether records go one at a time or several at once."""

from __future__ import annotations

from typing import Any

import pytest

from acmecf.dns.journaled import JournaledProvider
from acmecf.errors import CloudflareError
from acmecf.storage.model import JournalEntry

from .fakes import FakeDns, FakeManyDns

NAME = "_acme-challenge.example.com"


class FakeJournal:
    """A RunJournal that logs, in one list with the provider's own calls, what it was told."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log

    def record(self, entry: JournalEntry) -> None:
        self.log.append(("journal", entry.value))

    def forget(self, entry: JournalEntry) -> None:
        self.log.append(("forget", entry.value))

    def close(self) -> None:
        pass


def logged(dns: Any, log: list[tuple[str, str]]) -> Any:
    """`dns`, its creations and removals also written to `log`."""
    present, cleanup = dns.present, dns.cleanup

    def logged_present(name: str, value: str) -> None:
        log.append(("create", value))
        present(name, value)

    def logged_cleanup(name: str, value: str) -> None:
        log.append(("delete", value))
        cleanup(name, value)

    dns.present, dns.cleanup = logged_present, logged_cleanup
    return dns


@pytest.mark.parametrize("dns_type", [FakeDns, FakeManyDns])
def test_every_record_is_journaled_before_it_is_created_and_forgotten_once_removed(
    dns_type: type[FakeDns],
) -> None:
    log: list[tuple[str, str]] = []
    provider = JournaledProvider(logged(dns_type(), log), FakeJournal(log), None)
    assert provider.present_many([(NAME, "a"), (NAME, "b")]) == [None, None]
    assert provider.cleanup_many([(NAME, "a"), (NAME, "b")]) == [None, None]
    assert log == [
        ("journal", "a"), ("journal", "b"), ("create", "a"), ("create", "b"),
        ("delete", "a"), ("delete", "b"), ("forget", "a"), ("forget", "b"),
    ]  # fmt: skip


def test_a_record_that_could_not_be_removed_stays_in_the_journal() -> None:
    log: list[tuple[str, str]] = []
    dns = FakeManyDns()
    provider = JournaledProvider(logged(dns, log), FakeJournal(log), None)
    provider.present_many([(NAME, "a"), (NAME, "b")])
    dns.fail_cleanups = 1
    outcomes = provider.cleanup_many([(NAME, "a"), (NAME, "b")])
    assert isinstance(outcomes[0], CloudflareError) and outcomes[1] is None
    assert [entry for entry in log if entry[0] == "forget"] == [("forget", "b")]


def test_one_record_at_a_time_still_journals_first() -> None:
    log: list[tuple[str, str]] = []
    provider = JournaledProvider(logged(FakeDns(), log), FakeJournal(log), None)
    provider.present(NAME, "a")
    provider.cleanup(NAME, "a")
    assert log == [("journal", "a"), ("create", "a"), ("delete", "a"), ("forget", "a")]
