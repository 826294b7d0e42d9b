"""The errors of the etcd store, raised by the etcd client adapter.

Each is a `StoreError` whose message is one line naming the etcd endpoint(s) involved and what
to do; the attributes carry the same facts for callers that branch (never on message text).
These classes will move into acmecf/errors.py with the rest of the hierarchy.

Does not: import the etcd client library, so the CLI's error boundary can import this module
without loading it.
"""

from __future__ import annotations

from collections.abc import Sequence

from acmecf.errors import StoreError


def _names(endpoints: Sequence[str]) -> str:
    return ", ".join(endpoints) if endpoints else "(no endpoint)"


class EtcdError(StoreError):
    """An etcd request failed; ``endpoints`` are those tried, ``detail`` is etcd's own words."""

    def __init__(self, message: str, *, endpoints: Sequence[str] = (), detail: str = "") -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the detail held
        self.endpoints = tuple(endpoints)
        self.detail = detail


class EtcdUnavailableError(EtcdError):
    """No endpoint accepted a connection; nothing was sent, so nothing was changed."""

    def __init__(self, endpoints: Sequence[str], detail: str = "") -> None:
        reason = f" ({detail})" if detail else ""
        super().__init__(
            f"etcd is unreachable at {_names(endpoints)}{reason}: check that etcd runs there "
            "and that the store's endpoints, ports and http/https scheme are right",
            endpoints=endpoints,
            detail=detail,
        )


class EtcdTimeoutError(EtcdError):
    """etcd did not answer in time, or answered that it has no leader: most often no quorum.

    ``outcome_unknown`` is true when a write may still be applied (the request was sent).
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        timeout: float,
        detail: str = "",
        *,
        outcome_unknown: bool = False,
    ) -> None:
        reason = f" ({detail})" if detail else ""
        maybe = " the write may still be applied;" if outcome_unknown else ""
        super().__init__(
            f"etcd at {_names(endpoints)} gave no answer within {timeout:g} s{reason}: the "
            f"cluster may have no leader or have lost quorum;{maybe} check that a majority of "
            "its members are up (etcdctl endpoint health --cluster) and retry",
            endpoints=endpoints,
            detail=detail,
        )
        self.timeout = timeout
        self.outcome_unknown = outcome_unknown


class EtcdAuthError(EtcdError):
    """etcd refused the user name and password, or needs them and none were given."""

    def __init__(self, endpoint: str, user: str | None, detail: str = "") -> None:
        if user is None:
            message = (
                f"etcd at {endpoint} requires authentication ({detail}): configure the etcd "
                "user and its password file, or a client certificate whose name is a user"
            )
        else:
            message = (
                f"etcd at {endpoint} refused user {user!r} ({detail}): check the user name and "
                f"the password in its password file (etcdctl user get {user})"
            )
        super().__init__(message, endpoints=(endpoint,), detail=detail)
        self.user = user


class EtcdTLSError(EtcdError):
    """The TLS handshake with an endpoint failed (server not trusted, client certificate refused,
    or TLS spoken to a plain-HTTP listener)."""

    def __init__(self, endpoint: str, detail: str = "") -> None:
        super().__init__(
            f"TLS with etcd at {endpoint} failed ({detail}): check the etcd CA file (it must "
            "have signed the server's certificate), the client certificate and key, and that the "
            "endpoint speaks https",
            endpoints=(endpoint,),
            detail=detail,
        )


class EtcdPermissionError(EtcdError):
    """etcd's role-based access control refused the request for the user."""

    def __init__(self, endpoint: str, user: str | None, key: str, detail: str = "") -> None:
        who = f"user {user!r}" if user else "this client"
        super().__init__(
            f"etcd at {endpoint} denied {who} access to {key!r} ({detail}): grant the user's "
            "role readwrite on the store's prefix (etcdctl role grant-permission --prefix)",
            endpoints=(endpoint,),
            detail=detail,
        )
        self.user = user
        self.key = key


class EtcdRequestError(EtcdError):
    """etcd refused the request itself (too large, too many operations, compacted revision...)."""

    def __init__(self, endpoint: str, operation: str, detail: str, code: int | None) -> None:
        super().__init__(
            f"etcd at {endpoint} refused {operation}: {detail}; this is a bug in acmecf or an "
            "etcd limit (--max-request-bytes, --max-txn-ops): report it with this line",
            endpoints=(endpoint,),
            detail=detail,
        )
        self.code = code


class EtcdLeaseLostError(EtcdError):
    """A lease expired or was revoked while it was needed, so the lock it held is gone."""

    def __init__(self, endpoints: Sequence[str], lease_id: int, what: str = "") -> None:
        held = f" holding {what}" if what else ""
        super().__init__(
            f"etcd lease {lease_id:x}{held} expired or was revoked (etcd at {_names(endpoints)}): "
            "another origin may take over the work; retry on the next run",
            endpoints=endpoints,
        )
        self.lease_id = lease_id
