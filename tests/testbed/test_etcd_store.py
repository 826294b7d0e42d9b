"""What the etcd store does beyond the storage contract suite, against real etcd: blobs bound to
their place, a wrong key refused, a holder whose lease expired unable to overwrite its
successor, a dead run's records handed to one cleaner, cheap change polling, and the store
opened from [store] settings over TLS with client certificates and with user/password auth."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from acmecf.errors import (
    EtcdAuthError,
    EtcdLeaseLostError,
    FleetKeyError,
    StoredFileError,
    StoreError,
)
from acmecf.sandbox.etcd import EtcdCluster
from acmecf.settings.store import store_settings
from acmecf.settings.table import CertificateSettings
from acmecf.storage.etcd.client import EtcdClient, EtcdSettings
from acmecf.storage.etcd.store import EtcdStore
from acmecf.storage.fleet import FleetStore
from acmecf.storage.fleet_key import FleetKey
from acmecf.storage.model import CertificateMaterial, JournalEntry, StoredCertificate
from acmecf.storage.selection import open_store

KEY = FleetKey(os.urandom(32), "the test key")


@pytest.fixture
def client(etcd_cluster: EtcdCluster) -> Iterator[EtcdClient]:
    with EtcdClient(EtcdSettings(endpoints=tuple(etcd_cluster.endpoints()))) as connected:
        yield connected


def store_on(client: EtcdClient, prefix: str, origin: str = "web1", **kwargs: object) -> EtcdStore:
    return EtcdStore(client, prefix, kwargs.pop("key", KEY), origin=origin, lease_ttl=2, **kwargs)  # type: ignore[arg-type]


def material(tag: str) -> CertificateMaterial:
    return CertificateMaterial(
        privkey=f"key {tag}".encode(), cert=f"cert {tag}".encode(), chain=f"chain {tag}".encode()
    )


def certificate(name: str = "example.com") -> StoredCertificate:
    return StoredCertificate(CertificateSettings(cert_name=name, names=(name,)))


def test_a_broken_entry_is_named_with_its_etcd_key(client: EtcdClient, etcd_prefix: str) -> None:
    store = store_on(client, etcd_prefix)
    store.save(certificate())
    key = f"{etcd_prefix}certificates/example.com"
    document = json.loads(client.get(key).value)  # type: ignore[union-attr]
    document["settings"]["certificate"]["names"] = 1
    client.put(key, json.dumps(document).encode())
    with pytest.raises(StoredFileError) as caught:
        store.load("example.com")
    assert caught.value.key == "certificate.names"
    assert "certificates/example.com" in str(caught.value) and "etcd://" in str(caught.value)
    assert store.load_all()[1][0].name == "example.com", "listed as broken, not fatal"


def test_a_key_blob_moved_to_another_place_does_not_decrypt(
    client: EtcdClient, etcd_prefix: str
) -> None:
    store = store_on(client, etcd_prefix)
    store.publish("a.example.com", material("a"))
    store.publish("b.example.com", material("b"))
    a = json.loads(client.get(f"{etcd_prefix}versions/a.example.com/0001").value)  # type: ignore[union-attr]
    b_key = f"{etcd_prefix}versions/b.example.com/0001"
    b = json.loads(client.get(b_key).value)  # type: ignore[union-attr]
    b["privkey"] = a["privkey"]  # a's key served as b's: refused
    client.put(b_key, json.dumps(b).encode())
    with pytest.raises(StoreError, match="copied there from another place"):
        store.live("b.example.com")
    assert store.live("a.example.com").material.privkey == b"key a"  # type: ignore[union-attr]


def test_another_fleet_key_can_neither_read_nor_write(client: EtcdClient, etcd_prefix: str) -> None:
    store_on(client, etcd_prefix).publish("example.com", material("1"))
    stranger = store_on(client, etcd_prefix, key=FleetKey(os.urandom(32), "another key file"))
    for action in (stranger.names, lambda: stranger.live("example.com")):
        with pytest.raises(FleetKeyError, match="another key file") as caught:
            action()
        assert "\n" not in str(caught.value)


def test_a_holder_whose_lease_expired_cannot_overwrite_its_successor(
    client: EtcdClient, etcd_prefix: str
) -> None:
    first, second = store_on(client, etcd_prefix, "web1"), store_on(client, etcd_prefix, "web2")
    first.publish("example.com", material("0"))
    with first.lock("example.com"):
        # A partition: web1's keepalives stop, its lease expires, web2 takes over.
        held = first._held["example.com"]
        held.keeper.stop()
        with second.lock("example.com", wait=10):
            assert second.publish("example.com", material("web2")) == "0002"
        with pytest.raises(EtcdLeaseLostError, match=r"lock of example\.com"):
            first.publish("example.com", material("web1"))
        with pytest.raises(EtcdLeaseLostError):
            first.save(certificate())
    live = first.live("example.com")
    assert live is not None and (live.version, live.material) == ("0002", material("web2"))


def test_a_lock_outlives_its_ttl_while_its_holder_works(
    client: EtcdClient, etcd_prefix: str
) -> None:
    first, second = store_on(client, etcd_prefix, "web1"), store_on(client, etcd_prefix, "web2")
    with first.lock("example.com"):
        time.sleep(5)  # more than twice the lease's 2 s
        with (
            pytest.raises(StoreError, match="held by origin web1"),  # LockedError
            second.lock("example.com", wait=0.5),
        ):
            pass
        first.publish("example.com", material("1"))


def test_the_records_of_a_dead_run_go_to_one_cleaner_after_its_lease(
    client: EtcdClient, etcd_prefix: str
) -> None:
    dead, cleaner, other = (store_on(client, etcd_prefix, n) for n in ("web1", "web2", "web3"))
    entry = JournalEntry("zone", "example.com", "_acme-challenge.example.com", "v", None)
    run = dead.journal.open_run()
    run.record(entry)
    assert list(cleaner.journal.leftovers()) == [], "a live run's records are never handed out"
    run._keeper.stop()  # type: ignore[union-attr]  # SIGKILL: no more keepalives, no close
    deadline = time.monotonic() + 15
    while True:
        found = list(cleaner.journal.leftovers())
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert found, "handed out once the dead run's lease expired"
    claimed = threading.Event()
    release = threading.Event()
    seen_by_other: list[object] = []

    def clean() -> None:
        for leftovers in cleaner.journal.leftovers():
            assert leftovers.entries == [entry]
            claimed.set()
            release.wait(10)
            seen_by_other.extend(other.journal.leftovers())
            leftovers.forget(entry)

    worker = threading.Thread(target=clean)
    worker.start()
    assert claimed.wait(10)
    release.set()
    worker.join(10)
    assert seen_by_other == [], "one cleaner at a time"
    assert cleaner.journal.empty()


def test_changes_are_polled_cheaply_by_revision(client: EtcdClient, etcd_prefix: str) -> None:
    store = store_on(client, etcd_prefix)
    store.publish("a.example.com", material("a1"))
    store.publish("b.example.com", material("b1"))
    revision = store.current_revision()
    assert store.changed_since(revision)[0] == []
    store.publish("b.example.com", material("b2"))
    changed, now = store.changed_since(revision)
    assert changed == ["b.example.com"] and now > revision


def test_publishers_racing_without_a_lock_get_distinct_versions(
    client: EtcdClient, etcd_prefix: str
) -> None:
    stores = [store_on(client, etcd_prefix, f"web{n}") for n in range(4)]
    versions: list[str] = []

    def publish(store: EtcdStore) -> None:
        versions.append(store.publish("example.com", material(store.origin)))

    threads = [threading.Thread(target=publish, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == ["0001", "0002", "0003", "0004"]
    live = stores[0].live("example.com")
    assert live is not None and live.version == "0004"
    tags = {live.material.privkey.split()[-1], live.material.cert.split()[-1]}
    assert len(tags) == 1


# --- opened from [store] settings, over TLS and with auth ------------------------------------


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.key"
    path.write_bytes(os.urandom(32))
    path.chmod(0o600)
    return path


def open_fleet(
    tmp_path: Path, cluster: EtcdCluster, prefix: str, section: dict[str, str]
) -> FleetStore:
    url = f"etcd://{','.join(cluster.endpoints())}{prefix}"
    settings = store_settings(
        url=None,
        key_file=None,
        environment={},
        section={"url": url, "key_file": str(key_file(tmp_path)), **section},
        config_path=str(tmp_path / "acmecf.toml"),
        config_dir=tmp_path,
    )
    store = open_store(tmp_path, settings)
    assert isinstance(store, FleetStore)
    return store


def test_the_store_over_tls_with_a_client_certificate(
    etcd_tls_cluster: EtcdCluster, etcd_prefix: str, tmp_path: Path
) -> None:
    tls = etcd_tls_cluster.tls
    assert tls is not None
    store = open_fleet(
        tmp_path,
        etcd_tls_cluster,
        etcd_prefix,
        {
            "etcd_ca_file": str(tls.ca_file),
            "etcd_cert_file": str(tls.client_certificate),
            "etcd_key_file": str(tls.client_key),
        },
    )
    store.save(certificate())
    store.publish("example.com", material("tls"))
    assert store.live("example.com").material == material("tls")  # type: ignore[union-attr]
    assert store.shared.client.urls[0].startswith("https://")


def test_the_store_with_user_and_password_auth(
    etcd_auth_cluster: EtcdCluster, etcd_prefix: str, tmp_path: Path
) -> None:
    section = {"etcd_user": "acmecf", "etcd_password_file": str(etcd_auth_cluster.password_file())}
    store = open_fleet(tmp_path, etcd_auth_cluster, etcd_prefix, section)
    store.save(certificate())
    assert store.names() == ["example.com"]
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    wrong.chmod(0o600)
    refused = open_fleet(
        tmp_path, etcd_auth_cluster, etcd_prefix, {**section, "etcd_password_file": str(wrong)}
    )
    with pytest.raises(EtcdAuthError, match="refused user 'acmecf'") as caught:
        refused.names()
    assert "\n" not in str(caught.value) and etcd_auth_cluster.endpoints()[0] in str(caught.value)
