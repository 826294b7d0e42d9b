"""Fixtures of the test bed's own tests: the etcd clusters of tests/etcd_fixtures.py."""

from tests.etcd_fixtures import (  # noqa: F401 (pytest finds fixtures by name)
    _etcd_auth_cluster,
    _etcd_cluster_of_three,
    etcd_auth_cluster,
    etcd_binary,
    etcd_cluster,
    etcd_prefix,
    etcd_tls_cluster,
)
