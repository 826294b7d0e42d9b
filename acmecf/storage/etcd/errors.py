"""The errors of the etcd store, raised by the etcd client adapter: defined in acmecf.errors
(where every exception of acmecf lives) and importable from here too.

Does not: import the etcd client library, so the CLI's error boundary can import this module
without loading it.
"""

from acmecf.errors import (
    EtcdAuthError,
    EtcdError,
    EtcdLeaseLostError,
    EtcdPermissionError,
    EtcdRequestError,
    EtcdTimeoutError,
    EtcdTLSError,
    EtcdUnavailableError,
)

__all__ = [
    "EtcdAuthError",
    "EtcdError",
    "EtcdLeaseLostError",
    "EtcdPermissionError",
    "EtcdRequestError",
    "EtcdTLSError",
    "EtcdTimeoutError",
    "EtcdUnavailableError",
]
