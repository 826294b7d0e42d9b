"""`EtcdStore`: the storage contracts over an etcd v3 cluster that a fleet of origins shares.

Layout under the store's prefix (every value is JSON; private keys are sealed with the fleet
key, their authenticated data being the place they are stored at, see storage.fleet_key)::

    fleet                          {"format": 1, "key_id": ...}: which fleet key the store uses
    certificates/<name>            {"settings": {...}, "state": {...}}
    versions/<name>/<version>      {"cert", "chain", "fullchain", "privkey": sealed, "origin"}
    live/<name>                    {"version": "0003", "digest": ...}: the live pointer
    accounts/<server>/key          {"server": URL, "key": sealed}
    accounts/<server>/info         {"server": URL, "info": {...}}
    accounts/<server>/staged       {"server": URL, "key": sealed}: a key rollover's new key
    retired-accounts/<server>/<stamp>/key, .../info
    locks/<name>                   exists under the lease of the origin working on <name>
    journal/<run>/owner            exists under the lease of a run that created records
    journal/<run>/entries/<n>      a challenge record that run created, until it is removed
    origins/<origin>/<name>        what <origin> last synced of <name> (version, digest, when)

A version is one value, never changed once written; `publish` writes it and switches the live
pointer to it in one transaction, which also checks that the pointer did not move since it was
read and, when the publisher holds the certificate's lock, that the lock is still its own. So
a reader following the pointer always finds one complete version (key and chain of the same
certificate), a publisher whose lease expired cannot overwrite its successor's work, and a
failure leaves nothing half-written. Locks and a run's journal are held by etcd leases kept
alive while their holder works: when it dies, etcd drops them after the lease's TTL and
another origin takes over.

Does not: talk to etcd but through storage.etcd.client, read the local configuration
directory, run hooks, or decide what is due.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from acmecf.errors import (
    CertificateNotFoundError,
    EtcdError,
    EtcdLeaseLostError,
    SettingError,
    StoredFileError,
    StoreError,
)
from acmecf.names import check_cert_name
from acmecf.settings.table import settings_from_mapping, to_mapping
from acmecf.storage.etcd.client import (
    Compare,
    Delete,
    EtcdClient,
    Get,
    KeyValue,
    LeaseKeeper,
    LeaseLock,
    Operation,
    Put,
)
from acmecf.storage.fleet_key import FleetKey
from acmecf.storage.model import (
    BrokenCertificate,
    CertificateMaterial,
    CertificateState,
    JournalEntry,
    LiveCertificate,
    OriginSync,
    OutputFiles,
    StoredAccount,
    StoredCertificate,
    material_digest,
    state_from_mapping,
    state_to_json,
)

log = logging.getLogger(__name__)

FORMAT = 1
DEFAULT_LEASE_TTL = 30
PUBLISH_ATTEMPTS = 5


class EtcdStore:
    """Certificates, accounts, locks and the journal of a fleet, in etcd under `prefix`.

    Implements CertificateStore, AccountStore, Locker and Journal (storage.contracts). Safe to
    share between threads. `origin` names this machine in locks, journal runs and sync records.
    Every failure to reach etcd is an EtcdError (one line naming the endpoints and the remedy).
    """

    def __init__(
        self,
        client: EtcdClient,
        prefix: str,
        key: FleetKey,
        *,
        origin: str,
        lease_ttl: int = DEFAULT_LEASE_TTL,
        location: str | None = None,
    ) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"an etcd prefix starts and ends with '/', not {prefix!r}")
        self.client = client
        self.prefix = prefix
        self.key = key
        self.origin = origin
        self.lease_ttl = lease_ttl
        hosts = ",".join(url.split("://", 1)[-1] for url in client.urls)
        self.location = location or f"etcd://{hosts}{prefix}"
        self.journal = EtcdJournal(self)
        self._held: dict[str, LeaseLock] = {}
        self._held_guard = threading.Lock()
        self._key_checked = False

    # --- keys and values -------------------------------------------------------------------

    def _key(self, place: str) -> str:
        return f"{self.prefix}{place}"

    def _where(self, place: str) -> str:
        return f"{self.location}{place}"

    def _decode(self, kv: KeyValue, place: str) -> dict[str, Any]:
        try:
            value = json.loads(kv.value)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            problem = f"is not acmecf's JSON ({err})"
            raise StoredFileError(self._where(place), None, problem) from None
        return value

    def _get(self, place: str) -> dict[str, Any] | None:
        kv = self.client.get(self._key(place))
        return None if kv is None else self._decode(kv, place)

    def _owner(self) -> bytes:
        return f"origin {self.origin} (pid {os.getpid()})".encode()

    def check(self) -> None:
        """Check that etcd answers and that the store uses this fleet key (recording the key's
        id in a new store), so that an origin with another key cannot read or write anything.
        Raises EtcdError or FleetKeyError. Done once per store object; the reads call it."""
        if self._key_checked:
            return
        value = _json({"format": FORMAT, "key_id": self.key.key_id})
        result = self.client.txn(
            [Compare.absent(self._key("fleet"))],
            [Put(self._key("fleet"), value)],
            [Get(self._key("fleet"))],
            idempotent=True,
        )
        if not result.succeeded and result.kvs:
            stored = self._decode(result.kvs[0], "fleet")
            if stored.get("format") != FORMAT:
                raise StoreError(
                    f"the store at {self.location} has format {stored.get('format')!r}, not one "
                    "this acmecf reads: upgrade acmecf on this origin"
                )
            self.key.check_store_id(str(stored.get("key_id")), self.location)
        self._key_checked = True

    def _seal(self, plaintext: bytes, place: str) -> dict[str, str]:
        self.check()
        return self.key.encrypt(plaintext, place)

    def _open(self, blob: object, place: str) -> bytes:
        self.check()
        return self.key.decrypt(blob, place, where=self._where(place))

    def _held_compares(self, name: str) -> list[Compare]:
        """The compare that this process still holds `name`'s lock, if it took it."""
        with self._held_guard:
            held = self._held.get(name)
        if held is None:
            return []
        held.check()
        return [held.still_held()]

    def _lock_lost(self, name: str) -> EtcdLeaseLostError:
        with self._held_guard:
            held = self._held.get(name)
        lease = held.lease.id if held is not None else 0
        return EtcdLeaseLostError(self.client.urls, lease, f"the lock of {name}")

    # --- CertificateStore ------------------------------------------------------------------

    def names(self) -> list[str]:
        self.check()
        prefix = self._key("certificates/")
        return sorted(kv.key[len(prefix) :] for kv in self.client.get_prefix(prefix))

    def load(self, name: str) -> StoredCertificate:
        self.check()
        check_cert_name(name)
        kv = self.client.get(self._key(f"certificates/{name}"))
        if kv is None:
            raise CertificateNotFoundError(name, self.location)
        return self._parse(name, kv)

    def _parse(self, name: str, kv: KeyValue) -> StoredCertificate:
        place = f"certificates/{name}"
        document = self._decode(kv, place)
        try:
            settings = settings_from_mapping(name, document.get("settings", {}))
            state_table = document.get("state", {})
            if not isinstance(state_table, Mapping):
                raise SettingError("state", "must be a table")
            state = state_from_mapping(state_table)
        except SettingError as err:
            raise StoredFileError(self._where(place), err.key, err.problem) from None
        return StoredCertificate(settings, state)

    def load_all(self) -> tuple[list[StoredCertificate], list[BrokenCertificate]]:
        self.check()
        prefix = self._key("certificates/")
        certificates: list[StoredCertificate] = []
        broken: list[BrokenCertificate] = []
        for kv in self.client.get_prefix(prefix):
            name = kv.key[len(prefix) :]
            try:
                certificates.append(self._parse(name, kv))
            except (StoreError, CertificateNotFoundError) as err:
                broken.append(BrokenCertificate(name, str(err)))
        return certificates, broken

    def states(self, names: Sequence[str] = ()) -> dict[str, CertificateState | BrokenCertificate]:
        """The states, from one read of every certificate (or one read per name asked for)."""
        self.check()
        prefix = self._key("certificates/")
        if names:
            kvs = []
            for name in names:
                check_cert_name(name)
                kv = self.client.get(self._key(f"certificates/{name}"))
                if kv is None:
                    raise CertificateNotFoundError(name, self.location)
                kvs.append(kv)
        else:
            kvs = self.client.get_prefix(prefix)
        result: dict[str, CertificateState | BrokenCertificate] = {}
        for kv in kvs:
            name = kv.key[len(prefix) :]
            try:
                document = self._decode(kv, f"certificates/{name}")
                table = document.get("state", {})
                if not isinstance(table, Mapping):
                    raise SettingError("state", "must be a table")
                result[name] = state_from_mapping(table)
            except SettingError as err:
                where = self._where(f"certificates/{name}")
                result[name] = BrokenCertificate(
                    name, str(StoredFileError(where, err.key, err.problem))
                )
            except StoreError as err:
                result[name] = BrokenCertificate(name, str(err))
        return result

    def save(self, certificate: StoredCertificate) -> None:
        name = check_cert_name(certificate.name)
        value = _json(
            {
                "settings": to_mapping(certificate.settings),
                "state": state_to_json(certificate.state),
            }
        )
        compares = self._held_compares(name)
        result = self.client.txn(
            compares, [Put(self._key(f"certificates/{name}"), value)], idempotent=True
        )
        if not result.succeeded:
            raise self._lock_lost(name)

    def publish(
        self, name: str, material: CertificateMaterial, files: OutputFiles | None = None
    ) -> str:
        """Store `material` as the new live version (module doc). `files` are not stored: each
        origin writes the extra files its settings ask for (combined.pem, cert.p12, a key
        group of its own) when it writes the version into its live files."""
        check_cert_name(name)
        for _ in range(PUBLISH_ATTEMPTS):
            version = self._try_publish(name, material)
            if version is not None:
                return version
        raise StoreError(
            f"could not publish {name} in {self.location}: other runs kept publishing it at the "
            "same time (without its lock?); the live version is unchanged, try again"
        )

    def _try_publish(self, name: str, material: CertificateMaterial) -> str | None:
        """One attempt: None when the pointer moved meanwhile (try again)."""
        compares = self._held_compares(name)
        pointer_key = self._key(f"live/{name}")
        pointer = self.client.get(pointer_key)
        current = self._decode(pointer, f"live/{name}").get("version") if pointer else None
        number = int(current) + 1 if isinstance(current, str) and current.isdigit() else 1
        version = f"{number:04d}"
        place = f"versions/{name}/{version}"
        value = _json(
            {
                "cert": material.cert.decode(),
                "chain": material.chain.decode(),
                "fullchain": (
                    material.given_fullchain.decode()
                    if material.given_fullchain is not None
                    else None
                ),
                "privkey": self._seal(material.privkey, f"{place}/privkey"),
                "origin": self.origin,
                "created": _now(),
            }
        )
        digest = material_digest(material)
        switch = _json({"version": version, "digest": digest})
        # Retried safely: once applied, the version exists and the Get tells it is ours (its
        # sealed key has a random nonce, so no other run's value is equal).
        result = self.client.txn(
            [
                Compare.absent(self._key(place)),
                Compare.mod_revision_is(pointer_key, pointer.mod_revision if pointer else 0),
                *compares,
            ],
            [Put(self._key(place), value), Put(pointer_key, switch)],
            [Get(self._key(place))],
            idempotent=True,
        )
        if result.succeeded or any(kv.value == value for kv in result.kvs):
            return version
        if compares and self._lock_was_lost(compares[0]):
            raise self._lock_lost(name)
        log.debug("the live pointer of %s moved while publishing; trying again", name)
        return None

    def prune(self, name: str, keep: int) -> list[str]:
        """Delete the versions of `name` older than its newest `keep` (0: none), never the
        live one, in one transaction; returns their ids, oldest first."""
        check_cert_name(name)
        if keep <= 0:
            return []
        prefix = self._key(f"versions/{name}/")
        live = self.live_version(name)
        versions = sorted(
            (kv.key[len(prefix) :] for kv in self.client.get_prefix(prefix)),
            key=lambda v: int(v) if v.isdigit() else 0,
        )
        removed = [v for v in versions[:-keep] if v != live]
        operations: list[Operation] = [Delete(f"{prefix}{v}") for v in removed]
        for start in range(0, len(operations), 100):  # etcd's --max-txn-ops is 128
            self.client.txn(
                self._held_compares(name), operations[start : start + 100], idempotent=True
            )
        if removed:
            log.info("%s: removed old versions %s from %s", name, ", ".join(removed), self.location)
        return removed

    def _lock_was_lost(self, compare: Compare) -> bool:
        kv = self.client.get(compare.key)
        return kv is None or kv.lease != compare.operand

    def live(self, name: str) -> LiveCertificate | None:
        check_cert_name(name)
        for _ in range(3):  # the pointer moved and its old version went: read again
            pointer = self._get(f"live/{name}")
            if pointer is None:
                return None
            version = str(pointer.get("version"))
            place = f"versions/{name}/{version}"
            stored = self._get(place)
            if stored is None:
                continue
            return LiveCertificate(version, self._material(stored, place))
        raise StoreError(
            f"the live pointer of {name} in {self.location} names a version that is not there: "
            f"issue it again (acmecf renew --force --cert-name {name})"
        )

    def _material(self, stored: Mapping[str, Any], place: str) -> CertificateMaterial:
        try:
            fullchain = stored.get("fullchain")
            return CertificateMaterial(
                privkey=self._open(stored["privkey"], f"{place}/privkey"),
                cert=str(stored["cert"]).encode(),
                chain=str(stored["chain"]).encode(),
                given_fullchain=None if fullchain is None else str(fullchain).encode(),
            )
        except KeyError as err:
            raise StoredFileError(self._where(place), str(err.args[0]), "is missing") from None

    def live_version(self, name: str) -> str | None:
        self.check()
        check_cert_name(name)
        pointer = self._get(f"live/{name}")
        return None if pointer is None else str(pointer.get("version"))

    def live_pointers(self) -> dict[str, tuple[str, str, int]]:
        self.check()
        """Every certificate's live (version, digest, mod revision), in one read."""
        prefix = self._key("live/")
        pointers: dict[str, tuple[str, str, int]] = {}
        for kv in self.client.get_prefix(prefix):
            name = kv.key[len(prefix) :]
            try:
                pointer = self._decode(kv, f"live/{name}")
            except StoreError as err:
                log.warning("%s", err)
                continue
            pointers[name] = (
                str(pointer.get("version")),
                str(pointer.get("digest")),
                kv.mod_revision,
            )
        return pointers

    def changed_since(self, revision: int) -> tuple[list[str], int]:
        """The certificates whose live pointer changed after `revision`, and the revision the
        answer is as of (one read, returning only the changed pointers)."""
        prefix = self._key("live/")
        kvs, current = self.client.get_prefix_since(prefix, revision + 1)
        return sorted(kv.key[len(prefix) :] for kv in kvs), current

    def current_revision(self) -> int:
        """etcd's revision now: every change from here on has a higher mod revision."""
        _, revision = self.client.get_prefix_since(self._key("live/"), 2**62)
        return revision

    def delete(self, name: str) -> None:
        check_cert_name(name)
        result = self.client.txn(
            self._held_compares(name),
            [
                Delete(self._key(f"live/{name}")),
                Delete(self._key(f"certificates/{name}")),
                Delete(self._key(f"versions/{name}/"), prefix=True),
            ],
            idempotent=True,
        )
        if not result.succeeded:
            raise self._lock_lost(name)

    # --- what each origin synced -----------------------------------------------------------

    def record_sync(self, name: str, version: str, digest: str, result: str) -> None:
        """Note that this origin now serves `version` of `name` (its deploy hooks' `result`)."""
        value = {
            "version": version,
            "digest": digest,
            "synced_at": _now(),
            "result": result,
        }
        self.client.put(self._key(f"origins/{self.origin}/{check_cert_name(name)}"), _json(value))

    def synced(self, origin: str | None = None) -> list[OriginSync]:
        """What every origin (or `origin`) last synced, by origin then certificate."""
        self.check()
        prefix = self._key(f"origins/{origin}/" if origin else "origins/")
        records: list[OriginSync] = []
        for kv in self.client.get_prefix(prefix):
            place = kv.key[len(self.prefix) :]
            parts = place.split("/")
            if len(parts) != 3:
                continue
            try:
                value = self._decode(kv, place)
            except StoreError:
                continue
            records.append(
                OriginSync(
                    origin=parts[1],
                    name=parts[2],
                    version=str(value.get("version")),
                    digest=str(value.get("digest")),
                    synced_at=str(value.get("synced_at")),
                    result=str(value.get("result")),
                )
            )
        return records

    # --- AccountStore ----------------------------------------------------------------------

    @staticmethod
    def _account(server: str) -> str:
        return f"accounts/{quote(server, safe='')}"

    def accounts(self) -> list[str]:
        self.check()
        """The ACME server URL of every stored account."""
        servers: set[str] = set()
        for kv in self.client.get_prefix(self._key("accounts/")):
            if kv.key.endswith("/key"):
                place = kv.key[len(self.prefix) :]
                servers.add(str(self._decode(kv, place).get("server")))
        return sorted(servers)

    def load_account(self, server: str) -> StoredAccount | None:
        place = self._account(server)
        values = {
            kv.key[len(self._key(place)) + 1 :]: kv
            for kv in self.client.get_prefix(self._key(f"{place}/"))
        }
        if "key" not in values:
            return None
        key_value = self._decode(values["key"], f"{place}/key")
        key_pem = self._open(key_value.get("key"), f"{place}/key")
        info: Mapping[str, Any] = {}
        if "info" in values:
            raw = self._decode(values["info"], f"{place}/info").get("info", {})
            if not isinstance(raw, dict):
                raise StoreError(
                    f"cannot read {self._where(place)}/info (not an object): delete it to "
                    "register the account again"
                )
            info = raw
        return StoredAccount(key_pem, info)

    def save_account_key(self, server: str, key_pem: bytes) -> None:
        place = f"{self._account(server)}/key"
        self.client.put(
            self._key(place), _json({"server": server, "key": self._seal(key_pem, place)})
        )

    def save_account_info(self, server: str, info: Mapping[str, Any]) -> None:
        place = f"{self._account(server)}/info"
        self.client.put(self._key(place), _json({"server": server, "info": dict(info)}))

    def stage_account_key(self, server: str, key_pem: bytes) -> str:
        place = f"{self._account(server)}/staged"
        self.client.put(
            self._key(place), _json({"server": server, "key": self._seal(key_pem, place)})
        )
        return self._where(place)

    def commit_account_key(self, server: str, token: str) -> None:
        account = self._account(server)
        staged = self.client.get(self._key(f"{account}/staged"))
        if staged is None:
            raise StoreError(
                f"no staged account key at {token}: the rollover was already completed or never "
                "started"
            )
        sealed = self._decode(staged, f"{account}/staged").get("key")
        key_pem = self._open(sealed, f"{account}/staged")
        place = f"{account}/key"
        value = _json({"server": server, "key": self._seal(key_pem, place)})
        try:
            self.client.txn(
                [Compare.value_is(staged.key, staged.value)],
                [Put(self._key(place), value), Delete(staged.key)],
                idempotent=True,
            )
        except EtcdError as err:
            raise StoreError(
                f"the CA now knows the account by the key staged at {token}, but it could not "
                f"be made the account's key ({err}): run the key rollover again"
            ) from err

    def retire_account(self, server: str) -> str:
        account = self._account(server)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        retired = f"retired-{account}/{stamp}"
        operations: list[Operation] = []
        for kv in self.client.get_prefix(self._key(f"{account}/")):
            part = kv.key.rsplit("/", 1)[-1]
            value = self._decode(kv, f"{account}/{part}")
            if "key" in value:
                plain = self._open(value["key"], f"{account}/{part}")
                value["key"] = self._seal(plain, f"{retired}/{part}")
            operations += [Put(self._key(f"{retired}/{part}"), _json(value)), Delete(kv.key)]
        if operations:
            self.client.txn([], operations, idempotent=True)
        return self._where(retired)

    # --- Locker ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, key: str, *, wait: float = 10.0) -> Iterator[None]:
        """Hold the lock `key`: `locks/<key>` created under a lease of `lease_ttl` seconds, kept
        alive while the block runs. Waits up to `wait` seconds, then raises LockedError naming
        the holding origin. When this process dies, etcd frees the lock `lease_ttl` seconds
        later. Writes to `key`'s certificate made while holding it check that it is still held
        (a holder whose lease expired cannot overwrite its successor's work)."""
        name = check_cert_name(key, "lock name")
        held = self.client.lock(
            self._key(f"locks/{name}"), ttl=self.lease_ttl, wait=wait, owner=self._owner()
        )
        with self._held_guard:
            self._held[name] = held
        try:
            yield
        finally:
            with self._held_guard:
                self._held.pop(name, None)
            held.release()

    def lock_holders(self) -> dict[str, str]:
        """Which origin holds each certificate lock now."""
        prefix = self._key("locks/")
        return {
            kv.key[len(prefix) :]: kv.value.decode(errors="replace")
            for kv in self.client.get_prefix(prefix)
        }


# --- the challenge-record journal ------------------------------------------------------------


class EtcdJournal:
    """The journal in etcd: `journal/<run>/owner` lives under the run's lease, each record it
    creates is `journal/<run>/entries/<n>` until removed. A run whose owner key is gone (ended,
    or died and its lease expired) has leftovers; whoever cleans them first claims them by
    creating the owner key under its own lease, so one origin at a time works on them."""

    def __init__(self, store: EtcdStore) -> None:
        self._store = store

    def open_run(self) -> EtcdRunJournal:
        return EtcdRunJournal(self._store)

    def empty(self) -> bool:
        """True when no run has journal keys (one read of at most one key)."""
        prefix = self._store._key("journal/")
        return next(iter(self._store.client.iterate_prefix(prefix, page_size=1)), None) is None

    def adopt(self, entries: Sequence[JournalEntry]) -> None:
        """File `entries` (records another journal held: `store push`) as the leftovers of a
        run that ended, for whichever origin cleans up first."""
        run = f"{self._store.origin}-adopted-{secrets.token_hex(4)}"
        prefix = self._store._key(f"journal/{run}/entries/")
        operations: list[Operation] = [
            Put(f"{prefix}{number:06d}", _json(entry.as_json()))
            for number, entry in enumerate(entries, 1)
        ]
        for start in range(0, len(operations), 100):  # etcd's --max-txn-ops is 128
            self._store.client.txn([], operations[start : start + 100], idempotent=True)

    def leftovers(self) -> Iterator[EtcdLeftovers]:
        store = self._store
        prefix = store._key("journal/")
        runs: dict[str, bool] = {}
        for kv in store.client.get_prefix(prefix):
            run, _, rest = kv.key[len(prefix) :].partition("/")
            runs[run] = runs.get(run, False) or rest == "owner"
        for run, owned in sorted(runs.items()):
            if owned:
                continue  # running (or being cleaned by another origin): never touch it
            claim = store.client.grant_lease(store.lease_ttl)
            owner_key = f"{prefix}{run}/owner"
            taken = store.client.txn(
                [Compare.absent(owner_key)],
                [Put(owner_key, store._owner(), claim.id)],
                [Get(owner_key)],
                idempotent=True,
            )
            if not (taken.succeeded or any(kv.lease == claim.id for kv in taken.kvs)):
                store.client._revoke_quietly(claim.id)
                continue
            keeper = store.client.keep_alive(claim, what=f"the journal of {run}")
            leftovers = EtcdLeftovers(store, run, keeper)
            try:
                yield leftovers
            finally:
                leftovers.close()


class EtcdRunJournal:
    """One run's records; its owner key and lease are made on the first record."""

    def __init__(self, store: EtcdStore) -> None:
        self._store = store
        self._run = f"{store.origin}-{os.getpid()}-{secrets.token_hex(4)}"
        self._keeper: LeaseKeeper | None = None
        self._open: dict[JournalEntry, list[str]] = {}
        self._count = 0
        self._lock = threading.Lock()

    def _entry_prefix(self) -> str:
        return self._store._key(f"journal/{self._run}/entries/")

    def record(self, entry: JournalEntry) -> None:
        client = self._store.client
        with self._lock:
            if self._keeper is None:
                lease = client.grant_lease(self._store.lease_ttl)
                owner = self._store._key(f"journal/{self._run}/owner")
                client.put(owner, self._store._owner(), lease=lease.id)
                self._keeper = client.keep_alive(lease, what=f"the journal of {self._run}")
            self._count += 1
            key = f"{self._entry_prefix()}{self._count:06d}"
            client.put(key, _json(entry.as_json()))  # durable (a quorum has it) when put returns
            self._open.setdefault(entry, []).append(key)

    def forget(self, entry: JournalEntry) -> None:
        with self._lock:
            keys = self._open.get(entry)
            if not keys:
                return
            key = keys.pop()
            if not keys:
                del self._open[entry]
        try:
            self._store.client.delete(key)
        except EtcdError as err:  # the record itself is gone: a later run drops the entry
            log.debug("could not drop the journal entry of TXT %s: %s", entry.name, err)

    def close(self) -> None:
        with self._lock:
            keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.stop()
            self._store.client._revoke_quietly(keeper.lease.id)


class EtcdLeftovers:
    """A dead run's records, claimed by this process until `close`."""

    def __init__(self, store: EtcdStore, run: str, keeper: LeaseKeeper) -> None:
        self._store = store
        self.run = run
        self._keeper: LeaseKeeper | None = keeper
        self._keys: dict[JournalEntry, list[str]] = {}
        self.entries: list[JournalEntry] = []
        prefix = store._key(f"journal/{run}/entries/")
        for kv in store.client.get_prefix(prefix):
            try:
                entry = JournalEntry.from_json(json.loads(kv.value))
            except (ValueError, KeyError, TypeError):
                log.warning("dropping an unreadable journal entry %s", kv.key)
                store.client.delete(kv.key)
                continue
            self.entries.append(entry)
            self._keys.setdefault(entry, []).append(kv.key)

    def forget(self, entry: JournalEntry) -> None:
        if entry not in self.entries:
            return
        self.entries.remove(entry)
        key = self._keys[entry].pop()
        try:
            self._store.client.delete(key)
        except EtcdError as err:
            log.debug("could not drop the journal entry of TXT %s: %s", entry.name, err)

    def close(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.stop()
            self._store.client._revoke_quietly(keeper.lease.id)


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


__all__ = [
    "DEFAULT_LEASE_TTL",
    "EtcdStore",
    "OriginSync",
    "material_digest",
]
