"""`FleetStore`: the store of one origin in a fleet that shares its certificates through etcd.

What the fleet shares (certificates' settings, state and versions, accounts, locks, the
challenge-record journal) is in the `EtcdStore`; what belongs to this machine stays in its
configuration directory, as a FileStore keeps it: the `live/` files web servers read (written
by `acmecf sync`, lifecycle.sync), the deploy hooks, acmecf.toml, origin pulls, and the free
space a new version needs. It is a FileStore, so every caller that works on one machine works
on an origin of a fleet unchanged; each method of the storage contracts is overridden to go
to etcd (a unit test keeps it so).

Does not: copy versions into live/ by itself (lifecycle.sync does, then runs the hooks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acmecf.storage.files import FileStore
from acmecf.storage.model import (
    BrokenCertificate,
    CertificateMaterial,
    CertificateState,
    LiveCertificate,
    OutputFiles,
    StoredAccount,
    StoredCertificate,
)

if TYPE_CHECKING:
    from acmecf.storage.etcd.store import EtcdStore


class FleetStore(FileStore):
    """Certificates in `shared` (etcd); live files, hooks and settings files of this machine in
    `config_dir`. `local` is the configuration directory's own FileStore (for sync and
    `store push|pull`); `lock_wait` how long a run waits while another origin renews."""

    def __init__(self, config_dir: Path, shared: EtcdStore, *, lock_wait: float) -> None:
        super().__init__(config_dir)
        self.shared = shared
        self.local = FileStore(config_dir)
        self.location = shared.location
        self.journal = shared.journal  # type: ignore[assignment]  # the Journal contract
        self.lock_wait = lock_wait

    def prepare(self) -> None:
        """Check the configuration directory, and that etcd answers and uses this fleet key."""
        super().prepare()
        self.shared.check()

    # --- CertificateStore: in etcd ---------------------------------------------------------

    def names(self) -> list[str]:
        return self.shared.names()

    def load(self, name: str) -> StoredCertificate:
        return self.shared.load(name)

    def load_all(self) -> tuple[list[StoredCertificate], list[BrokenCertificate]]:
        return self.shared.load_all()

    def states(self, names: Sequence[str] = ()) -> dict[str, CertificateState | BrokenCertificate]:
        return self.shared.states(names)

    def save(self, certificate: StoredCertificate) -> None:
        self.shared.save(certificate)

    def publish(
        self, name: str, material: CertificateMaterial, files: OutputFiles | None = None
    ) -> str:
        """Publish to the fleet; the extra `files` are written here when the version reaches
        this origin's live files (lifecycle.sync), as on every origin."""
        return self.shared.publish(name, material)

    def prune(self, name: str, keep: int) -> list[str]:
        """Prune the fleet's old versions and this origin's."""
        removed = self.shared.prune(name, keep)
        self.local.prune(name, keep)
        return removed

    def live(self, name: str) -> LiveCertificate | None:
        return self.shared.live(name)

    def live_version(self, name: str) -> str | None:
        return self.shared.live_version(name)

    def delete(self, name: str) -> None:
        """Remove `name` from the fleet, and this origin's copy of its files. The other origins
        keep theirs (their web servers may still point at them) until removed there by hand:
        `sync` never deletes live files."""
        self.shared.delete(name)
        self.local.delete(name)

    # --- AccountStore: in etcd -------------------------------------------------------------

    def load_account(self, server: str) -> StoredAccount | None:
        return self.shared.load_account(server)

    def save_account_key(self, server: str, key_pem: bytes) -> None:
        self.shared.save_account_key(server, key_pem)

    def save_account_info(self, server: str, info: Mapping[str, Any]) -> None:
        self.shared.save_account_info(server, info)

    def stage_account_key(self, server: str, key_pem: bytes) -> str:
        return self.shared.stage_account_key(server, key_pem)

    def commit_account_key(self, server: str, token: str) -> None:
        self.shared.commit_account_key(server, token)

    def retire_account(self, server: str) -> str:
        return self.shared.retire_account(server)

    # --- Locker: in etcd -------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, key: str, *, wait: float = 10.0) -> Iterator[None]:
        with self.shared.lock(key, wait=wait):
            yield
