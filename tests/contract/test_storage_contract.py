"""The storage contract suite: what every backend promises (storage/contracts.py).

Runs against every implementation in BACKENDS; a new backend (a shared store for a fleet)
adds a factory here and must pass every test unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acmecf.errors import CertificateNotFoundError, LockedError
from acmecf.settings.table import CertificateSettings
from acmecf.storage.files import FileStore
from acmecf.storage.model import (
    CertificateMaterial,
    CertificateState,
    JournalEntry,
    StoredCertificate,
)

Factory = Callable[[Path, pytest.FixtureRequest], Any]


def _etcd_store(path: Path, request: pytest.FixtureRequest) -> Any:
    """An EtcdStore on the 3-member test cluster, under a prefix of its own."""
    import os

    from acmecf.storage.etcd.client import EtcdClient, EtcdSettings
    from acmecf.storage.etcd.store import EtcdStore
    from acmecf.storage.fleet_key import FleetKey

    cluster = request.getfixturevalue("etcd_cluster")
    client = EtcdClient(EtcdSettings(endpoints=tuple(cluster.endpoints())))
    request.addfinalizer(client.close)
    key = FleetKey(os.urandom(32), "a test key")
    return EtcdStore(
        client, request.getfixturevalue("etcd_prefix"), key, origin="contract", lease_ttl=5
    )


BACKENDS: dict[str, Factory] = {
    "files": lambda path, request: FileStore(path / "config"),
    "etcd": _etcd_store,
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return BACKENDS[request.param](tmp_path, request)


def _certificate(name: str = "example.com", **state: Any) -> StoredCertificate:
    return StoredCertificate(
        CertificateSettings(cert_name=name, names=(name, f"*.{name}")), CertificateState(**state)
    )


def _material(tag: str) -> CertificateMaterial:
    return CertificateMaterial(
        privkey=f"key {tag}".encode(), cert=f"cert {tag}".encode(), chain=f"chain {tag}".encode()
    )


def test_loading_what_is_not_there_raises_not_found(store: Any) -> None:
    with pytest.raises(CertificateNotFoundError):
        store.load("missing.example.com")
    assert store.live("missing.example.com") is None
    assert store.live_version("missing.example.com") is None
    assert store.names() == []


def test_load_returns_what_the_last_save_wrote(store: Any) -> None:
    store.save(_certificate(last_result="first"))
    store.save(_certificate(last_result="second"))
    assert store.load("example.com") == _certificate(last_result="second")
    assert store.names() == ["example.com"]


def test_live_returns_exactly_the_last_published_material(store: Any) -> None:
    first = store.publish("example.com", _material("1"))
    second = store.publish("example.com", _material("2"))
    assert first != second
    live = store.live("example.com")
    assert live is not None
    assert (live.version, live.material) == (second, _material("2"))
    assert store.live_version("example.com") == second


def test_readers_never_see_a_key_of_one_version_with_a_chain_of_another(store: Any) -> None:
    stop = threading.Event()
    mixed: list[str] = []

    def read() -> None:
        while not stop.is_set():
            live = store.live("example.com")
            if live is not None:
                tags = {
                    live.material.privkey.split()[-1],
                    live.material.cert.split()[-1],
                    live.material.chain.split()[-1],
                }
                if len(tags) != 1:
                    mixed.append(repr(tags))

    store.publish("example.com", _material("0"))
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for number in range(1, 30):
            store.publish("example.com", _material(str(number)))
    finally:
        stop.set()
        reader.join()
    assert mixed == []


def test_states_are_cheap_and_name_a_broken_entry_without_failing_the_rest(store: Any) -> None:
    store.save(_certificate("a.example.com", last_result="ok"))
    store.save(_certificate("b.example.com"))
    states = store.states()
    assert sorted(states) == ["a.example.com", "b.example.com"]
    assert getattr(states["a.example.com"], "last_result", None) == "ok"
    assert store.states(["b.example.com"]).keys() == {"b.example.com"}


def test_delete_is_idempotent_and_removes_everything(store: Any) -> None:
    store.save(_certificate())
    store.publish("example.com", _material("1"))
    store.delete("example.com")
    store.delete("example.com")
    assert store.names() == [] and store.live("example.com") is None


def test_accounts_are_per_server_and_the_key_is_kept_before_registration(store: Any) -> None:
    assert store.load_account("https://ca.example/dir") is None
    store.save_account_key("https://ca.example/dir", b"KEY")
    account = store.load_account("https://ca.example/dir")
    assert account is not None and account.key_pem == b"KEY" and dict(account.info) == {}
    store.save_account_info("https://ca.example/dir", {"uri": "https://ca.example/acct/1"})
    token = store.stage_account_key("https://ca.example/dir", b"NEW")
    assert store.load_account("https://ca.example/dir").key_pem == b"KEY"
    store.commit_account_key("https://ca.example/dir", token)
    account = store.load_account("https://ca.example/dir")
    assert account.key_pem == b"NEW" and account.info["uri"] == "https://ca.example/acct/1"
    assert store.load_account("https://other.example/dir") is None


def test_a_lock_has_one_holder_at_a_time(store: Any) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.lock("example.com"):
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        with pytest.raises(LockedError), store.lock("example.com", wait=0.2):
            pass
    finally:
        release.set()
        holder.join()
    with store.lock("example.com", wait=1.0):
        pass


def test_the_journal_hands_out_only_records_of_runs_that_ended(store: Any) -> None:
    entry = JournalEntry("zone", "example.com", "_acme-challenge.example.com", "v", None)
    assert store.journal.empty()
    run = store.journal.open_run()
    run.record(entry)
    assert not store.journal.empty()
    assert [list(left.entries) for left in store.journal.leftovers()] == []
    run.forget(entry)
    run.close()
    assert store.journal.empty()


def test_prune_keeps_the_newest_versions_and_never_the_live_one(store: Any) -> None:
    versions = [store.publish("example.com", _material(str(n))) for n in range(4)]
    assert store.prune("example.com", 0) == []
    assert store.prune("example.com", 2) == versions[:2]
    assert store.prune("example.com", 2) == []
    live = store.live("example.com")
    assert live is not None and (live.version, live.material) == (versions[-1], _material("3"))
