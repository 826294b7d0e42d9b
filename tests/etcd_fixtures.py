"""Pytest fixtures with real etcd clusters on free loopback ports, for any test that needs one.

Import the fixtures you use into a conftest.py (``from tests.etcd_fixtures import *`` names
them all). One cluster of each kind serves the whole session; `etcd_cluster` heals its
cluster before and after each test, so a test may stop, kill or pause members freely.
Integration tests fail, not skip, in CI (CI set) when etcd is missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from acmecf.sandbox.etcd import EtcdCluster, EtcdNotInstalled, find_binary

__all__ = [
    "etcd_auth_cluster",
    "etcd_binary",
    "etcd_cluster",
    "etcd_prefix",
    "etcd_tls_cluster",
]


@pytest.fixture(scope="session")
def etcd_binary() -> str:
    """The etcd executable; skips the test without one, except in CI where that is a failure."""
    try:
        return find_binary()
    except EtcdNotInstalled as err:
        if os.environ.get("CI"):
            pytest.fail(f"etcd tests need etcd in CI: {err}")
        pytest.skip(str(err))


def _session_cluster(
    factory: pytest.TempPathFactory,
    binary: str,
    name: str,
    *,
    size: int,
    tls: bool = False,
    auth: bool = False,
) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(factory.mktemp(name), binary=binary, size=size, tls=tls, auth=auth)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def _etcd_cluster_of_three(
    tmp_path_factory: pytest.TempPathFactory, etcd_binary: str
) -> Iterator[EtcdCluster]:
    yield from _session_cluster(tmp_path_factory, etcd_binary, "etcd", size=3)


@pytest.fixture
def etcd_cluster(_etcd_cluster_of_three: EtcdCluster) -> Iterator[EtcdCluster]:
    """A healthy 3-member plain-HTTP cluster, healed again after the test's faults."""
    _etcd_cluster_of_three.heal()
    yield _etcd_cluster_of_three
    _etcd_cluster_of_three.heal()


@pytest.fixture(scope="session")
def etcd_tls_cluster(
    tmp_path_factory: pytest.TempPathFactory, etcd_binary: str
) -> Iterator[EtcdCluster]:
    """A 1-member cluster speaking only TLS with client certificates (see `cluster.tls`)."""
    yield from _session_cluster(tmp_path_factory, etcd_binary, "etcd-tls", size=1, tls=True)


@pytest.fixture(scope="session")
def _etcd_auth_cluster(
    tmp_path_factory: pytest.TempPathFactory, etcd_binary: str
) -> Iterator[EtcdCluster]:
    yield from _session_cluster(tmp_path_factory, etcd_binary, "etcd-auth", size=3, auth=True)


@pytest.fixture
def etcd_auth_cluster(_etcd_auth_cluster: EtcdCluster) -> Iterator[EtcdCluster]:
    """A 3-member cluster with auth on: ``acmecf`` may use keys under /acmecf/ only."""
    _etcd_auth_cluster.heal()
    yield _etcd_auth_cluster
    _etcd_auth_cluster.heal()


@pytest.fixture
def etcd_prefix() -> str:
    """A key prefix no other test uses (under /acmecf/, where the auth cluster's user may go)."""
    return f"/acmecf/test-{uuid.uuid4().hex[:12]}/"
