"""The challenge-record journal as files: `<config>/journal/<run>.jsonl`, one per run.

Implements storage.contracts' Journal for FileStore. A run's file is created under a temporary
name, locked (flock) and only then renamed into place, so no other run ever sees it unlocked
while its owner lives. Each entry is a JSON line, written and fsynced before the record is
created; removing a record appends a "forget" line. A run that removed everything deletes its
file. A file whose lock can be taken belongs to a run that is no longer running: its records
are leftovers for the next run.

Does not: talk to the DNS provider (lifecycle.leftovers does).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acmecf.errors import StoreError
from acmecf.storage.model import JournalEntry
from acmecf.storage.safe import SafeDir

if TYPE_CHECKING:
    from acmecf.storage.files import FileStore

log = logging.getLogger(__name__)


class FileJournal:
    """The journal as one file per run in `<config>/journal/`.

    A run's file is created under a temporary name, locked (flock) and only then renamed into
    place, so no other run ever sees it unlocked while its owner lives. Each entry is a JSON
    line, written and fsynced before the record is created; removing a record appends a
    "forget" line. A run that removed everything deletes its file. A file whose lock can be
    taken belongs to a run that is no longer running: its records are leftovers.
    """

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def open_run(self) -> FileRunJournal:
        return FileRunJournal(self._store)

    def empty(self) -> bool:
        """True when no run has a journal file (one directory read; no lock)."""
        try:
            with self._store.directory("journal", create=False) as journal:
                if journal is None:
                    return True
                return not any(n.endswith(".jsonl") for n in journal.names())
        except StoreError:
            return False

    def leftovers(self) -> Iterator[FileLeftovers]:
        with self._store.directory("journal", create=False) as journal:
            if journal is None:
                return
            for name in journal.names():
                if name.startswith(".") and name.endswith(".tmp"):
                    _remove_if_abandoned(journal, name)
            names = [n for n in journal.names() if n.endswith(".jsonl")]
            for name in names:
                try:
                    fd = journal.open_lock_file(name)
                except (StoreError, FileNotFoundError):
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue  # its run is still running: never touch what a live run owns
                leftovers = FileLeftovers(journal.path / name, fd, _read_entries(fd))
                try:
                    yield leftovers
                finally:
                    leftovers.close()


class FileRunJournal:
    """One run's journal file; created on the first record.

    Group commit: an entry is written under the lock and made durable by an fsync outside it;
    one fsync covers every entry written before it, so workers that record at the same moment
    share one instead of queueing for one each."""

    def __init__(self, store: FileStore) -> None:
        self._store = store
        self._fd: int | None = None
        self._path: Path | None = None
        self._open: dict[JournalEntry, int] = {}
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0  # lines written so far
        self._synced = 0  # lines known durable
        # A failed fsync may have lost every line not yet durable, and the next fsync of the
        # file succeeds all the same (Linux reports a writeback error once): from then on no
        # line is acknowledged as durable.
        self._sync_failed: StoreError | None = None

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            if self._fd is None:
                self._create()
            self._append({"op": "add", **entry.as_json()})
            self._open[entry] = self._open.get(entry, 0) + 1
            written = self._written
        self._sync(written)

    def forget(self, entry: JournalEntry) -> None:
        with self._lock:
            if self._fd is None or entry not in self._open:
                return
            self._append({"op": "forget", **entry.as_json()})
            self._open[entry] -= 1
            if not self._open[entry]:
                del self._open[entry]
            written = self._written
        self._sync(written)

    def close(self) -> None:
        with self._sync_lock, self._lock:
            if self._fd is None:
                return
            if not self._open and self._path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._path)
            os.close(self._fd)
            self._fd = None

    def _create(self) -> None:
        run = f"{os.getpid()}-{secrets.token_hex(4)}"
        with self._store.directory("journal") as journal:
            assert journal is not None
            temporary = f".{run}.tmp"
            fd = journal.open_lock_file(temporary)
            fcntl.flock(fd, fcntl.LOCK_EX)
            journal.rename(temporary, f"{run}.jsonl")
            self._path = journal.path / f"{run}.jsonl"
        self._fd = fd

    def _append(self, line: Mapping[str, Any]) -> None:
        assert self._fd is not None
        data = (json.dumps(dict(line), sort_keys=True) + "\n").encode()
        try:
            os.lseek(self._fd, 0, os.SEEK_END)
            os.write(self._fd, data)
        except OSError as err:
            from acmecf.storage.safe import store_error

            raise store_error(self._path or "the journal", err) from err
        self._written += 1

    def _sync(self, line: int) -> None:
        """Return once the first `line` lines are on disk."""
        with self._sync_lock:
            if self._synced >= line:
                return  # another thread's fsync covered it
            if self._sync_failed is not None:
                raise StoreError(str(self._sync_failed))  # one object per thread's traceback
            with self._lock:
                fd, written = self._fd, self._written
            if fd is None:
                return
            try:
                os.fsync(fd)
            except OSError as err:
                from acmecf.storage.safe import store_error

                self._sync_failed = store_error(self._path or "the journal", err)
                raise self._sync_failed from err
            self._synced = written


class FileLeftovers:
    """A dead run's journal file, locked by us while its records are removed."""

    def __init__(self, path: Path, fd: int, entries: list[JournalEntry]) -> None:
        self.path = path
        self._fd = fd
        self.entries = entries

    def forget(self, entry: JournalEntry) -> None:
        if entry in self.entries:
            self.entries.remove(entry)
            data = (json.dumps({"op": "forget", **entry.as_json()}, sort_keys=True) + "\n").encode()
            try:
                os.lseek(self._fd, 0, os.SEEK_END)
                os.write(self._fd, data)
                os.fsync(self._fd)
            except OSError as err:
                log.debug("could not note the removal in %s: %s", self.path, err)

    def close(self) -> None:
        if self._fd < 0:
            return
        if not self.entries:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(self._fd)
        self._fd = -1


def _remove_if_abandoned(journal: SafeDir, name: str) -> None:
    """Remove a journal file that a run killed while creating it left under its temporary name
    (it holds no entry: entries are written only once it is in place)."""
    try:
        fd = journal.open_lock_file(name)
    except StoreError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        journal.remove(name)
    except (BlockingIOError, StoreError):
        pass
    finally:
        os.close(fd)


def _read_entries(fd: int) -> list[JournalEntry]:
    """The entries added and not forgotten, in order; unreadable lines (a torn last write of a
    killed run) are skipped."""
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 16, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    entries: list[JournalEntry] = []
    for line in b"".join(chunks).splitlines():
        try:
            data = json.loads(line)
            entry = JournalEntry.from_json(data)
        except (ValueError, KeyError, TypeError):
            continue
        if data.get("op") == "add":
            entries.append(entry)
        elif data.get("op") == "forget" and entry in entries:
            entries.remove(entry)
    return entries
