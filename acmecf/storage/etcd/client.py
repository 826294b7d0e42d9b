"""The etcd v3 client adapter: every request acmecf makes to etcd goes through this module.

It offers what the etcd store needs and nothing more: reads of one key or a whole prefix (paged,
at one revision), puts and deletes, transactions with value, revision or lease compares (to
switch a certificate's live pointer atomically, to create a key only if absent), leases kept
alive from a background thread, and a lock per key held by a lease. It spreads requests over
several endpoints with failover, speaks TLS (CA, client certificate) and etcd's user/password
auth (password read from a file), bounds every call by one deadline, and turns every failure
into one of the typed, one-line errors of `acmecf.errors` (the Etcd* classes).

Why etcd3gw (etcd's JSON gRPC gateway, HTTP/1.1 through requests), chosen after running the
candidates against etcd 3.4.23 on Python 3.11:

- Maintained (OpenStack; 2.7.0 is recent), typed (py.typed, mypy clean), pure Python. The
  gateway's /v3 API is stable from etcd 3.4 on (3.5, 3.6 serve it too).
- Light: requests is already in acmecf's tree (through acme); it adds futurist, pbr,
  debtcollector and wrapt, 3.2 MB. Importing it costs about 45 ms with requests loaded
  (125-180 ms cold), and only the etcd store imports this module.
- Thread-safe as used here: each thread gets its own requests session per endpoint.
- The gRPC clients lost on the criteria: etcd3 (python-etcd3) 0.12.0 dates from 2020 and fails
  to import with any protobuf >= 4 ("Descriptors cannot be created directly"; fixed on its
  master in 2022, never released: kragniz/python-etcd3#1957, #2709); etcd-sdk-python 0.0.7 (a
  fork of that master) fails to import on a fresh install (protobuf is not among its
  dependencies), refuses user/password auth without TLS (gRPC will not send call credentials
  in clear), and its failover mutates shared state without locks; aetcd and etcd3aio are
  asyncio-only while acmecf renews with threads. All pull in grpcio and protobuf (about 22 MB
  of binary wheels, 85-150 ms to import).
- What etcd3gw lacks this module adds: several endpoints with failover, auth tokens (and a new
  one when etcd forgets a token), errors that keep their cause (its own keep only the text),
  and a verify setting that REQUESTS_CA_BUNDLE cannot override (its `ca_cert=` is silently
  replaced when that variable is set). It builds the request bodies itself, keys as UTF-8
  (etcd3gw encodes a str key as latin-1), and uses etcd3gw for the HTTP exchange, its status
  mapping and transactions.

Does not: know the store's key layout, encrypt anything, retry a write whose outcome is
unknown, or decide what a lock protects.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from acmecf.errors import (
    EtcdAuthError,
    EtcdError,
    EtcdLeaseLostError,
    EtcdPermissionError,
    EtcdRequestError,
    EtcdTimeoutError,
    EtcdTLSError,
    EtcdUnavailableError,
    LockedError,
    UsageError,
)
from acmecf.redaction import remember_secret

try:
    import requests
    import urllib3.exceptions
    from etcd3gw.client import Etcd3Client
    from etcd3gw.exceptions import Etcd3Exception
except ImportError as err:  # pragma: no cover - depends on the installation
    raise UsageError(
        f"the etcd store needs the etcd3gw library ({err}): pip install 'acmecf[etcd]'"
    ) from err

logger = logging.getLogger(__name__)

DEFAULT_PORT = 2379
# Room for a leader election (1-3 s) and a second round over the endpoints; no quorum is
# reported after this long.
DEFAULT_TIMEOUT = 10.0
PAGE_SIZE = 500
# etcd refuses a transaction with more operations than --max-txn-ops (128 by default).
MAX_TXN_OPERATIONS = 128
API_PATH = "/v3/"  # etcd >= 3.4; set, so no request is spent discovering it
FIRST_RETRY_PAUSE = 0.1
LAST_RETRY_PAUSE = 1.0
MINIMUM_ATTEMPT_TIMEOUT = 0.05

T = TypeVar("T")


# -- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EtcdSettings:
    """How to reach the etcd cluster.

    ``endpoints`` are ``host:port`` (port 2379 if left out; https when any TLS file is given)
    or ``http(s)://host:port``. ``timeout`` bounds each call in seconds, failover included.
    ``ca_file`` verifies the members (if None, requests' own bundle does; REQUESTS_CA_BUNDLE is
    ignored); ``cert_file`` and ``key_file`` are the client certificate. ``user`` with
    ``password_file`` turns on user/password auth.
    """

    endpoints: tuple[str, ...]
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    user: str | None = None
    password_file: Path | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def tls(self) -> bool:
        return any(path is not None for path in (self.ca_file, self.cert_file, self.key_file))


def parse_endpoints(endpoints: Sequence[str], *, tls: bool) -> tuple[str, ...]:
    """Normalise endpoints to ``scheme://host:port`` URLs, in order and without duplicates.

    A bare ``host[:port]`` gets https when ``tls`` and http otherwise. Raises UsageError for an
    empty list, a scheme other than http(s), a path, or a bad port.
    """
    urls: list[str] = []
    for raw in endpoints:
        item = raw.strip()
        if not item:
            continue
        default_scheme = "https" if tls else "http"
        parts = urlsplit(item if "://" in item else f"{default_scheme}://{item}")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as err:
            raise UsageError(f"etcd endpoint {item!r}: {err}") from err
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise UsageError(f"etcd endpoint {item!r} is not HOST:PORT or http(s)://HOST:PORT")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        url = f"{parts.scheme}://{host}:{port}"
        if url not in urls:
            urls.append(url)
    if not urls:
        raise UsageError("no etcd endpoint given: name at least one HOST:PORT")
    return tuple(urls)


def read_password_file(path: Path) -> str:
    """The password in ``path`` (its first line, without the line break).

    Like ssh with private keys, a file that group or others may read is refused. Raises
    UsageError saying what to fix.
    """
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UsageError(f"cannot read the etcd password file {path}: {reason}") from err
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(
            f"etcd password file {path} is accessible by group or others "
            f"({stat.filemode(info.st_mode)}): run `chmod 600 {path}`"
        )
    password = text.splitlines()[0] if text else ""
    if not password:
        raise UsageError(f"etcd password file {path} is empty: write the password on one line")
    return password


# -- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyValue:
    """A key as etcd holds it. ``lease`` is 0 for a key without a lease."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True)
class Lease:
    """A granted lease: etcd deletes its keys ``ttl`` seconds after its last keepalive."""

    id: int
    ttl: int


CompareTarget = Literal["value", "mod_revision", "create_revision", "version", "lease"]
CompareResult = Literal["==", "!=", "<", ">"]


@dataclass(frozen=True)
class Compare:
    """One condition of a transaction: ``target`` of ``key`` ``result`` ``operand``.

    A missing key has value b"", every revision and version 0 and lease 0.
    """

    key: str
    target: CompareTarget
    result: CompareResult
    operand: bytes | int

    @classmethod
    def value_is(cls, key: str, value: bytes) -> Compare:
        return cls(key, "value", "==", value)

    @classmethod
    def mod_revision_is(cls, key: str, revision: int) -> Compare:
        """Nobody changed ``key`` since ``revision`` (0: the key does not exist)."""
        return cls(key, "mod_revision", "==", revision)

    @classmethod
    def absent(cls, key: str) -> Compare:
        return cls(key, "create_revision", "==", 0)

    @classmethod
    def held_by(cls, key: str, lease_id: int) -> Compare:
        """``key`` exists under lease ``lease_id`` (a lock still held by its owner)."""
        return cls(key, "lease", "==", lease_id)


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes
    lease: int | None = None


@dataclass(frozen=True)
class Delete:
    """Delete ``key``, or every key starting with it when ``prefix``; a missing key is no error."""

    key: str
    prefix: bool = False


@dataclass(frozen=True)
class Get:
    """Read ``key`` inside a transaction (its value lands in `TxnResult.kvs`)."""

    key: str


Operation = Put | Delete | Get


@dataclass(frozen=True)
class TxnResult:
    """Which branch ran, at which revision, and the keys its `Get` operations read."""

    succeeded: bool
    revision: int
    kvs: tuple[KeyValue, ...]


# -- the client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Retry:
    """An attempt on one endpoint failed in a way another endpoint (or a later try) may fix."""

    # refused: no connection, nothing sent; lost: closed without an answer (may be applied);
    # leaderless: etcd answered it has no leader (not applied); timeout: no answer in time.
    kind: Literal["refused", "lost", "leaderless", "timeout"]
    detail: str


@dataclass(frozen=True)
class _Done(Generic[T]):
    value: T


class _Clients(threading.local):
    """Each thread's etcd3gw clients, one per endpoint (sessions are not shared by threads)."""

    def __init__(self) -> None:
        self.by_url: dict[str, Etcd3Client] = {}


class EtcdClient:
    """A thread-safe connection to one etcd cluster through any of its endpoints.

    Every method bounds its work by ``settings.timeout`` seconds. A request goes to the endpoint
    that answered last, then to the others in turn, round after round until the deadline: an
    endpoint that refuses the connection or has no leader costs nothing but the attempt; one
    that does not answer costs its share of the timeout (timeout / endpoints). Reads, puts,
    deletes, lease calls and transactions flagged idempotent are retried like that; another
    transaction is not retried once sent (EtcdTimeoutError with ``outcome_unknown``). Raises
    only `EtcdError` subclasses (and UsageError from the constructor for bad settings).
    """

    def __init__(
        self,
        settings: EtcdSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Check the settings and read the password file; opens no connection."""
        self.settings = settings
        self.urls = parse_endpoints(settings.endpoints, tls=settings.tls)
        if (settings.cert_file is None) != (settings.key_file is None):
            raise UsageError("an etcd client certificate needs both its certificate and key file")
        if (settings.user is None) != (settings.password_file is None):
            raise UsageError("etcd user/password auth needs both the user and the password file")
        if settings.timeout <= 0:
            raise UsageError(f"the etcd timeout must be positive, not {settings.timeout}")
        for what, path in (
            ("CA file", settings.ca_file),
            ("client certificate", settings.cert_file),
            ("client key", settings.key_file),
        ):
            if path is not None and not os.access(path, os.R_OK):
                raise UsageError(f"cannot read the etcd {what} {path}: check the path")
        self._password: str | None = None
        if settings.password_file is not None:
            self._password = read_password_file(settings.password_file)
            remember_secret(self._password)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: str | None = None
        self._preferred = 0
        self._clients = _Clients()
        self._sessions: list[requests.Session] = []

    def __enter__(self) -> EtcdClient:
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection this client opened, in every thread. Idempotent."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    # -- keys -------------------------------------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        """The key's current value and metadata (linearizable), or None if it does not exist."""
        body = {"key": _encode_key(key)}
        response = self._call("get", key, lambda c: c.post(c.get_url("/kv/range"), json=body))
        kvs = [_key_value(item) for item in response.get("kvs", [])]
        return kvs[0] if kvs else None

    def get_prefix(self, prefix: str, *, page_size: int = PAGE_SIZE) -> list[KeyValue]:
        """Every key starting with ``prefix``, sorted by key, as of one revision.

        Reads ``page_size`` keys per request; every page is read at the revision of the first,
        so the result is a consistent snapshot however many keys there are.
        """
        return list(self.iterate_prefix(prefix, page_size=page_size))

    def iterate_prefix(self, prefix: str, *, page_size: int = PAGE_SIZE) -> Iterator[KeyValue]:
        """Like `get_prefix`, one page in memory at a time."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        start = prefix.encode()
        end = _prefix_end(start)
        revision = 0
        while True:
            body: dict[str, Any] = {
                "key": _b64(start),
                "range_end": _b64(end),
                "limit": page_size,
            }
            if revision:
                body["revision"] = revision
            response = self._range(prefix, body)
            if not revision:
                revision = int(response["header"]["revision"])
            items = response.get("kvs", [])
            for item in items:
                yield _key_value(item)
            if not response.get("more") or not items:
                return
            start = _unb64(items[-1]["key"]) + b"\0"

    def get_prefix_since(self, prefix: str, min_mod_revision: int) -> tuple[list[KeyValue], int]:
        """The keys starting with ``prefix`` last changed at ``min_mod_revision`` or later, and
        the revision the answer is as of: a cheap poll for changes (etcd filters the range, so
        only changed keys travel). Deleted keys are not reported."""
        start = prefix.encode()
        body: dict[str, Any] = {
            "key": _b64(start),
            "range_end": _b64(_prefix_end(start)),
            "min_mod_revision": max(0, min_mod_revision),
        }
        response = self._range(prefix, body)
        kvs = [_key_value(item) for item in response.get("kvs", [])]
        return kvs, int(response["header"]["revision"])

    def _range(self, prefix: str, body: dict[str, Any]) -> Any:
        return self._call("get_prefix", prefix, lambda c: c.post(c.get_url("/kv/range"), json=body))

    def put(self, key: str, value: bytes, *, lease: int | None = None) -> None:
        """Set ``key`` to ``value`` (under ``lease`` if given). Idempotent."""
        body: dict[str, Any] = {"key": _encode_key(key), "value": _b64(value)}
        if lease:
            body["lease"] = lease
        self._call("put", key, lambda c: c.post(c.get_url("/kv/put"), json=body))

    def delete(self, key: str) -> bool:
        """Delete ``key``; returns whether it existed. Idempotent."""
        body = {"key": _encode_key(key)}
        response = self._call(
            "delete", key, lambda c: c.post(c.get_url("/kv/deleterange"), json=body)
        )
        return int(response.get("deleted", 0)) > 0

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` in one request; returns how many."""
        start = prefix.encode()
        body = {"key": _b64(start), "range_end": _b64(_prefix_end(start))}
        response = self._call(
            "delete_prefix", prefix, lambda c: c.post(c.get_url("/kv/deleterange"), json=body)
        )
        return int(response.get("deleted", 0))

    # -- transactions -----------------------------------------------------------------------

    def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[Operation],
        failure: Sequence[Operation] = (),
        *,
        idempotent: bool = False,
    ) -> TxnResult:
        """Run ``success`` if every compare holds, else ``failure``, as one atomic step.

        Either every operation of the chosen branch is applied or none is; a key may be changed
        only once per transaction, and a branch has at most 128 operations (etcd's
        --max-txn-ops). After a timeout the outcome is unknown (a member that loses its leader
        drops the proposals it forwarded, and answers only after etcd's own 7 s): raises
        EtcdTimeoutError with ``outcome_unknown``. Pass ``idempotent`` when applying the
        transaction twice is the same as once (puts of fixed values, or compares that the first
        application makes fail, with a `Get` in ``failure`` to recognise one's own write): it
        is then retried on another endpoint like a read.
        """
        body = {
            "compare": [_compare_body(compare) for compare in compares],
            "success": [_operation_body(operation) for operation in success],
            "failure": [_operation_body(operation) for operation in failure],
        }
        subject = compares[0].key if compares else (success[0].key if success else "")
        response = self._call("txn", subject, lambda c: c.transaction(body), idempotent=idempotent)
        kvs: list[KeyValue] = []
        for item in response.get("responses", []):
            kvs.extend(_key_value(kv) for kv in item.get("response_range", {}).get("kvs", []))
        return TxnResult(
            succeeded=bool(response.get("succeeded", False)),
            revision=int(response["header"]["revision"]),
            kvs=tuple(kvs),
        )

    def create(self, key: str, value: bytes, *, lease: int | None = None) -> bool:
        """Create ``key`` only if it does not exist; returns whether this call created it."""
        return self.txn([Compare.absent(key)], [Put(key, value, lease)]).succeeded

    def compare_and_swap(
        self,
        key: str,
        value: bytes,
        *,
        expected_value: bytes | None = None,
        expected_mod_revision: int | None = None,
    ) -> bool:
        """Set ``key`` to ``value`` only if it still holds ``expected_value`` or was last changed
        at ``expected_mod_revision`` (exactly one of them); returns whether it was set."""
        if (expected_value is None) == (expected_mod_revision is None):
            raise ValueError("give exactly one of expected_value and expected_mod_revision")
        compare = (
            Compare.value_is(key, expected_value)
            if expected_value is not None
            else Compare.mod_revision_is(key, expected_mod_revision or 0)
        )
        return self.txn([compare], [Put(key, value)]).succeeded

    # -- leases -----------------------------------------------------------------------------

    def grant_lease(self, ttl: int) -> Lease:
        """A new lease of ``ttl`` seconds (etcd may round it up to its minimum)."""
        if ttl < 1:
            raise ValueError(f"a lease lives at least 1 s, not {ttl}")
        response = self._call(
            "lease grant",
            "",
            lambda c: c.post(c.get_url("/lease/grant"), json={"TTL": ttl, "ID": 0}),
        )
        return Lease(id=int(response["ID"]), ttl=int(response["TTL"]))

    def refresh_lease(self, lease_id: int) -> int:
        """Keep the lease alive once; returns its TTL. Raises EtcdLeaseLostError if it is gone."""
        response = self._call(
            "lease keepalive",
            "",
            lambda c: c.post(c.get_url("/lease/keepalive"), json={"ID": lease_id}),
            lease_id=lease_id,
        )
        ttl = int(response.get("result", {}).get("TTL", -1))
        if ttl <= 0:
            raise EtcdLeaseLostError(self.urls, lease_id)
        return ttl

    def lease_ttl(self, lease_id: int) -> int | None:
        """Seconds the lease has left, or None if it expired or was revoked."""
        response = self._call(
            "lease timetolive",
            "",
            lambda c: c.post(c.get_url("/kv/lease/timetolive"), json={"ID": lease_id}),
            lease_id=lease_id,
        )
        ttl = int(response.get("TTL", -1))
        return ttl if ttl >= 0 else None

    def revoke_lease(self, lease_id: int) -> None:
        """Revoke the lease, deleting every key attached to it. Idempotent."""
        # Already expired or revoked is what revoking wanted.
        with contextlib.suppress(EtcdLeaseLostError):
            self._call(
                "lease revoke",
                "",
                lambda c: c.post(c.get_url("/kv/lease/revoke"), json={"ID": lease_id}),
                lease_id=lease_id,
            )

    def keep_alive(self, lease: Lease, *, what: str = "") -> LeaseKeeper:
        """Start keeping ``lease`` alive from a background thread; see `LeaseKeeper`."""
        keeper = LeaseKeeper(self, lease, what=what)
        keeper.start()
        return keeper

    # -- locks ------------------------------------------------------------------------------

    def try_lock(self, key: str, *, ttl: int, owner: bytes = b"") -> LeaseLock | None:
        """Take the lock ``key`` if nobody holds it, or return None at once.

        The lock is ``key`` created under a new lease of ``ttl`` seconds, kept alive from a
        background thread until `LeaseLock.release`. When its holder dies, etcd deletes the key
        ``ttl`` seconds after the last keepalive and the next caller takes the lock. ``owner`` is
        stored as the value, for diagnostics. After taking a lock, check again whether the work
        is still needed: another holder may have done it just before.
        """
        lease = self.grant_lease(ttl)
        try:
            # Safe to repeat: a repeat finds the key, and its lease tells whose it is.
            result = self.txn(
                [Compare.absent(key)], [Put(key, owner, lease.id)], [Get(key)], idempotent=True
            )
        except BaseException:
            self._revoke_quietly(lease.id)
            raise
        taken = result.succeeded or any(kv.lease == lease.id for kv in result.kvs)
        if not taken:
            self._revoke_quietly(lease.id)
            holder = result.kvs[0].lease if result.kvs else 0
            logger.debug("lock %s is held under lease %x", key, holder)
            return None
        keeper = self.keep_alive(lease, what=key)
        logger.debug("took lock %s under lease %x", key, lease.id)
        return LeaseLock(self, key, lease, keeper)

    def lock(self, key: str, *, ttl: int, wait: float, owner: bytes = b"") -> LeaseLock:
        """Take the lock ``key`` as `try_lock` does, waiting up to ``wait`` seconds for its
        holder to release it (or to die and its lease to expire).

        Polls with a read while the lock is held (every 0.1 s at first, then every second).
        Raises LockedError naming the holder (the ``owner`` it stored) when ``wait`` runs out.
        """
        deadline = self._clock() + wait
        pause = FIRST_RETRY_PAUSE
        while True:
            holder = self.get(key)
            if holder is None:
                lock = self.try_lock(key, ttl=ttl, owner=owner)
                if lock is not None:
                    return lock
            remaining = deadline - self._clock()
            if remaining <= 0:
                held_by = holder.value.decode(errors="replace") if holder and holder.value else "?"
                raise LockedError(
                    f"the etcd lock {key} is held by {held_by} (etcd at "
                    f"{', '.join(self.urls)}): another origin is doing this work; if it died, "
                    f"its lease expires within {ttl} s and the next run takes over",
                    holder=held_by,
                )
            self._sleep(min(pause, remaining))
            pause = min(pause * 2, LAST_RETRY_PAUSE)

    def _revoke_quietly(self, lease_id: int) -> None:
        """Revoke a lease during cleanup: failures are logged (the lease expires on its own)."""
        try:
            self.revoke_lease(lease_id)
        except EtcdError as err:
            # Nothing to do for anyone: the lease expires on its own after its TTL.
            logger.debug("could not revoke etcd lease %x (it will expire): %s", lease_id, err)

    # -- requests ---------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        key: str,
        request: Callable[[Etcd3Client], Any],
        *,
        idempotent: bool = True,
        lease_id: int | None = None,
    ) -> Any:
        """Run ``request`` on the endpoints in turn until one answers, within the deadline."""
        timeout = self.settings.timeout
        deadline = self._clock() + timeout
        pause = FIRST_RETRY_PAUSE
        latest: dict[str, _Retry] = {}  # what each endpoint said last
        while True:
            first = self._preferred
            refused = 0
            for step in range(len(self.urls)):
                index = (first + step) % len(self.urls)
                url = self.urls[index]
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                # An idempotent request gets a share of the timeout, so that a hung member (or
                # one whose forwarded proposal was lost with the leader) leaves time for
                # others and for a second round; a request never retried gets all that is left.
                share = min(remaining, timeout / len(self.urls)) if idempotent else remaining
                share = max(share, MINIMUM_ATTEMPT_TIMEOUT)
                outcome = self._attempt(url, share, request, operation, key, lease_id)
                if isinstance(outcome, _Done):
                    self._preferred = index
                    return outcome.value
                logger.debug("etcd %s %s at %s: %s", operation, key, url, outcome.detail)
                latest[url] = outcome
                if outcome.kind in ("lost", "timeout") and self._preferred == index:
                    # A hung member: start the next call (a transaction, maybe) elsewhere.
                    self._preferred = (index + 1) % len(self.urls)
                if outcome.kind in ("refused", "lost"):
                    refused += 1
                if outcome.kind in ("lost", "timeout") and not idempotent:
                    raise EtcdTimeoutError([url], timeout, outcome.detail, outcome_unknown=True)
            if refused == len(self.urls):
                raise EtcdUnavailableError(self.urls, _summary(latest))
            remaining = deadline - self._clock()
            if remaining <= MINIMUM_ATTEMPT_TIMEOUT:
                raise EtcdTimeoutError(self.urls, timeout, _summary(latest))
            # Some member is up but has no leader (an election, or quorum lost): try again soon.
            self._sleep(min(pause, remaining))
            pause = min(pause * 2, LAST_RETRY_PAUSE)

    def _attempt(
        self,
        url: str,
        timeout: float,
        request: Callable[[Etcd3Client], Any],
        operation: str,
        key: str,
        lease_id: int | None,
    ) -> _Done[Any] | _Retry:
        """One try on one endpoint: its answer, a reason to try elsewhere, or a typed error."""
        client = self._client(url)
        client.timeout = timeout
        for renewing_token in (False, True):
            try:
                self._authorize(client, url, renew=renewing_token)
                return _Done(request(client))
            except Etcd3Exception as err:
                outcome = self._classify(err, url, operation, key, lease_id, timeout)
            except requests.RequestException as err:  # a body that is not etcd's JSON
                raise EtcdRequestError(url, operation, f"unreadable answer: {err}", None) from err
            if outcome != "token expired":
                return outcome
            logger.debug("etcd at %s forgot the auth token; authenticating again", url)
        raise EtcdAuthError(url, self.settings.user, "a fresh auth token was refused at once")

    def _client(self, url: str) -> Etcd3Client:
        client = self._clients.by_url.get(url)
        if client is None:
            parts = urlsplit(url)
            session = requests.Session()
            # Without this, REQUESTS_CA_BUNDLE (set on many hosts) replaces session.verify.
            session.trust_env = False
            if self.settings.ca_file is not None:
                session.verify = str(self.settings.ca_file)
            if self.settings.cert_file is not None and self.settings.key_file is not None:
                session.cert = (str(self.settings.cert_file), str(self.settings.key_file))
            client = Etcd3Client(
                host=parts.hostname or "",
                port=parts.port or DEFAULT_PORT,
                protocol=parts.scheme,
                api_path=API_PATH,
                session=session,
            )
            self._clients.by_url[url] = client
            with self._lock:
                self._sessions.append(session)
        return client

    def _authorize(self, client: Etcd3Client, url: str, *, renew: bool) -> None:
        """Put the auth token on the client's session, authenticating first if needed."""
        if self.settings.user is None or self._password is None:
            return
        used = client.session.headers.get("Authorization")
        with self._lock:
            if renew and self._token == used:
                self._token = None
            token = self._token
        if token is None:
            # Without the old token: etcd checks a token sent along before anything else.
            client.session.headers.pop("Authorization", None)
            response = client.post(
                client.get_url("/auth/authenticate"),
                json={"name": self.settings.user, "password": self._password},
            )
            token = str(response["token"])
            remember_secret(token)
            with self._lock:
                self._token = token
        client.session.headers["Authorization"] = token

    def _classify(
        self,
        err: Etcd3Exception,
        url: str,
        operation: str,
        key: str,
        lease_id: int | None,
        timeout: float,
    ) -> _Retry | Literal["token expired"]:
        """What a failed attempt means: retry elsewhere, renew the token, or (raised) a typed
        error."""
        cause = err.__context__
        if isinstance(cause, requests.RequestException):
            return self._classify_transport(cause, url, timeout)
        body = _error_body(err.detail_text)
        code = body.get("code")
        message = str(body.get("message") or body.get("error") or err.detail_text or err)
        detail = message.removeprefix("etcdserver: ")
        if "HTTP request to an HTTPS server" in message:
            raise EtcdTLSError(url, "plain http sent to an https endpoint: use https://") from err
        if code == 14 and "no leader" in message:
            return _Retry("leaderless", detail)
        if code in (2, 4, 14):  # unknown (deadline exceeded), deadline exceeded, unavailable
            return _Retry("timeout", detail)
        if code == 16 and "invalid auth token" in message and self.settings.user is not None:
            return "token expired"
        if code == 9 and "authentication is not enabled" in message:
            raise EtcdAuthError(
                url, self.settings.user, "auth is not enabled there: drop the etcd user setting"
            ) from err
        if code == 16 or (code == 3 and ("authentication" in message or "user name" in message)):
            raise EtcdAuthError(url, self.settings.user, detail) from err
        if code == 7:
            raise EtcdPermissionError(url, self.settings.user, key, detail) from err
        if code == 5 and lease_id is not None:
            raise EtcdLeaseLostError([url], lease_id) from err
        if code is None and not body:
            detail = f"HTTP {err.args[0] if err.args else 'error'}: {str(err.detail_text)[:200]}"
        raise EtcdRequestError(url, operation, detail, code if isinstance(code, int) else None)

    def _classify_transport(
        self, cause: requests.RequestException, url: str, timeout: float
    ) -> _Retry:
        tls = _ssl_error(cause)
        if tls is not None or isinstance(cause, requests.exceptions.SSLError):
            raise EtcdTLSError(url, _tls_detail(tls, cause)) from cause
        if isinstance(cause, requests.exceptions.ConnectTimeout):
            return _Retry("refused", f"no connection within {timeout:.1f} s")
        if isinstance(cause, requests.exceptions.Timeout):
            return _Retry("timeout", f"no answer within {timeout:.1f} s")
        connect_failure = _connect_failure(cause)
        if connect_failure is not None:
            return _Retry("refused", connect_failure)
        return _Retry(
            "lost", "the connection closed without an answer; an https endpoint named as http?"
        )


class LeaseKeeper:
    """Keeps one lease alive from a daemon thread until `stop`.

    Refreshes every third of the TTL. A failed refresh is retried each second; once a full TTL
    has passed without a successful refresh, or etcd says the lease is gone, the keeper stops
    and sets `lost`: whatever the lease held (a lock) may already belong to someone else.
    """

    def __init__(self, client: EtcdClient, lease: Lease, *, what: str = "") -> None:
        self.client = client
        self.lease = lease
        self.what = what
        self.lost = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"etcd-lease-{lease.id:x}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing (the lease then lives out its TTL unless revoked). Idempotent."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def check(self) -> None:
        """Raise EtcdLeaseLostError if the lease was lost."""
        if self.lost.is_set():
            raise EtcdLeaseLostError(self.client.urls, self.lease.id, self.what)

    def _run(self) -> None:
        interval = max(self.lease.ttl / 3, 0.5)
        last_success = time.monotonic()
        wait = interval
        while not self._stopping.wait(wait):
            try:
                self.client.refresh_lease(self.lease.id)
            except EtcdLeaseLostError:
                # Its holder learns it (check, still_held) and says so in its own error line.
                logger.debug("etcd lease %x%s was lost", self.lease.id, self._holding())
                self.lost.set()
                return
            except EtcdError as err:
                if time.monotonic() - last_success >= self.lease.ttl:
                    logger.debug(
                        "etcd lease %x%s expired: no keepalive for %d s (%s)",
                        self.lease.id,
                        self._holding(),
                        self.lease.ttl,
                        err,
                    )
                    self.lost.set()
                    return
                logger.info("etcd lease %x keepalive failed, retrying: %s", self.lease.id, err)
                wait = min(1.0, interval)
                continue
            last_success = time.monotonic()
            wait = interval

    def _holding(self) -> str:
        return f" holding {self.what}" if self.what else ""


class LeaseLock:
    """A held lock: ``key`` exists under ``lease``, which ``keeper`` keeps alive.

    Use `still_held` as a compare in the transaction that commits the locked work, so a holder
    that lost the lock (its lease expired) cannot overwrite a newer holder's result.
    """

    def __init__(self, client: EtcdClient, key: str, lease: Lease, keeper: LeaseKeeper) -> None:
        self.client = client
        self.key = key
        self.lease = lease
        self.keeper = keeper

    @property
    def lost(self) -> bool:
        return self.keeper.lost.is_set()

    def check(self) -> None:
        """Raise EtcdLeaseLostError if the lock was lost (its lease expired)."""
        self.keeper.check()

    def still_held(self) -> Compare:
        return Compare.held_by(self.key, self.lease.id)

    def release(self) -> None:
        """Stop the keepalive and revoke the lease, deleting the lock key. Idempotent; never
        raises: a failure is logged and the lease expires on its own after its TTL."""
        self.keeper.stop()
        self.client._revoke_quietly(self.lease.id)

    def __enter__(self) -> LeaseLock:
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


# -- encoding and error details -----------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | bytes) -> bytes:
    return base64.b64decode(text)


def _encode_key(key: str) -> str:
    if not key:
        raise ValueError("an etcd key cannot be empty")
    return _b64(key.encode())


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key above every key starting with ``prefix`` (etcd's range_end); b"\\0",
    meaning "to the end", for an empty prefix."""
    trimmed = prefix.rstrip(b"\xff")
    return trimmed[:-1] + bytes([trimmed[-1] + 1]) if trimmed else b"\0"


def _key_value(item: Any) -> KeyValue:
    """Decode one key of the gateway's JSON (which leaves out fields that are zero or empty)."""
    return KeyValue(
        key=_unb64(item["key"]).decode(errors="replace"),
        value=_unb64(item.get("value", "")),
        create_revision=int(item.get("create_revision", 0)),
        mod_revision=int(item.get("mod_revision", 0)),
        version=int(item.get("version", 0)),
        lease=int(item.get("lease", 0)),
    )


_TARGETS = {
    "value": "VALUE",
    "mod_revision": "MOD",
    "create_revision": "CREATE",
    "version": "VERSION",
    "lease": "LEASE",
}
_RESULTS = {"==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}


def _compare_body(compare: Compare) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": _encode_key(compare.key),
        "target": _TARGETS[compare.target],
        "result": _RESULTS[compare.result],
    }
    if compare.target == "value":
        if not isinstance(compare.operand, bytes):
            raise TypeError("a value compare needs bytes")
        body["value"] = _b64(compare.operand)
    else:
        if not isinstance(compare.operand, int):
            raise TypeError(f"a {compare.target} compare needs an int")
        body[compare.target] = compare.operand
    return body


def _operation_body(operation: Operation) -> dict[str, Any]:
    if isinstance(operation, Put):
        put: dict[str, Any] = {"key": _encode_key(operation.key), "value": _b64(operation.value)}
        if operation.lease:
            put["lease"] = operation.lease
        return {"request_put": put}
    if isinstance(operation, Delete):
        delete = {"key": _encode_key(operation.key)}
        if operation.prefix:
            delete["range_end"] = _b64(_prefix_end(operation.key.encode()))
        return {"request_delete_range": delete}
    return {"request_range": {"key": _encode_key(operation.key)}}


def _error_body(text: str | None) -> dict[str, Any]:
    """etcd's error JSON: {"error", "message", "code"} (3.4, 3.5) or {"code", "message"} (3.6)."""
    try:
        body = json.loads(text or "")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, its causes and contexts, and exceptions held in their args (urllib3 nests)."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))


def _ssl_error(error: BaseException) -> ssl.SSLError | None:
    return next((e for e in _chain(error) if isinstance(e, ssl.SSLError)), None)


def _tls_detail(tls: ssl.SSLError | None, error: BaseException) -> str:
    if isinstance(tls, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted: {tls.verify_message}"
    reason = getattr(tls, "reason", None) if tls is not None else None
    hints = {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate",
        "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused the client certificate "
        "(none given, or signed by a CA it does not trust)",
        "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the client certificate's CA",
        "WRONG_VERSION_NUMBER": "the endpoint does not speak TLS: use http://",
        "RECORD_LAYER_FAILURE": "the endpoint does not speak TLS: use http://",
        "UNEXPECTED_EOF_WHILE_READING": "the server ended the handshake: "
        "does it require a client certificate?",
        "EOF": "the server ended the handshake: does it require a client certificate?",
    }
    if isinstance(reason, str):
        return hints.get(reason, reason.lower().replace("_", " "))
    if isinstance(tls, ssl.SSLEOFError):
        return hints["EOF"]
    return re.sub(r" \(_ssl\.c:\d+\)", "", _last_words(tls or error))


def _connect_failure(error: BaseException) -> str | None:
    """Why a connection could not be made (so nothing was sent), or None if it was made."""
    for linked in _chain(error):
        if isinstance(linked, urllib3.exceptions.NameResolutionError):
            return "host name not resolved"
        if isinstance(linked, urllib3.exceptions.NewConnectionError):
            return _last_words(linked)
    return None


def _last_words(error: BaseException) -> str:
    """The last, most specific clause of an error message (urllib3's are very long)."""
    text = str(error).rstrip(")'\"")
    words = re.sub(r"^\[Errno -?\d+\] ", "", text.rsplit(": ", 1)[-1].strip())
    return words[:1].lower() + words[1:] if words else type(error).__name__


def _summary(outcomes: dict[str, _Retry]) -> str:
    """What the endpoints said, grouped: "a:1, b:2: connection refused; c:3: no answer"."""
    if len({retry.detail for retry in outcomes.values()}) == 1:
        return next(iter(outcomes.values())).detail  # the message names the endpoints already
    by_detail: dict[str, list[str]] = {}
    for url, retry in outcomes.items():
        by_detail.setdefault(retry.detail, []).append(url.split("://", 1)[-1])
    return "; ".join(f"{', '.join(hosts)}: {detail}" for detail, hosts in by_detail.items())


__all__ = [
    "MAX_TXN_OPERATIONS",
    "Compare",
    "Delete",
    "EtcdClient",
    "EtcdSettings",
    "Get",
    "KeyValue",
    "Lease",
    "LeaseKeeper",
    "LeaseLock",
    "Operation",
    "Put",
    "TxnResult",
    "parse_endpoints",
    "read_password_file",
]
