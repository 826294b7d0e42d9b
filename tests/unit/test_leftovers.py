"""Removing the records dead runs left: one zone's records go together, failures stay in the
journal, and a record whose zone is unknown goes the old way."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acmecf.dns.provider import Change, Zone
from acmecf.errors import AcmecfError, CloudflareError
from acmecf.lifecycle.leftovers import remove_leftovers
from acmecf.lifecycle.services import RunOptions, Services
from acmecf.storage.files import FileStore
from acmecf.storage.model import JournalEntry


def entry(name: str, zone: str | None = "zone-1") -> JournalEntry:
    return JournalEntry(zone, "example.com" if zone else None, name, f"value-{name}", None)


ENTRIES = [entry(f"_acme-challenge.n{i}.example.com") for i in range(4)]
UNZONED = entry("_acme-challenge.loose.example.com", zone=None)


class FakeProvider:
    def __init__(self, refuse: set[str]) -> None:
        self.applied: list[tuple[Zone, list[Change]]] = []
        self.cleaned: list[str] = []
        self.refuse = refuse

    def apply(self, zone: Zone, changes: Sequence[Change]) -> list[AcmecfError | None]:
        self.applied.append((zone, list(changes)))
        return [
            CloudflareError("the API is down", status=503) if c.name in self.refuse else None
            for c in changes
        ]

    def cleanup(self, name: str, value: str) -> None:
        self.cleaned.append(name)


class FakeServices(Services):
    def __init__(self, store: FileStore, provider: FakeProvider) -> None:
        super().__init__(store, {}, RunOptions())
        self.provider = provider

    def cloudflare_dns(self, credentials_file: str | None, *args: Any, **kwargs: Any) -> Any:
        return self.provider


def _die_with(config: str) -> None:
    run = FileStore(Path(config)).journal.open_run()
    for item in [*ENTRIES, UNZONED]:
        run.record(item)
    os._exit(9)  # as SIGKILL would


def dead_run(tmp_path: Path) -> FileStore:
    process = multiprocessing.get_context("fork").Process(target=_die_with, args=(str(tmp_path),))
    process.start()
    process.join()
    return FileStore(tmp_path)


def test_the_records_of_one_zone_are_removed_in_one_apply(tmp_path: Path) -> None:
    store = dead_run(tmp_path)
    provider = FakeProvider(refuse=set())
    services = FakeServices(store, provider)
    assert remove_leftovers(services) == 5
    assert len(provider.applied) == 1
    zone, changes = provider.applied[0]
    assert zone == Zone("zone-1", "example.com")
    assert [(c.action, c.name) for c in changes] == [("cleanup", e.name) for e in ENTRIES]
    assert provider.cleaned == [UNZONED.name]
    assert store.journal.empty()


def test_a_record_that_could_not_be_removed_stays_for_the_next_run(tmp_path: Path) -> None:
    store = dead_run(tmp_path)
    provider = FakeProvider(refuse={ENTRIES[2].name})
    services = FakeServices(store, provider)
    assert remove_leftovers(services) == 4
    assert services.cleanup_report.left == [ENTRIES[2].name]
    assert [leftovers.entries for leftovers in store.journal.leftovers()] == [[ENTRIES[2]]]
