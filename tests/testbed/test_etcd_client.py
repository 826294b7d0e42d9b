"""Specification of the etcd client adapter (acmecf.storage.etcd.client) against real etcd.

Most tests run the adapter against a real 3-member etcd cluster on free loopback ports (and a
TLS and an auth cluster), stopping, killing and pausing members to check failover, quorum
loss and lock takeover. They fail in CI without etcd. The tests at the end need no cluster
and open no socket.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from acmecf.errors import (
    EtcdAuthError,
    EtcdError,
    EtcdLeaseLostError,
    EtcdPermissionError,
    EtcdTimeoutError,
    EtcdTLSError,
    EtcdUnavailableError,
    LockedError,
    UsageError,
)
from acmecf.sandbox.etcd import EtcdCluster, write_test_ca
from acmecf.sandbox.pebble import find_free_port
from acmecf.storage.etcd.client import (
    MAX_TXN_OPERATIONS,
    Compare,
    Delete,
    EtcdClient,
    EtcdSettings,
    Get,
    Put,
    parse_endpoints,
    read_password_file,
)

REPOSITORY = Path(__file__).resolve().parents[2]


def settings_for(cluster: EtcdCluster, **changes: object) -> EtcdSettings:
    """Settings that reach ``cluster`` with everything it requires (certificates, password)."""
    settings = EtcdSettings(endpoints=tuple(cluster.endpoints()))
    if cluster.tls is not None:
        settings = replace(
            settings,
            ca_file=cluster.tls.ca_file,
            cert_file=cluster.tls.client_certificate,
            key_file=cluster.tls.client_key,
        )
    if cluster.passwords:
        settings = replace(settings, user="acmecf", password_file=cluster.password_file("acmecf"))
    return replace(settings, **changes)  # type: ignore[arg-type]


@pytest.fixture
def client(etcd_cluster: EtcdCluster) -> Iterator[EtcdClient]:
    with EtcdClient(settings_for(etcd_cluster)) as connected:
        yield connected


@pytest.fixture
def two_clients(etcd_cluster: EtcdCluster) -> Iterator[tuple[EtcdClient, EtcdClient]]:
    """Two clients of one cluster, as two origins of a fleet hold them."""
    with (
        EtcdClient(settings_for(etcd_cluster)) as first,
        EtcdClient(settings_for(etcd_cluster)) as second,
    ):
        yield first, second


def assert_one_line_naming(error: EtcdError, *endpoints: str) -> None:
    message = str(error)
    assert "\n" not in message
    for endpoint in endpoints:
        assert endpoint in message


def put_many(client: EtcdClient, items: dict[str, bytes]) -> None:
    """Write ``items`` in as few transactions as etcd allows."""
    keys = sorted(items)
    for start in range(0, len(keys), MAX_TXN_OPERATIONS):
        batch = keys[start : start + MAX_TXN_OPERATIONS]
        client.txn([], [Put(key, items[key]) for key in batch], idempotent=True)


# -- keys -----------------------------------------------------------------------------------------


def test_put_then_get_returns_the_value_and_its_revisions(
    client: EtcdClient, etcd_prefix: str
) -> None:
    client.put(etcd_prefix + "key", b"\x00binary\xff")
    first = client.get(etcd_prefix + "key")
    client.put(etcd_prefix + "key", b"second")
    second = client.get(etcd_prefix + "key")
    assert first is not None and second is not None
    assert (first.value, second.value) == (b"\x00binary\xff", b"second")
    assert second.create_revision == first.create_revision
    assert second.mod_revision > first.mod_revision
    assert (first.version, second.version, second.lease) == (1, 2, 0)


def test_get_of_a_missing_key_is_none(client: EtcdClient, etcd_prefix: str) -> None:
    assert client.get(etcd_prefix + "never-written") is None


def test_keys_are_utf8(client: EtcdClient, etcd_prefix: str) -> None:
    client.put(etcd_prefix + "bücher.example", b"v")
    [stored] = client.get_prefix(etcd_prefix)
    assert stored.key == etcd_prefix + "bücher.example"


def test_get_prefix_pages_through_2000_keys_in_key_order(
    client: EtcdClient, etcd_prefix: str
) -> None:
    items = {f"{etcd_prefix}{index:05d}": f"value {index}".encode() for index in range(2000)}
    put_many(client, items)
    client.put(etcd_prefix[:-1] + "0", b"just past the prefix")
    started = time.monotonic()
    found = client.get_prefix(etcd_prefix, page_size=300)
    elapsed = time.monotonic() - started
    print(f"get_prefix: 2000 keys in pages of 300 took {elapsed:.2f} s")
    assert [kv.key for kv in found] == sorted(items)
    assert {kv.key: kv.value for kv in found} == items


def test_get_prefix_is_one_snapshot_across_pages(client: EtcdClient, etcd_prefix: str) -> None:
    items = {f"{etcd_prefix}{index:04d}": b"old" for index in range(250)}
    put_many(client, items)
    pages = client.iterate_prefix(etcd_prefix, page_size=100)
    first = next(pages)
    client.put(etcd_prefix + "9999-added-later", b"new")
    client.delete(etcd_prefix + "0249")
    client.put(etcd_prefix + "0200", b"changed")
    rest = list(pages)
    assert [kv.key for kv in [first, *rest]] == sorted(items)
    assert {kv.value for kv in rest} == {b"old"}


def test_delete_reports_whether_the_key_existed(client: EtcdClient, etcd_prefix: str) -> None:
    client.put(etcd_prefix + "doomed", b"x")
    assert client.delete(etcd_prefix + "doomed") is True
    assert client.delete(etcd_prefix + "doomed") is False
    assert client.get(etcd_prefix + "doomed") is None


def test_delete_prefix_removes_the_prefix_and_nothing_beside_it(
    client: EtcdClient, etcd_prefix: str
) -> None:
    put_many(client, {f"{etcd_prefix}a/{index}": b"x" for index in range(5)})
    client.put(etcd_prefix + "a-sibling", b"stays")
    assert client.delete_prefix(etcd_prefix + "a/") == 5
    assert [kv.key for kv in client.get_prefix(etcd_prefix)] == [etcd_prefix + "a-sibling"]


# -- transactions ---------------------------------------------------------------------------------


def test_transaction_applies_every_operation_when_its_compares_hold(
    client: EtcdClient, etcd_prefix: str
) -> None:
    live, old = etcd_prefix + "live", etcd_prefix + "versions/1"
    client.put(live, b"1")
    client.put(old, b"chain 1")
    pointer = client.get(live)
    assert pointer is not None
    result = client.txn(
        [Compare.mod_revision_is(live, pointer.mod_revision)],
        [Put(etcd_prefix + "versions/2", b"chain 2"), Put(live, b"2"), Delete(old)],
    )
    assert result.succeeded
    assert {kv.key: kv.value for kv in client.get_prefix(etcd_prefix)} == {
        live: b"2",
        etcd_prefix + "versions/2": b"chain 2",
    }
    assert client.get(live).mod_revision == result.revision  # type: ignore[union-attr]


def test_transaction_with_one_failed_compare_applies_nothing(
    client: EtcdClient, etcd_prefix: str
) -> None:
    live = etcd_prefix + "live"
    client.put(live, b"1")
    client.put(etcd_prefix + "keep", b"kept")
    before = client.get_prefix(etcd_prefix)
    result = client.txn(
        [Compare.value_is(live, b"1"), Compare.absent(etcd_prefix + "keep")],
        [Put(live, b"2"), Put(etcd_prefix + "new", b"x"), Delete(etcd_prefix + "keep")],
        [Get(live)],
    )
    assert not result.succeeded
    assert [kv.value for kv in result.kvs] == [b"1"]
    assert client.get_prefix(etcd_prefix) == before


def test_create_succeeds_only_for_the_first_caller(client: EtcdClient, etcd_prefix: str) -> None:
    assert client.create(etcd_prefix + "once", b"first") is True
    assert client.create(etcd_prefix + "once", b"second") is False
    assert client.get(etcd_prefix + "once").value == b"first"  # type: ignore[union-attr]


def test_compare_and_swap_needs_the_expected_value_or_revision(
    client: EtcdClient, etcd_prefix: str
) -> None:
    key = etcd_prefix + "pointer"
    client.put(key, b"v1")
    current = client.get(key)
    assert current is not None
    assert client.compare_and_swap(key, b"v2", expected_value=b"stale") is False
    assert client.compare_and_swap(key, b"v2", expected_mod_revision=current.mod_revision)
    assert not client.compare_and_swap(key, b"v3", expected_mod_revision=current.mod_revision)
    assert client.compare_and_swap(key, b"v3", expected_value=b"v2")
    assert client.get(key).value == b"v3"  # type: ignore[union-attr]


def test_one_client_serves_many_threads_and_concurrent_swaps_lose_no_update(
    client: EtcdClient, etcd_prefix: str
) -> None:
    counter = etcd_prefix + "counter"
    client.put(counter, b"0")
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for item in range(25):
                client.put(f"{etcd_prefix}threads/{number}/{item}", b"x")
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    def incrementer() -> None:
        try:
            for _ in range(20):
                while True:
                    current = client.get(counter)
                    assert current is not None
                    swapped = client.compare_and_swap(
                        counter,
                        str(int(current.value) + 1).encode(),
                        expected_mod_revision=current.mod_revision,
                    )
                    if swapped:
                        break
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(6)]
    threads += [threading.Thread(target=incrementer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(client.get_prefix(etcd_prefix + "threads/")) == 150
    assert client.get(counter).value == b"80"  # type: ignore[union-attr]


# -- leases and locks -----------------------------------------------------------------------------


def test_a_held_lock_cannot_be_taken_and_a_released_one_can_at_once(
    two_clients: tuple[EtcdClient, EtcdClient], etcd_prefix: str
) -> None:
    first, second = two_clients
    key = etcd_prefix + "lock"
    lock = first.try_lock(key, ttl=10, owner=b"origin-a")
    assert lock is not None
    assert second.try_lock(key, ttl=10, owner=b"origin-b") is None
    holder = second.get(key)
    assert holder is not None and (holder.value, holder.lease) == (b"origin-a", lock.lease.id)
    lock.release()
    lock.release()  # idempotent
    assert second.get(key) is None
    taken = second.try_lock(key, ttl=10, owner=b"origin-b")
    assert taken is not None
    taken.release()


def test_lock_waits_for_the_holder_to_release_it(
    two_clients: tuple[EtcdClient, EtcdClient], etcd_prefix: str
) -> None:
    first, second = two_clients
    key = etcd_prefix + "lock"
    held = first.lock(key, ttl=10, wait=0, owner=b"origin-a")
    releaser = threading.Timer(0.5, held.release)
    releaser.start()
    started = time.monotonic()
    with second.lock(key, ttl=10, wait=5, owner=b"origin-b") as taken:
        waited = time.monotonic() - started
        assert second.get(key).value == b"origin-b"  # type: ignore[union-attr]
        assert not taken.lost
    releaser.join()
    assert 0.4 < waited < 2.0
    assert second.get(key) is None


def test_lock_gives_up_after_its_wait_naming_the_holder(
    two_clients: tuple[EtcdClient, EtcdClient], etcd_prefix: str
) -> None:
    first, second = two_clients
    key = etcd_prefix + "lock"
    with first.lock(key, ttl=10, wait=0, owner=b"origin-a"):
        started = time.monotonic()
        with pytest.raises(LockedError, match="origin-a") as raised:
            second.lock(key, ttl=10, wait=1.0, owner=b"origin-b")
        assert 0.9 < time.monotonic() - started < 2.0
    assert raised.value.holder == "origin-a"
    assert "\n" not in str(raised.value)


def test_the_lock_of_a_killed_holder_is_taken_over_when_its_lease_expires(
    etcd_cluster: EtcdCluster, etcd_prefix: str
) -> None:
    key = etcd_prefix + "lock"
    holder_script = (
        "import sys\n"
        "from acmecf.storage.etcd.client import EtcdClient, EtcdSettings\n"
        "client = EtcdClient(EtcdSettings(tuple(sys.argv[1].split(','))))\n"
        "lock = client.try_lock(sys.argv[2], ttl=2, owner=b'doomed')\n"
        "print('locked' if lock else 'busy', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_script, ",".join(etcd_cluster.endpoints()), key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPOSITORY,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"locked"
        holder.kill()
        killed = time.monotonic()
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    with EtcdClient(settings_for(etcd_cluster)) as survivor:
        assert survivor.try_lock(key, ttl=2) is None, "the lease outlives its holder by its TTL"
        lock = None
        while lock is None and time.monotonic() - killed < 10:
            time.sleep(0.2)
            lock = survivor.try_lock(key, ttl=10, owner=b"survivor")
        waited = time.monotonic() - killed
        print(f"lock taken over {waited:.2f} s after its holder was killed (ttl 2 s)")
        assert lock is not None
        assert 0.5 < waited < 6
        lock.release()


def test_keepalive_holds_a_lock_well_past_its_ttl(
    two_clients: tuple[EtcdClient, EtcdClient], etcd_prefix: str
) -> None:
    holder, rival = two_clients
    key = etcd_prefix + "lock"
    lock = holder.try_lock(key, ttl=2)
    assert lock is not None
    time.sleep(5)
    assert not lock.lost
    assert rival.try_lock(key, ttl=2) is None
    remaining = rival.lease_ttl(lock.lease.id)
    assert remaining is not None and remaining > 0
    lock.release()
    assert rival.lease_ttl(lock.lease.id) is None


def test_a_lost_lease_is_reported_and_its_holder_cannot_commit(
    two_clients: tuple[EtcdClient, EtcdClient], etcd_prefix: str
) -> None:
    holder, other = two_clients
    key = etcd_prefix + "lock"
    lock = holder.try_lock(key, ttl=3)
    assert lock is not None
    other.revoke_lease(lock.lease.id)  # as if it had expired during a partition
    deadline = time.monotonic() + 5
    while not lock.lost and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock.lost
    with pytest.raises(EtcdLeaseLostError, match=key):
        lock.check()
    commit = holder.txn([lock.still_held()], [Put(etcd_prefix + "result", b"late")])
    assert not commit.succeeded
    assert holder.get(etcd_prefix + "result") is None
    lock.release()  # revoking an already revoked lease is no error


def test_refreshing_a_revoked_lease_raises_lease_lost(client: EtcdClient) -> None:
    lease = client.grant_lease(5)
    assert client.refresh_lease(lease.id) > 0
    client.revoke_lease(lease.id)
    client.revoke_lease(lease.id)
    with pytest.raises(EtcdLeaseLostError):
        client.refresh_lease(lease.id)


# -- faults -------------------------------------------------------------------------------------


def test_requests_fail_over_when_the_first_endpoints_member_is_stopped(
    etcd_cluster: EtcdCluster, etcd_prefix: str
) -> None:
    with EtcdClient(settings_for(etcd_cluster)) as client:
        client.put(etcd_prefix + "before", b"1")  # connected to member0 first
        etcd_cluster.stop_member(0)
        etcd_cluster.wait_until_healthy()
        started = time.monotonic()
        client.put(etcd_prefix + "after", b"2")
        assert client.create(etcd_prefix + "created", b"3")
        assert client.get(etcd_prefix + "before").value == b"1"  # type: ignore[union-attr]
        elapsed = time.monotonic() - started
    print(f"three requests with the first endpoint's member stopped: {elapsed:.2f} s")
    assert elapsed < 1.0


def test_requests_fail_over_from_a_hung_member_within_the_timeout(
    etcd_cluster: EtcdCluster, etcd_prefix: str
) -> None:
    etcd_cluster.pause_member(0)
    etcd_cluster.wait_until_healthy()
    with EtcdClient(settings_for(etcd_cluster, timeout=3.0)) as client:
        started = time.monotonic()
        client.put(etcd_prefix + "key", b"1")
        first = time.monotonic() - started
        assert client.create(etcd_prefix + "then", b"2")  # goes straight to a live member
        total = time.monotonic() - started
    print(f"first request past a hung member: {first:.2f} s; the next one: {total - first:.2f} s")
    assert first < 3.0
    assert total - first < 0.5


def test_killing_the_leader_keeps_writes_and_locks_working(
    etcd_cluster: EtcdCluster, etcd_prefix: str
) -> None:
    leader = etcd_cluster.leader()
    assert leader is not None
    # A follower first: it forwards writes to the leader, and loses those in flight with it.
    endpoints = etcd_cluster.endpoints()
    order = [index for index in range(3) if index != leader] + [leader]
    settings = settings_for(etcd_cluster, endpoints=tuple(endpoints[i] for i in order))
    with EtcdClient(settings) as client:
        client.get(etcd_prefix + "warm-up")
        etcd_cluster.kill_member(leader)  # no waiting for the election: requests ride it out
        started = time.monotonic()
        put_many(client, {f"{etcd_prefix}{index}": b"x" for index in range(200)})
        lock = client.try_lock(etcd_prefix + "lock", ttl=5)
        elapsed = time.monotonic() - started
        assert lock is not None
        lock.release()
        assert len(client.get_prefix(etcd_prefix)) == 200
    print(f"writes and a lock right after the leader was killed: {elapsed:.2f} s")


def test_without_quorum_every_call_fails_with_one_line_in_bounded_time(
    etcd_cluster: EtcdCluster, etcd_prefix: str
) -> None:
    etcd_cluster.stop_member(0)
    etcd_cluster.stop_member(1)
    urls = etcd_cluster.urls()
    with EtcdClient(settings_for(etcd_cluster, timeout=2.0)) as client:
        calls: list[Callable[[], object]] = [
            lambda: client.put(etcd_prefix + "key", b"x"),
            lambda: client.get(etcd_prefix + "key"),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(EtcdTimeoutError) as raised:
                call()
            elapsed = time.monotonic() - started
            print(f"no quorum: {elapsed:.2f} s to: {raised.value}")
            assert 1.5 < elapsed < 3.0
            assert_one_line_naming(raised.value, *urls)
            assert "quorum" in str(raised.value)
        started = time.monotonic()
        with pytest.raises(EtcdTimeoutError) as raised:
            client.create(etcd_prefix + "key", b"x")
        assert time.monotonic() - started < 3.0
        assert raised.value.outcome_unknown
        assert "may still be applied" in str(raised.value)


def test_an_unreachable_cluster_fails_at_once_naming_every_endpoint() -> None:
    endpoints = (f"127.0.0.1:{find_free_port()}", f"127.0.0.1:{find_free_port()}")
    with EtcdClient(EtcdSettings(endpoints=endpoints)) as client:
        started = time.monotonic()
        with pytest.raises(EtcdUnavailableError) as raised:
            client.get("/anything")
        assert time.monotonic() - started < 1.0
    assert_one_line_naming(raised.value, *(f"http://{endpoint}" for endpoint in endpoints))
    assert "refused" in str(raised.value)


# -- TLS ----------------------------------------------------------------------------------------


def test_tls_with_ca_and_client_certificate_works_whatever_requests_ca_bundle_says(
    etcd_tls_cluster: EtcdCluster, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert etcd_tls_cluster.tls is not None
    # A bundle that does not hold the test CA: requests would use it in place of ca_file.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(etcd_tls_cluster.tls.client_certificate))
    with EtcdClient(settings_for(etcd_tls_cluster)) as client:
        assert client.urls[0].startswith("https://")
        client.put(etcd_prefix + "tls", b"secret")
        assert client.get(etcd_prefix + "tls").value == b"secret"  # type: ignore[union-attr]


def test_tls_with_an_untrusted_server_certificate_is_a_tls_error(
    etcd_tls_cluster: EtcdCluster, tmp_path: Path
) -> None:
    other_ca, _ = write_test_ca(tmp_path, "other")
    settings = settings_for(etcd_tls_cluster, ca_file=other_ca)
    with EtcdClient(settings) as client, pytest.raises(EtcdTLSError, match="not trusted") as raised:
        client.get("/acmecf/x")
    assert_one_line_naming(raised.value, etcd_tls_cluster.urls()[0])


def test_tls_without_a_client_certificate_is_a_tls_error(etcd_tls_cluster: EtcdCluster) -> None:
    settings = settings_for(etcd_tls_cluster, cert_file=None, key_file=None)
    with EtcdClient(settings) as client, pytest.raises(EtcdTLSError) as raised:
        client.get("/acmecf/x")
    assert "client certificate" in str(raised.value)
    assert_one_line_naming(raised.value, etcd_tls_cluster.urls()[0])


def test_plain_http_to_a_tls_endpoint_says_to_use_https(etcd_tls_cluster: EtcdCluster) -> None:
    endpoints = tuple(f"http://{endpoint}" for endpoint in etcd_tls_cluster.endpoints())
    with EtcdClient(EtcdSettings(endpoints=endpoints, timeout=2.0)) as client:
        started = time.monotonic()
        with pytest.raises(EtcdUnavailableError, match="https") as raised:
            client.get("/acmecf/x")
        assert time.monotonic() - started < 1.0
    assert_one_line_naming(raised.value, *endpoints)


# -- auth ---------------------------------------------------------------------------------------


def test_user_and_password_file_give_access_to_the_users_prefix(
    etcd_auth_cluster: EtcdCluster, etcd_prefix: str
) -> None:
    with EtcdClient(settings_for(etcd_auth_cluster)) as client:
        client.put(etcd_prefix + "key", b"v")
        assert client.get(etcd_prefix + "key").value == b"v"  # type: ignore[union-attr]
        lock = client.try_lock(etcd_prefix + "lock", ttl=5)
        assert lock is not None
        lock.release()


def test_a_wrong_password_is_an_auth_error_naming_the_user(
    etcd_auth_cluster: EtcdCluster, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    settings = settings_for(etcd_auth_cluster, password_file=wrong)
    with EtcdClient(settings) as client, pytest.raises(EtcdAuthError, match="'acmecf'") as raised:
        client.get("/acmecf/key")
    assert_one_line_naming(raised.value)
    assert "password" in str(raised.value)


def test_no_credentials_for_an_auth_cluster_is_an_auth_error(
    etcd_auth_cluster: EtcdCluster,
) -> None:
    settings = settings_for(etcd_auth_cluster, user=None, password_file=None)
    with EtcdClient(settings) as client, pytest.raises(EtcdAuthError, match="requires auth"):
        client.put("/acmecf/key", b"x")


def test_a_key_outside_the_users_permissions_is_a_permission_error(
    etcd_auth_cluster: EtcdCluster,
) -> None:
    with (
        EtcdClient(settings_for(etcd_auth_cluster)) as client,
        pytest.raises(EtcdPermissionError, match="/elsewhere/key") as raised,
    ):
        client.put("/elsewhere/key", b"x")
    assert "grant" in str(raised.value)
    assert_one_line_naming(raised.value)


def test_a_token_forgotten_by_restarted_members_is_renewed(
    etcd_auth_cluster: EtcdCluster, etcd_prefix: str
) -> None:
    with EtcdClient(settings_for(etcd_auth_cluster)) as client:
        client.put(etcd_prefix + "before", b"1")
        for index in range(3):
            etcd_auth_cluster.stop_member(index)
        for index in range(3):
            etcd_auth_cluster.start_member(index, wait=False)
        etcd_auth_cluster.wait_until_healthy()
        client.put(etcd_prefix + "after", b"2")
        assert client.get(etcd_prefix + "before").value == b"1"  # type: ignore[union-attr]


def test_auth_survives_failover_to_another_member(
    etcd_auth_cluster: EtcdCluster, etcd_prefix: str
) -> None:
    with EtcdClient(settings_for(etcd_auth_cluster)) as client:
        client.put(etcd_prefix + "before", b"1")
        etcd_auth_cluster.stop_member(0)
        etcd_auth_cluster.wait_until_healthy()
        client.put(etcd_prefix + "after", b"2")
        assert [kv.key for kv in client.get_prefix(etcd_prefix)] == [
            etcd_prefix + "after",
            etcd_prefix + "before",
        ]


# -- without a cluster (no sockets) -------------------------------------------------------------


def test_endpoints_become_urls_with_the_default_port_and_scheme() -> None:
    assert parse_endpoints(
        ["etcd1:2379", "etcd2", "https://[::1]:2400", "etcd1:2379"], tls=False
    ) == (
        "http://etcd1:2379",
        "http://etcd2:2379",
        "https://[::1]:2400",
    )
    assert parse_endpoints(["etcd1"], tls=True) == ("https://etcd1:2379",)


@pytest.mark.parametrize("endpoint", ["", "ftp://etcd:1", "etcd:port", "etcd:2379/prefix"])
def test_a_bad_endpoint_is_a_usage_error(endpoint: str) -> None:
    with pytest.raises(UsageError, match="etcd endpoint"):
        parse_endpoints([endpoint, ""] if endpoint else [""], tls=False)


def test_a_password_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    path.chmod(0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        read_password_file(path)
    path.chmod(0o600)
    assert read_password_file(path) == "s3cret"


def test_settings_need_both_halves_of_a_client_certificate_and_of_a_login(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="certificate and key"):
        EtcdClient(EtcdSettings(endpoints=("etcd:2379",), cert_file=tmp_path / "client.pem"))
    with pytest.raises(UsageError, match="user and the password file"):
        EtcdClient(EtcdSettings(endpoints=("etcd:2379",), user="acmecf"))


def test_an_unreadable_tls_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(UsageError, match=r"missing-ca\.pem"):
        EtcdClient(EtcdSettings(endpoints=("etcd:2379",), ca_file=missing))


def test_importing_the_etcd_package_and_its_errors_loads_no_client_library() -> None:
    code = (
        "import sys, acmecf.storage.etcd, acmecf.errors\n"
        "print(sorted(m for m in ('etcd3gw', 'requests') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.stdout.strip() == "[]"
