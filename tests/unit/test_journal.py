"""The challenge-record journal: durable entries, leftovers only of runs that are gone."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from acmecf.storage.file_journal import FileRunJournal
from acmecf.storage.files import FileStore
from acmecf.storage.model import JournalEntry

ENTRY = JournalEntry("zone-1", "example.com", "_acme-challenge.example.com", "value-1", None)
OTHER = JournalEntry("zone-1", "example.com", "_acme-challenge.example.com", "value-2", "/c.ini")


def test_an_empty_journal_is_cheap_to_see(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    assert store.journal.empty()
    run = store.journal.open_run()
    run.record(ENTRY)
    assert not store.journal.empty()
    run.forget(ENTRY)
    run.close()
    assert store.journal.empty(), "a run that removed everything leaves no file"


def test_a_live_run_s_records_are_never_handed_out(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    run = store.journal.open_run()
    run.record(ENTRY)
    assert [leftovers.entries for leftovers in store.journal.leftovers()] == []
    run.close()


def _die_holding_records(config: str) -> None:
    store = FileStore(Path(config))
    run = store.journal.open_run()
    run.record(ENTRY)
    run.record(OTHER)
    run.forget(ENTRY)
    os._exit(9)  # as SIGKILL would: no cleanup, no close


def test_the_records_of_a_dead_run_are_leftovers_for_the_next(tmp_path: Path) -> None:
    process = multiprocessing.get_context("fork").Process(
        target=_die_holding_records, args=(str(tmp_path),)
    )
    process.start()
    process.join()
    store = FileStore(tmp_path)
    found = list(store.journal.leftovers())
    assert [leftovers.entries for leftovers in found] == [[OTHER]]
    for leftovers in store.journal.leftovers():
        leftovers.forget(OTHER)
    assert store.journal.empty()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    run = store.journal.open_run()
    run.record(ENTRY)
    path = next((tmp_path / "journal").glob("*.jsonl"))
    with path.open("a") as handle:
        handle.write('{"op": "add", "name": "_acme-chall')
    run._lock.acquire()  # simulate death: release the file lock without closing cleanly
    os.close(run._fd)  # type: ignore[arg-type]
    run._fd = None
    run._lock.release()
    assert [leftovers.entries for leftovers in store.journal.leftovers()] == [[ENTRY]]


def test_records_written_while_an_fsync_runs_share_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = FileStore(tmp_path).journal.open_run()
    run.record(ENTRY)  # the file exists
    real_fsync, real_append = os.fsync, FileRunJournal._append
    in_fsync, let_go, all_written = threading.Event(), threading.Event(), threading.Event()
    synced: list[int] = []
    written: list[Any] = []

    def slow_fsync(fd: int) -> None:
        synced.append(fd)
        if len(synced) == 1:
            in_fsync.set()
            assert let_go.wait(10)
        real_fsync(fd)

    def counted_append(journal: FileRunJournal, line: Any) -> None:
        real_append(journal, line)
        written.append(line)
        if len(written) == 4:
            all_written.set()

    monkeypatch.setattr(os, "fsync", slow_fsync)
    monkeypatch.setattr(FileRunJournal, "_append", counted_append)
    entries = [
        JournalEntry("zone-1", "example.com", f"_acme-challenge.n{i}.example.com", "v", None)
        for i in range(4)
    ]
    first = threading.Thread(target=run.record, args=(entries[0],))
    first.start()
    assert in_fsync.wait(10)
    others = [threading.Thread(target=run.record, args=(entry,)) for entry in entries[1:]]
    for thread in others:
        thread.start()
    assert all_written.wait(10)  # their lines are written; they queue for an fsync
    let_go.set()
    for thread in [first, *others]:
        thread.join(10)
    assert len(synced) == 2, "the three records written meanwhile shared one fsync"
    run.close()


def test_a_record_whose_fsync_failed_for_another_is_never_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Linux reports a failed writeback once per open file: the next fsync of the same file
    # succeeds though the lines it covered may be lost. A record written before the failed
    # fsync must fail too, never be taken as durable (its TXT record would then be created).
    from acmecf.errors import StoreError

    run = FileStore(tmp_path).journal.open_run()
    run.record(ENTRY)  # the file exists
    real_append = FileRunJournal._append
    in_fsync, both_written = threading.Event(), threading.Event()
    written: list[Any] = []
    calls: list[int] = []

    def failing_once(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            in_fsync.set()
            assert both_written.wait(10)
            raise OSError(5, "Input/output error")

    def counted_append(journal: FileRunJournal, line: Any) -> None:
        real_append(journal, line)
        written.append(line)
        if len(written) == 2:
            both_written.set()

    monkeypatch.setattr(os, "fsync", failing_once)
    monkeypatch.setattr(FileRunJournal, "_append", counted_append)
    errors: list[BaseException] = []

    def record(entry: JournalEntry) -> None:
        try:
            run.record(entry)
        except BaseException as err:
            errors.append(err)

    first = threading.Thread(target=record, args=(OTHER,))
    first.start()
    assert in_fsync.wait(10)  # the first is in its fsync before the second writes its line
    second = threading.Thread(
        target=record,
        args=(JournalEntry("zone-1", "example.com", "_acme-challenge.x.example.com", "v", None),),
    )
    second.start()
    first.join(10)
    second.join(10)
    assert len(errors) == 2 and all(isinstance(err, StoreError) for err in errors)
