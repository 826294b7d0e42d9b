"""The storage seam: what acmecf needs from wherever certificates, accounts and locks live.

Written as contracts, the way certmagic's Storage and Locker are: what each method promises,
what it raises when something is missing, what is atomic, and what concurrent callers see.
`FileStore` (storage.files) implements them over the configuration directory; a shared
backend for a fleet of origins implements the same contracts and must pass the same contract
suite (tests/contract/). Nothing outside `storage/` builds a path under the configuration
directory.

Does not: implement anything; decide what is due; talk to a CA or Cloudflare.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from acmecf.storage.model import (
    BrokenCertificate,
    CertificateMaterial,
    CertificateState,
    JournalEntry,
    LiveCertificate,
    OutputFiles,
    StoredAccount,
    StoredCertificate,
)


class CertificateStore(Protocol):
    """Certificates: their settings and state, and their versions (key and chain).

    - `save` and `publish` are atomic: a concurrent or later reader sees what was there before
      or what was written, never a mix; after `publish` returns, `live` returns exactly the
      published material (key and chain of one version, never one from each).
    - Loading what is not there raises CertificateNotFoundError; a stored entry that does not
      match its schema raises StoredFileError naming the entry and the key, and affects only
      that certificate.
    - Safe to call from several threads and processes at once; callers that change a
      certificate hold its lock (Locker) and, once they hold it, load again: another run may
      have done the work meanwhile.
    """

    location: str  # where it is, for messages ("/etc/acmecf", "etcd://...")

    def names(self) -> list[str]:
        """Every stored certificate's name, sorted; broken ones included."""
        ...

    def load(self, name: str) -> StoredCertificate:
        """The settings and state of `name`."""
        ...

    def load_all(self) -> tuple[list[StoredCertificate], list[BrokenCertificate]]:
        """Every certificate that can be read, and the ones that cannot (with the reason)."""
        ...

    def states(self, names: Sequence[str] = ()) -> dict[str, CertificateState | BrokenCertificate]:
        """The state of each named certificate (default: all), as cheaply as the backend can:
        a no-op renewal of a thousand certificates reads this and nothing else."""
        ...

    def save(self, certificate: StoredCertificate) -> None:
        """Store the settings and state of `certificate`, replacing what was stored."""
        ...

    def publish(
        self, name: str, material: CertificateMaterial, files: OutputFiles | None = None
    ) -> str:
        """Store `material` as a new version of `name` and make it the live one, in one atomic
        step; return the version's id. The version also holds the `files` asked for
        (combined.pem, cert.p12), and its key files are readable by `files.key_gid` when set.
        Raises StoreError when it cannot (the live version is then unchanged)."""
        ...

    def prune(self, name: str, keep: int) -> list[str]:
        """Delete the versions of `name` older than its newest `keep` (0: delete none), never
        the live one; in each, the files holding the private key go first. Returns the ids
        removed, oldest first. Idempotent; the caller holds the certificate's lock."""
        ...

    def live(self, name: str) -> LiveCertificate | None:
        """The live version's material, or None when `name` has none yet."""
        ...

    def live_version(self, name: str) -> str | None:
        """The live version's id, or None; as cheap as the backend allows."""
        ...

    def delete(self, name: str) -> None:
        """Remove `name`: its settings, state and every version. Idempotent."""
        ...


class AccountStore(Protocol):
    """ACME accounts, one per ACME directory URL. Keys are written before the CA learns them,
    so an account is never registered with a key that is then lost."""

    def load_account(self, server: str) -> StoredAccount | None:
        """The account at `server`, or None when none is stored."""
        ...

    def save_account_key(self, server: str, key_pem: bytes) -> None:
        """Store a new account key (before registering it)."""
        ...

    def save_account_info(self, server: str, info: Mapping[str, Any]) -> None:
        """Store what the CA said at registration (at least `uri`)."""
        ...

    def stage_account_key(self, server: str, key_pem: bytes) -> str:
        """Keep a replacement key beside the current one (key rollover, step one); returns a
        token for `commit_account_key`."""
        ...

    def commit_account_key(self, server: str, token: str) -> None:
        """Make the staged key the account's key (once the CA accepted the rollover)."""
        ...

    def retire_account(self, server: str) -> str:
        """Set a deactivated account aside (the next issuance registers anew); returns where."""
        ...


class Locker(Protocol):
    """Locks by name: one holder at a time, across threads, processes and (for a shared
    backend) machines.

    `lock(key)` waits up to `wait` seconds, then raises LockedError naming the holder. A lock
    is released when the block ends, and when its holder dies however it dies (a process's
    descriptor is closed; a shared backend's lease expires). After taking a lock, check again
    whether the work is still needed.
    """

    def lock(self, key: str, *, wait: float = 10.0) -> AbstractContextManager[None]: ...


class RunJournal(Protocol):
    """One run's challenge records: each entry is durable before `record` returns, so a record
    created after it is never forgotten, however the run ends."""

    def record(self, entry: JournalEntry) -> None: ...

    def forget(self, entry: JournalEntry) -> None:
        """The record was deleted (or was never created): drop it from the journal."""
        ...

    def close(self) -> None:
        """End the run's journal; entries not forgotten stay for a later run to clean up."""
        ...


class LeftoverRecords(Protocol):
    """The records of one run that ended without removing them. The caller has exclusive use
    of them until `close`."""

    entries: list[JournalEntry]

    def forget(self, entry: JournalEntry) -> None: ...

    def close(self) -> None:
        """Release them; the ones not forgotten stay for a later run."""
        ...


class Journal(Protocol):
    """The challenge-record journal: what each run created at the DNS provider.

    `leftovers` yields only runs that are no longer running (never a record a live run owns),
    each to one caller at a time; `empty` is a cheap check for the no-op path.
    """

    def open_run(self) -> RunJournal: ...

    def leftovers(self) -> Iterator[LeftoverRecords]: ...

    def empty(self) -> bool: ...


class Store(CertificateStore, AccountStore, Locker, Protocol):
    """Everything a run needs from one backend."""

    journal: Journal
