"""The exception hierarchy of acmecf: every exception the package raises on purpose.

Every error a user can cause or meet is an `AcmecfError` whose message is one line that says
what went wrong and what to do about it. Errors carry their data (HTTP status, API codes, the
file and key at fault) as attributes, so callers branch on attributes, never on message text.
The CLI is the only place that turns these into exit codes. This module does not log, print
or exit.
"""

from __future__ import annotations

from collections.abc import Sequence


class AcmecfError(Exception):
    """An expected failure. `str(error)` is the single line shown to the user."""

    exit_code = 1


class UsageError(AcmecfError):
    """The command line, the environment or a configuration file asks for something invalid."""

    exit_code = 2


class InvalidNameError(UsageError):
    """A requested domain name cannot be put in a certificate."""


class CredentialsError(UsageError):
    """Cloudflare credentials are missing, unreadable or unsafely stored."""


class Interrupted(AcmecfError):
    """The run was interrupted (Ctrl-C, SIGTERM); what it had started was cleaned up."""

    exit_code = 130


# --- storage ---------------------------------------------------------------------------------


class StoreError(AcmecfError):
    """Files under the configuration directory (or the shared store) could not be read or
    written."""


class UnsafePathError(StoreError):
    """A path inside the configuration directory is a link, or writable or owned by someone
    else: acmecf refuses to follow or trust it. `path` names it."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class StoredFileError(StoreError):
    """A stored file does not match its schema. `path` and `key` name what is wrong."""

    def __init__(self, path: str, key: str | None, problem: str) -> None:
        where = f"{path}: {key}" if key else path
        super().__init__(
            f"{where}: {problem}; fix the file (or remove it and issue the certificate again)"
        )
        self.path = path
        self.key = key
        self.problem = problem


class CertificateNotFoundError(UsageError):
    """No certificate of that name is stored."""

    def __init__(self, cert_name: str, where: str) -> None:
        super().__init__(f"no certificate named {cert_name!r} in {where}: see `acmecf list`")
        self.cert_name = cert_name


class FleetKeyError(UsageError):
    """The fleet key, which encrypts private keys in a shared store, is missing, unreadable,
    not 32 bytes, or not the key the store was written with."""


class LockedError(StoreError):
    """Another acmecf run holds the lock; `holder` describes it (a pid, or an origin)."""

    def __init__(self, message: str, *, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


# --- the etcd store (a fleet of origins) -----------------------------------------------------
# Raised by storage/etcd/client.py: each message is one line naming the etcd endpoint(s)
# involved and what to do; the attributes carry the same facts for callers that branch.


def _endpoints(endpoints: Sequence[str]) -> str:
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
            f"etcd is unreachable at {_endpoints(endpoints)}{reason}: check that etcd runs there "
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
            f"etcd at {_endpoints(endpoints)} gave no answer within {timeout:g} s{reason}: the "
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
            f"etcd lease {lease_id:x}{held} expired or was revoked (etcd at "
            f"{_endpoints(endpoints)}): another origin may take over the work; retry on the next "
            "run",
            endpoints=endpoints,
        )
        self.lease_id = lease_id


# --- Cloudflare ------------------------------------------------------------------------------


class CloudflareError(AcmecfError):
    """The Cloudflare API refused or failed a request; the message carries the remedy.

    `status` is the HTTP status (None when no reply came), `codes` the API error codes of the
    reply (and of its `error_chain`), `action` what acmecf was doing.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        codes: Sequence[int] = (),
        action: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.codes = tuple(codes)
        self.action = action


class ZoneNotFoundError(CloudflareError):
    """No Cloudflare zone visible to the credentials contains a requested name."""


class CloudflareUnreachable(CloudflareError):
    """No reply from the Cloudflare API (network, timeout, 5xx) after the retries."""


class RecordMissing(CloudflareError):
    """The object to delete was not there (HTTP 404): for a delete, that counts as done."""


class RecordExists(CloudflareError):
    """An identical record already exists (codes 81057, 81058)."""


# --- DNS, ACME, certificates -----------------------------------------------------------------


class PropagationError(AcmecfError):
    """The authoritative nameservers did not serve every challenge record in time."""


class AcmeError(AcmecfError):
    """The ACME server refused a request or failed an order.

    `problem` is the RFC 8555 §6.7 problem type without its URN prefix ("badNonce",
    "rateLimited", ...) when the CA sent one; `retry_after` the seconds it asked to wait.
    """

    def __init__(
        self, message: str, *, problem: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.retry_after = retry_after


class ValidationFailed(AcmeError):
    """The CA looked for a challenge record and did not find it (RFC 8555 §8: the
    authorization is invalid for good; a new order is needed)."""


class AlreadyReplaced(AcmeError):
    """The CA refused an order's `replaces` because another order already replaced that
    certificate (RFC 9773 §5, alreadyReplaced): another machine with the same account, or a
    run whose record was lost, renewed it."""


class CertificateError(AcmecfError):
    """A certificate from the CA does not match its key, its names or its chain, or a PEM
    file cannot be read."""


# --- hooks, origin, migration ----------------------------------------------------------------


class HookError(AcmecfError):
    """A hook exited non-zero, ran past its timeout or was refused; the certificate itself is
    in place."""


class DeployError(HookError):
    """A new version is live in the shared store, but this origin's live files could not be
    switched to it (the old ones stay in place and are still served)."""


class OriginError(AcmecfError):
    """The origin could not be reached or checked as asked."""


class OriginPullError(AcmecfError):
    """Origin pulls cannot be set up as asked; the message says what to do instead."""


class CertbotImportError(AcmecfError):
    """A certbot configuration cannot be taken over as it is."""


class NotConfirmed(AcmecfError):
    """The user answered no to a question (or closed its input): nothing was changed."""


class SettingError(ValueError):
    """A value does not fit its setting; `key` names it as its source spells it (a file key
    such as "certificate.names", or an environment variable). Callers wrap it in a UsageError
    or StoredFileError that names the source."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


# --- the test bed ----------------------------------------------------------------------------


class PebbleError(AcmecfError):
    """The Pebble test server launcher failed (sandbox, demo and tests only)."""


class PebbleNotInstalled(PebbleError):
    """No Pebble binary (new enough) was found where the launcher looks for it."""


class PebbleStartupError(PebbleError):
    """Pebble exited or did not serve its directory in time; the message holds its log tail."""


class EtcdClusterError(AcmecfError):
    """Base class for failures of the etcd test cluster launcher (tests and sandbox only)."""


class EtcdNotInstalled(EtcdClusterError):
    """No etcd binary was found where the launcher looks for it."""

    def __init__(self, detail: str = "") -> None:
        message = (
            "etcd is not installed: run `apt-get install etcd-server` (Debian/Ubuntu) "
            "or set ACMECF_ETCD=/path/to/etcd"
        )
        super().__init__(f"{message} ({detail})" if detail else message)


class EtcdStartupError(EtcdClusterError):
    """A member exited or the cluster did not become healthy in time; carries the log tail."""
