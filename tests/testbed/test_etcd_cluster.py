"""Specification of the etcd test cluster launcher (acmecf.sandbox.etcd).

These tests run real etcd members on free loopback ports, so they open sockets (allowed for the
test bed's own tests). They talk to etcd's HTTP gateway with plain requests, not with acmecf's
adapter, so a bug in one cannot hide a bug in the other. They fail in CI without etcd.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
import requests

from acmecf.sandbox.etcd import EtcdCluster, EtcdNotInstalled, find_binary


def session_for(cluster: EtcdCluster) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    if cluster.tls is not None:
        session.verify = str(cluster.tls.ca_file)
        session.cert = (str(cluster.tls.client_certificate), str(cluster.tls.client_key))
    return session


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def put(
    cluster: EtcdCluster, member: int, key: bytes, value: bytes, timeout: float = 10
) -> requests.Response:
    with session_for(cluster) as session:
        return session.post(
            f"{cluster.urls()[member]}/v3/kv/put",
            json={"key": b64(key), "value": b64(value)},
            timeout=timeout,
        )


def serializable_get(cluster: EtcdCluster, member: int, key: bytes) -> bytes | None:
    """The member's local copy of ``key`` (no quorum needed), or None if it has none."""
    with session_for(cluster) as session:
        response = session.post(
            f"{cluster.urls()[member]}/v3/kv/range",
            json={"key": b64(key), "serializable": True},
            timeout=5,
        )
    response.raise_for_status()
    kvs = response.json().get("kvs", [])
    return base64.b64decode(kvs[0]["value"]) if kvs else None


def test_members_listen_on_distinct_free_loopback_ports_never_the_defaults(
    etcd_cluster: EtcdCluster,
) -> None:
    ports = [member.client_port for member in etcd_cluster.members] + [
        member.peer_port for member in etcd_cluster.members
    ]
    assert len(set(ports)) == 6
    assert not set(ports) & {2379, 2380}
    assert all(url.startswith("http://127.0.0.1:") for url in etcd_cluster.urls())


def test_every_member_knows_the_same_three_members(etcd_cluster: EtcdCluster) -> None:
    with session_for(etcd_cluster) as session:
        listings = [
            session.post(f"{url}/v3/cluster/member/list", json={}, timeout=5).json()
            for url in etcd_cluster.urls()
        ]
    names = [sorted(member["name"] for member in listing["members"]) for listing in listings]
    assert names == [["member0", "member1", "member2"]] * 3


def test_a_write_to_one_member_is_replicated_to_the_others(etcd_cluster: EtcdCluster) -> None:
    assert put(etcd_cluster, 0, b"/launcher/replicated", b"yes").ok
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        copies = [
            serializable_get(etcd_cluster, index, b"/launcher/replicated") for index in (1, 2)
        ]
        if copies == [b"yes", b"yes"]:
            break
        time.sleep(0.05)
    assert copies == [b"yes", b"yes"]


def test_one_stopped_member_keeps_quorum(etcd_cluster: EtcdCluster) -> None:
    etcd_cluster.stop_member(0)
    assert not etcd_cluster.members[0].running
    etcd_cluster.wait_until_healthy()  # the others elect a leader if member0 was it
    assert etcd_cluster.has_quorum()
    assert put(etcd_cluster, 1, b"/launcher/one-down", b"ok").ok


def test_two_stopped_members_lose_quorum_and_a_restart_restores_it(
    etcd_cluster: EtcdCluster,
) -> None:
    etcd_cluster.stop_member(0)
    etcd_cluster.stop_member(1)
    assert not etcd_cluster.has_quorum()
    etcd_cluster.start_member(1)
    assert etcd_cluster.has_quorum()
    assert put(etcd_cluster, 2, b"/launcher/back", b"ok").ok


def test_a_killed_member_restarts_on_its_ports_and_catches_up(etcd_cluster: EtcdCluster) -> None:
    port = etcd_cluster.members[2].client_port
    etcd_cluster.kill_member(2)
    etcd_cluster.wait_until_healthy()
    assert put(etcd_cluster, 0, b"/launcher/while-down", b"missed").ok
    etcd_cluster.start_member(2)
    assert etcd_cluster.members[2].client_port == port
    assert serializable_get(etcd_cluster, 2, b"/launcher/while-down") == b"missed"


def test_the_cluster_names_one_leader_and_elects_another_when_it_dies(
    etcd_cluster: EtcdCluster,
) -> None:
    leader = etcd_cluster.leader()
    assert leader in (0, 1, 2)
    etcd_cluster.kill_member(leader)
    etcd_cluster.wait_until_healthy()
    successor = etcd_cluster.leader()
    assert successor in {0, 1, 2} - {leader}


def test_a_paused_member_answers_nothing_until_resumed(etcd_cluster: EtcdCluster) -> None:
    etcd_cluster.pause_member(0)
    with pytest.raises(requests.exceptions.Timeout):
        put(etcd_cluster, 0, b"/launcher/paused", b"x", timeout=1)
    etcd_cluster.resume_member(0)
    etcd_cluster.wait_until_healthy()
    assert put(etcd_cluster, 0, b"/launcher/paused", b"x").ok


def test_heal_restarts_stopped_and_thaws_paused_members(etcd_cluster: EtcdCluster) -> None:
    etcd_cluster.stop_member(1)
    etcd_cluster.pause_member(2)
    etcd_cluster.heal()
    assert all(member.running and not member.paused for member in etcd_cluster.members)
    assert all(put(etcd_cluster, index, b"/launcher/healed", b"ok").ok for index in range(3))


def test_stop_reaps_every_member_and_is_idempotent(tmp_path: Path, etcd_binary: str) -> None:
    cluster = EtcdCluster(tmp_path, size=1, binary=etcd_binary)
    cluster.start()
    process = cluster.members[0].process
    cluster.stop()
    cluster.stop()
    assert process is not None and process.returncode is not None


def test_tls_cluster_accepts_only_clients_with_a_certificate_from_its_ca(
    etcd_tls_cluster: EtcdCluster,
) -> None:
    assert etcd_tls_cluster.tls is not None
    assert etcd_tls_cluster.urls()[0].startswith("https://127.0.0.1:")
    assert put(etcd_tls_cluster, 0, b"/launcher/tls", b"ok").ok
    with requests.Session() as anonymous:
        anonymous.trust_env = False
        anonymous.verify = str(etcd_tls_cluster.tls.ca_file)
        with pytest.raises(requests.exceptions.RequestException):
            anonymous.post(
                f"{etcd_tls_cluster.urls()[0]}/v3/kv/range",
                json={"key": b64(b"/launcher/tls")},
                timeout=5,
            ).raise_for_status()


def test_auth_cluster_refuses_anonymous_writes_and_stores_passwords_owner_only(
    etcd_auth_cluster: EtcdCluster,
) -> None:
    response = put(etcd_auth_cluster, 0, b"/acmecf/anonymous", b"x")
    assert response.status_code == 400
    assert "user name is empty" in response.text
    for user in ("root", "acmecf"):
        path = etcd_auth_cluster.password_file(user)
        assert path.stat().st_mode & 0o077 == 0
        assert path.read_text().strip() == etcd_auth_cluster.passwords[user]


def test_missing_binary_says_which_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(EtcdNotInstalled, match="apt-get install etcd-server"):
        find_binary(str(tmp_path / "no-etcd-here"))
