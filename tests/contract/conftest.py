"""Fixtures of the contract suites: the etcd cluster the etcd store runs on."""

from tests.etcd_fixtures import (  # noqa: F401 (pytest finds fixtures by name)
    _etcd_cluster_of_three,
    etcd_binary,
    etcd_cluster,
    etcd_prefix,
)
