"""A local stand-in for the Cloudflare v4 API and the Cloudflare nameservers of its zones.

``CloudflareEmulator`` serves the part of ``https://api.cloudflare.com/client/v4`` that
acmecf uses (token verification, zones, DNS records, the zone settings ``ssl`` and
``tls_client_auth``, origin-pull certificates at zone and host name level, and the Origin
CA) over plain HTTP on a free loopback port, with the same URLs, JSON envelope, HTTP
statuses and error codes as the real API, so the official ``cloudflare`` SDK can be pointed
at it with ``base_url``. ``edge_client_certificate`` says which client certificate the
edge would present to an origin, for tests that play Cloudflare against a real web server.
Behind the API sit emulated authoritative nameservers (one loopback address each, one
shared port) that see every change only after their own propagation delay, and a resolver
that sees what the most lagging nameserver sees, so "answered the CA before every nameserver
had the value" fails here the way it fails in production.

Where the real behaviour is known from Cloudflare's documentation or from responses
quoted in public bug reports, the handler cites it; a few choices the sources do not
settle are marked "not verified".

Does not: implement more of the API than acmecf needs (no zone creation, no record
update, no batch, only A, AAAA, CNAME and TXT records), serve HTTPS, or persist anything.
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import json
import logging
import math
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import dns.rdata
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from acmecf.pki.authority import self_signed_ca
from acmecf.sandbox.dns_server import (
    RESOLVER_ADDRESS,
    DnsQuery,
    DnsServer,
    DnsView,
    ServedRecord,
    ZoneView,
    rdata_for,
)

__all__ = ["ApiRequest", "CloudflareEmulator", "DnsQuery", "EdgeClientCertificate", "Nameserver"]

logger = logging.getLogger(__name__)

API_PREFIX = "/client/v4"
DEFAULT_NAMESERVER_NAMES = (
    "ada", "bob", "cruz", "dana", "elle", "fay", "gus", "hal", "ida", "jay", "kai", "lou",
)  # fmt: skip
SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "TXT")
PROXIABLE_TYPES = frozenset({"A", "AAAA", "CNAME"})
AUTOMATIC_TTL = 1
# Cloudflare's "automatic" TTL is 300 seconds, and proxied records are always served with it.
# https://developers.cloudflare.com/dns/manage-dns-records/reference/ttl/
AUTOMATIC_TTL_SECONDS = 300
# A proxied record is answered with Cloudflare anycast addresses instead of its content.
# https://developers.cloudflare.com/dns/proxy-status/
PROXY_ADDRESS_V4 = "104.16.132.229"
PROXY_ADDRESS_V6 = "2606:4700::6810:84e5"
SERIAL_BASE = 2_340_000_000

# Identifier and credential shapes. Cloudflare ids are 32 lowercase hex digits. Tokens are
# 40 characters (legacy) or cfut_/cfat_ + 40 characters + an 8-hex checksum; Global API
# Keys are 37-45 lowercase hex digits or cfk_...; anything else is a malformed header.
# https://developers.cloudflare.com/fundamentals/api/get-started/token-formats/ (not verified)
_ID_SHAPE = re.compile(r"[0-9a-f]{32}")
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{40}|cf[a-z]{2}_[A-Za-z0-9_-]{40}[0-9a-f]{8}")
_GLOBAL_KEY_SHAPE = re.compile(r"[0-9a-f]{37,45}|cfk_[A-Za-z0-9_-]{40}[0-9a-f]{8}")
_LABEL_SHAPE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")

# The API's own words, quoted from responses reported in public bug reports (see the
# handlers for sources).
TXT_QUOTE_WARNING = (
    "The content field of TXT records must be in quotation marks. Cloudflare may add "
    "quotation marks on your behalf, which will not affect how the record works."
)
SAME_NAME_HELP = "https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/records-with-same-name/"


@dataclass(frozen=True)
class Nameserver:
    """One emulated Cloudflare nameserver: its host name, loopback address and delay.

    ``delay`` is how many seconds after an API change this nameserver starts serving it.
    """

    name: str
    address: str
    delay: float


@dataclass(frozen=True)
class ApiRequest:
    """One API request as the emulator answered it; ``time`` is ``time.monotonic()``.

    ``auth`` names the kind of credential presented ("token", "global" or "none"), never
    the secret itself. ``path`` is the full request path, including ``/client/v4``.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    time: float
    auth: str


@dataclass
class _Zone:
    id: str
    name: str
    created_on: str


@dataclass(frozen=True)
class _Token:
    id: str
    zones: frozenset[str] | None
    zone_read: bool
    dns_read: bool
    dns_edit: bool
    zone_settings_edit: bool = True
    ssl_edit: bool = True

    def covers(self, zone: _Zone) -> bool:
        return self.zones is None or zone.id in self.zones or zone.name in self.zones


@dataclass
class _Record:
    id: str
    zone_id: str
    name: str
    type: str
    content: str
    proxied: bool
    ttl: int
    comment: str | None
    tags: tuple[str, ...]
    created_on: str
    modified_on: str
    served: tuple[ServedRecord, ...]
    # When each nameserver starts and stops serving the record (time.monotonic()).
    visible_from: tuple[float, ...]
    hidden_from: tuple[float, ...] | None = None

    @property
    def deleted(self) -> bool:
        return self.hidden_from is not None


@dataclass(frozen=True)
class _Credential:
    kind: str  # "token" or "global"
    identity: str  # token id or account email: the key the rate limit counts by
    token: _Token | None


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _ApiError(Exception):
    """An error envelope to send back: ``errors`` are Cloudflare's {code, message} items."""

    def __init__(
        self, status: int, errors: list[dict[str, Any]], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = errors
        self.headers = dict(headers or {})

    @classmethod
    def single(
        cls, status: int, code: int, message: str, *, chain: Sequence[tuple[int, str]] = ()
    ) -> _ApiError:
        error: dict[str, Any] = {"code": code, "message": message}
        if chain:
            error["error_chain"] = [
                {"code": link_code, "message": text} for link_code, text in chain
            ]
        return cls(status, [error])

    def reply(self) -> _Reply:
        return _Reply(self.status, _envelope(None, success=False, errors=self.errors), self.headers)


# --- TLS side: zone settings, Authenticated Origin Pulls, Origin CA --------------------------

# The values the emulator accepts for the zone settings it knows.
# https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/edit/
ZONE_SETTING_VALUES: dict[str, tuple[str, ...]] = {
    "ssl": ("off", "flexible", "full", "strict"),
    "tls_client_auth": ("on", "off"),
}
# A new zone: Flexible was the encryption mode of zones without automatic SSL/TLS
# (https://developers.cloudflare.com/ssl/origin-configuration/ssl-modes/; today's default for
# new zones is not verified); Authenticated Origin Pulls are off until switched on.
ZONE_SETTING_DEFAULTS: dict[str, str] = {"ssl": "flexible", "tls_client_auth": "off"}
# https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/create/
ORIGIN_CA_VALIDITIES = (7, 30, 90, 365, 730, 1095, 5475)
ORIGIN_CA_DEFAULT_VALIDITY = 5475
# "10 hostname certificates per zone are allowed" (hostname_certificates.create docs).
HOSTNAME_CERTIFICATES_PER_ZONE = 10


@dataclass(frozen=True)
class EdgeClientCertificate:
    """What Cloudflare's edge presents to an origin when it pulls a host name.

    ``kind`` is "shared" (Cloudflare's certificate, signed by the public origin-pull CA;
    the emulator has no key for it, so ``certificate`` and ``private_key`` are None),
    "zone" (the zone's uploaded certificate) or "hostname" (the host name's own).
    """

    kind: str
    certificate: str | None
    private_key: str | None


@dataclass
class _PullCertificate:
    id: str
    zone_id: str
    certificate: str
    private_key: str
    issuer: str
    serial_number: str
    signature: str
    expires_on: str
    uploaded_on: str
    status: str = "active"


@dataclass
class _HostnamePull:
    hostname: str
    cert_id: str
    enabled: bool
    created_at: str
    updated_at: str


@dataclass
class _OriginCertificate:
    id: str
    zone_ids: tuple[str, ...]
    certificate: str
    csr: str
    hostnames: tuple[str, ...]
    request_type: str
    requested_validity: int
    expires_on: str
    revoked_at: str | None = None


@dataclass
class _TlsState:
    """Everything the TLS endpoints remember, guarded by the emulator's lock."""

    settings: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    zone_pull_enabled: dict[str, bool] = field(default_factory=dict)
    zone_certificates: dict[str, _PullCertificate] = field(default_factory=dict)
    hostname_certificates: dict[str, _PullCertificate] = field(default_factory=dict)
    hostnames: dict[tuple[str, str], _HostnamePull] = field(default_factory=dict)
    origin_certificates: dict[str, _OriginCertificate] = field(default_factory=dict)
    origin_roots: dict[str, tuple[Any, x509.Certificate]] = field(default_factory=dict)


def _envelope(
    result: Any,
    *,
    success: bool = True,
    errors: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
    result_info: dict[str, int] | None = None,
) -> dict[str, Any]:
    # https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/#response-format
    body: dict[str, Any] = {
        "result": result,
        "success": success,
        "errors": errors or [],
        "messages": messages or [],
    }
    if result_info is not None:
        body["result_info"] = result_info
    return body


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _no_route(path: str) -> _ApiError:
    # Quoted in https://github.com/zanjie1999/cloudflare-api-v4-ddns/issues/4 and
    # https://github.com/timothymiller/cloudflare-ddns/issues/152 (HTTP 400).
    return _ApiError(
        400,
        [
            {
                "code": 7003,
                "message": f"Could not route to {path}, perhaps your object identifier is invalid?",
            },
            {"code": 7000, "message": "No route for that URI"},
        ],
    )


def _normalize_zone_name(name: str) -> str:
    zone_name = name.strip().rstrip(".").lower()
    if not _valid_hostname(zone_name) or "." not in zone_name:
        raise ValueError(f"invalid zone name {name!r}")
    return zone_name


def _valid_hostname(name: str, *, wildcard: bool = False) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    for position, label in enumerate(labels):
        if wildcard and position == 0 and label == "*":
            continue
        if not _LABEL_SHAPE.fullmatch(label):
            return False
    return True


def _to_ascii(name: str) -> str:
    """Names travel in Punycode; turn a Unicode name into it (IDNA 2003 is close enough)."""
    if name.isascii():
        return name
    return ".".join(
        label.encode("idna").decode("ascii") if not label.isascii() else label
        for label in name.split(".")
    )


def _text_matches(value: str, operator: str, wanted: str) -> bool:
    # Name, content and comment filters are case-insensitive (SDK RecordListParams docs).
    value, wanted = value.lower(), wanted.lower()
    if operator == "exact":
        return value == wanted
    if operator == "contains":
        return wanted in value
    if operator == "startswith":
        return value.startswith(wanted)
    if operator == "endswith":
        return value.endswith(wanted)
    return True


def _integer_parameter(query: Mapping[str, list[str]], key: str, default: int) -> int:
    values = query.get(key)
    if not values:
        return default
    try:
        # The SDK sends page numbers as floats ("2.0").
        return int(float(values[0]))
    except ValueError:
        return default


def _paginate(
    items: Sequence[dict[str, Any]],
    query: Mapping[str, list[str]],
    *,
    default: int,
    minimum: int,
    maximum: int,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Cut one page out of ``items``; a page past the last is empty, not an error.

    The SDK's auto-pager asks for the next page until it gets an empty one, so a page
    past the end must succeed with ``[]``.
    """
    page = max(1, _integer_parameter(query, "page", 1))
    per_page = min(maximum, max(minimum, _integer_parameter(query, "per_page", default)))
    start = (page - 1) * per_page
    chunk = list(items[start : start + per_page])
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": math.ceil(len(items) / per_page),
    }
    return chunk, info


class CloudflareEmulator:
    """The Cloudflare v4 API and the nameservers of its zones, on loopback, for tests.

    Configure zones, records and credentials with the ``add_*`` methods (before or after
    ``start``), then point the SDK at ``base_url`` and DNS clients at
    ``(nameserver.address, dns_port)`` or ``(resolver_address, dns_port)``. All methods
    are thread-safe. ``start`` binds fresh ports (never fixed ones); ``stop`` closes every
    socket and is idempotent; the context manager does both.
    """

    def __init__(
        self,
        *,
        nameserver_delays: Sequence[float] = (0.0, 0.0, 0.0),
        nameserver_names: Sequence[str] | None = None,
        api_host: str = "127.0.0.1",
        rate_limit: int = 1200,
        rate_window: float = 300.0,
    ) -> None:
        if not nameserver_delays:
            raise ValueError("at least one nameserver is needed")
        if len(nameserver_delays) > 52:
            raise ValueError("at most 52 nameservers fit on 127.0.53.1-52")
        if nameserver_names is None:
            nameserver_names = [
                f"{DEFAULT_NAMESERVER_NAMES[index]}.ns.cloudflare.com"
                if index < len(DEFAULT_NAMESERVER_NAMES)
                else f"ns{index + 1}.ns.cloudflare.com"
                for index in range(len(nameserver_delays))
            ]
        if len(nameserver_names) != len(nameserver_delays):
            raise ValueError("nameserver_names and nameserver_delays must have the same length")
        self._nameservers = [
            Nameserver(
                name=_normalize_zone_name(name), address=f"127.0.53.{index + 1}", delay=float(delay)
            )
            for index, (name, delay) in enumerate(
                zip(nameserver_names, nameserver_delays, strict=True)
            )
        ]
        self._api_host = api_host
        self._rate_limit = rate_limit
        self._rate_window = rate_window
        self._lock = threading.RLock()
        self._account_id = uuid.uuid4().hex
        self._zones: dict[str, _Zone] = {}
        self._records: dict[str, _Record] = {}
        self._tokens: dict[str, _Token] = {}
        self._global_keys: dict[tuple[str, str], str] = {}
        self._tls = _TlsState()
        self._requests: list[ApiRequest] = []
        self._dns_queries: list[DnsQuery] = []
        self._injected_limits = 0
        self._injected_retry_after = 1
        self._usage: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._http: _HttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._dns: DnsServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the DNS servers and the HTTP API in daemon threads on fresh ports.

        Raises RuntimeError when already running, OSError when no port could be bound.
        """
        with self._lock:
            if self._http is not None:
                raise RuntimeError("the emulator is already running")
            dns_server = DnsServer(
                nameserver_addresses=[nameserver.address for nameserver in self._nameservers],
                resolver_address=RESOLVER_ADDRESS,
                view=self._dns_view,
                on_query=self._log_dns_query,
            )
            dns_server.start()
            try:
                http_server = _HttpServer((self._api_host, 0), self._respond)
            except OSError:
                dns_server.stop()
                raise
            self._dns = dns_server
            self._http = http_server
            self._http_thread = threading.Thread(
                target=http_server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name="cloudflare-emulator",
                daemon=True,
            )
            self._http_thread.start()
            logger.debug("Cloudflare emulator at %s, DNS port %d", self.base_url, dns_server.port)

    def stop(self) -> None:
        """Stop every server and close every socket; safe to call more than once."""
        with self._lock:
            http_server, self._http = self._http, None
            dns_server, self._dns = self._dns, None
            thread, self._http_thread = self._http_thread, None
        if http_server is not None:
            http_server.shutdown()
            http_server.close_connections()
            http_server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        if dns_server is not None:
            dns_server.stop()

    def __enter__(self) -> CloudflareEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/client/v4``; raises RuntimeError before ``start``."""
        http_server = self._http
        if http_server is None:
            raise RuntimeError("the emulator is not running")
        port = http_server.server_address[1]
        return f"http://{self._api_host}:{port}{API_PREFIX}"

    @property
    def dns_port(self) -> int:
        """The one port every nameserver address and the resolver listen on (after ``start``)."""
        dns_server = self._dns
        if dns_server is None:
            raise RuntimeError("the emulator is not running")
        return dns_server.port

    @property
    def nameservers(self) -> list[Nameserver]:
        """The emulated nameservers, with their current delays."""
        with self._lock:
            return list(self._nameservers)

    @property
    def resolver_address(self) -> str:
        """Address of the resolver, which sees only what the most lagging nameserver sees."""
        return RESOLVER_ADDRESS

    @property
    def requests(self) -> list[ApiRequest]:
        """A copy of the API request log, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def dns_queries(self) -> list[DnsQuery]:
        """A copy of the DNS query log (nameservers and resolver), oldest first."""
        with self._lock:
            return list(self._dns_queries)

    def clear_logs(self) -> None:
        """Forget every logged API request and DNS query."""
        with self._lock:
            self._requests.clear()
            self._dns_queries.clear()

    # ------------------------------------------------------------------ configuration

    def add_zone(self, name: str, *, zone_id: str | None = None) -> str:
        """Add an active zone served by every nameserver at once; return its id.

        ``zone_id`` must be 32 lowercase hex digits like a real one (random by default).
        Raises ValueError for an invalid name or id, or a zone that already exists.
        """
        zone_name = _normalize_zone_name(_to_ascii(name))
        identifier = zone_id if zone_id is not None else uuid.uuid4().hex
        if not _ID_SHAPE.fullmatch(identifier):
            raise ValueError(f"zone id {identifier!r} is not 32 lowercase hex digits")
        with self._lock:
            if identifier in self._zones or any(
                zone.name == zone_name for zone in self._zones.values()
            ):
                raise ValueError(f"zone {zone_name} ({identifier}) already exists")
            self._zones[identifier] = _Zone(id=identifier, name=zone_name, created_on=_timestamp())
        return identifier

    def add_record(
        self,
        zone: str,
        type: str,
        name: str,
        content: str,
        *,
        proxied: bool = False,
        ttl: int = AUTOMATIC_TTL,
        comment: str | None = None,
    ) -> str:
        """Add a record as if it had been created long ago: every nameserver serves it now.

        ``zone`` is a zone name or id; ``name`` is relative or absolute as in the API.
        Applies the API's validation and duplicate rules; raises ValueError (with the
        API's message) when the API would refuse the record. Returns the record id.
        """
        with self._lock:
            target = self._find_zone(zone)
            if target is None:
                raise ValueError(f"no zone {zone!r}")
            try:
                record = self._new_record(
                    target,
                    {
                        "type": type,
                        "name": name,
                        "content": content,
                        "proxied": proxied,
                        "ttl": ttl,
                        "comment": comment,
                    },
                    visible_from=tuple(-math.inf for _ in self._nameservers),
                )
            except _ApiError as error:
                raise ValueError(json.dumps(error.errors)) from error
            self._records[record.id] = record
            return record.id

    def add_token(
        self,
        token: str,
        *,
        zones: Iterable[str] | None = None,
        zone_read: bool = True,
        dns_read: bool = True,
        dns_edit: bool = True,
        zone_settings_edit: bool = True,
        ssl_edit: bool = True,
    ) -> None:
        """Accept ``token`` as a Bearer token with these permissions.

        ``zones`` limits it to zones given by name or id (they may be added later);
        ``None`` means every zone of the account. ``dns_edit`` implies DNS read. A token
        without ``zone_read`` cannot list or read zones but can still use the DNS
        records of the zones it covers, given their ids. ``zone_settings_edit`` (Zone
        Settings Edit) covers the ``ssl`` and ``tls_client_auth`` settings; ``ssl_edit``
        (SSL and Certificates Edit) covers origin-pull certificates and the Origin CA.
        """
        scope = (
            None
            if zones is None
            else frozenset(_to_ascii(zone).strip().rstrip(".").lower() for zone in zones)
        )
        with self._lock:
            self._tokens[token] = _Token(
                id=uuid.uuid4().hex,
                zones=scope,
                zone_read=zone_read,
                dns_read=dns_read,
                dns_edit=dns_edit,
                zone_settings_edit=zone_settings_edit,
                ssl_edit=ssl_edit,
            )

    def add_global_key(self, email: str, key: str) -> None:
        """Accept ``X-Auth-Email: email`` with ``X-Auth-Key: key``, with full access."""
        with self._lock:
            self._global_keys[(email.lower(), key)] = email

    def set_nameserver_delay(self, index: int, seconds: float) -> None:
        """Change nameserver ``index``'s delay; it applies to changes made from now on."""
        with self._lock:
            self._nameservers[index] = replace(self._nameservers[index], delay=float(seconds))

    def inject_rate_limit(self, count: int, *, retry_after: int = 1) -> None:
        """Make the next ``count`` API requests fail with 429/971 and ``Retry-After``."""
        with self._lock:
            self._injected_limits = count
            self._injected_retry_after = retry_after

    @property
    def rate_limit(self) -> tuple[int, float]:
        """The per-credential limit: (requests, window seconds)."""
        return self._rate_limit, self._rate_window

    def set_rate_limit(self, limit: int, window: float) -> None:
        """Change the per-credential limit and forget the requests counted so far, so a test
        measures only what comes next (other processes' requests are not its to account for)."""
        with self._lock:
            self._rate_limit, self._rate_window = limit, window
            self._usage.clear()
            self._blocked_until.clear()

    def records(self, *, type: str | None = None, zone: str | None = None) -> list[dict[str, Any]]:
        """The current (API-level, not yet propagated) records in API JSON shape."""
        with self._lock:
            selected_zone = self._find_zone(zone) if zone is not None else None
            if zone is not None and selected_zone is None:
                return []
            return [
                self._record_json(record)
                for record in self._live_records()
                if (type is None or record.type == type.upper())
                and (selected_zone is None or record.zone_id == selected_zone.id)
            ]

    def zones(self) -> list[dict[str, Any]]:
        """Every zone in API JSON shape (as the account owner sees it), by name."""
        owner = _Credential(kind="global", identity="", token=None)
        with self._lock:
            return [
                self._zone_json(zone, owner)
                for zone in sorted(self._zones.values(), key=lambda zone: zone.name)
            ]

    # ------------------------------------------------------------------ state helpers

    def _find_zone(self, zone: str) -> _Zone | None:
        key = zone.strip().rstrip(".").lower()
        if key in self._zones:
            return self._zones[key]
        return next(
            (candidate for candidate in self._zones.values() if candidate.name == key), None
        )

    def _live_records(self) -> list[_Record]:
        return [record for record in self._records.values() if not record.deleted]

    def _record_json(self, record: _Record) -> dict[str, Any]:
        # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/get/
        zone = self._zones[record.zone_id]
        body: dict[str, Any] = {
            "id": record.id,
            "zone_id": zone.id,
            "zone_name": zone.name,
            "name": record.name,
            "type": record.type,
            "content": record.content,
            "proxiable": record.type in PROXIABLE_TYPES,
            "proxied": record.proxied,
            "ttl": record.ttl,
            "locked": False,
            "settings": {"flatten_cname": False} if record.type == "CNAME" else {},
            "meta": {
                "auto_added": False,
                "managed_by_apps": False,
                "managed_by_argo_tunnel": False,
            },
            "comment": record.comment,
            "tags": list(record.tags),
            "created_on": record.created_on,
            "modified_on": record.modified_on,
        }
        if record.comment is not None:
            body["comment_modified_on"] = record.created_on
        return body

    def _zone_json(self, zone: _Zone, credential: _Credential) -> dict[str, Any]:
        # https://developers.cloudflare.com/api/resources/zones/methods/get/
        permissions = [
            "#zone:read", "#dns_records:read", "#dns_records:edit", "#zone_settings:edit",
            "#ssl:edit",
        ]  # fmt: skip
        if credential.token is not None:
            token = credential.token
            permissions = [
                permission
                for permission, granted in (
                    ("#zone:read", token.zone_read),
                    ("#dns_records:read", token.dns_read or token.dns_edit),
                    ("#dns_records:edit", token.dns_edit),
                    ("#zone_settings:edit", token.zone_settings_edit),
                    ("#ssl:edit", token.ssl_edit),
                )
                if granted
            ]
        return {
            "id": zone.id,
            "name": zone.name,
            "status": "active",
            "paused": False,
            "type": "full",
            "development_mode": 0,
            "name_servers": [nameserver.name for nameserver in self._nameservers],
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "modified_on": zone.created_on,
            "created_on": zone.created_on,
            "activated_on": zone.created_on,
            "vanity_name_servers": [],
            "meta": {
                "step": 2,
                "custom_certificate_quota": 0,
                "page_rule_quota": 3,
                "phishing_detected": False,
                "cdn_only": False,
                "dns_only": False,
                "foundation_dns": False,
            },
            "owner": {"id": None, "type": "user", "email": None},
            "account": {"id": self._account_id, "name": "Sandbox account"},
            "tenant": {"id": None, "name": None},
            "tenant_unit": {"id": None},
            "permissions": permissions,
            "plan": {
                "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                "name": "Free Website",
                "price": 0,
                "currency": "USD",
                "frequency": "",
                "is_subscribed": False,
                "can_subscribe": False,
                "legacy_id": "free",
                "legacy_discount": False,
                "externally_managed": False,
            },
        }

    def _new_record(
        self, zone: _Zone, payload: Mapping[str, Any], *, visible_from: tuple[float, ...]
    ) -> _Record:
        """Validate a create payload against the zone and build the record (not stored).

        Raises _ApiError with the API's status and codes when the API would refuse it.
        """
        record_type = payload.get("type")
        if not isinstance(record_type, str) or record_type.upper() not in SUPPORTED_TYPES:
            # The emulator supports only the types acmecf uses; the real API supports more
            # and its wording for an unknown type is not verified.
            raise _ApiError.single(
                400,
                1004,
                "DNS Validation Error",
                chain=[(1004, f"Unsupported record type {record_type!r}.")],
            )
        record_type = record_type.upper()
        name = self._absolute_name(zone, payload.get("name"))
        content = payload.get("content")
        ttl = payload.get("ttl", AUTOMATIC_TTL)
        if isinstance(ttl, float) and ttl.is_integer():
            ttl = int(ttl)  # JSON numbers such as 60.0 are fine
        proxied = payload.get("proxied", False)
        comment = payload.get("comment")
        tags = payload.get("tags") or []
        served_rdata = self._validate_content(record_type, name, content)
        content = cast(str, content)
        if record_type == "CNAME":
            content = _to_ascii(content.strip()).rstrip(".").lower()
        # "TTL must be between 60 and 86400 seconds, or 1 for Automatic." inside 1004:
        # https://github.com/timothymiller/cloudflare-ddns/issues/179
        if (
            isinstance(ttl, bool)
            or not isinstance(ttl, int)
            or not (ttl == AUTOMATIC_TTL or 60 <= ttl <= 86400)
        ):
            raise _ApiError.single(
                400,
                1004,
                "DNS Validation Error",
                chain=[(9021, "TTL must be between 60 and 86400 seconds, or 1 for Automatic.")],
            )
        if not isinstance(proxied, bool):
            raise _ApiError.single(
                400, 1004, "DNS Validation Error", chain=[(1004, "proxied must be a boolean.")]
            )
        # "Code 9004: This record type cannot be proxied." (quoted in public setup guides).
        if proxied and record_type not in PROXIABLE_TYPES:
            raise _ApiError.single(400, 9004, "This record type cannot be proxied.")
        if comment is not None and not isinstance(comment, str):
            raise _ApiError.single(
                400, 1004, "DNS Validation Error", chain=[(1004, "comment must be a string.")]
            )
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise _ApiError.single(
                400, 1004, "DNS Validation Error", chain=[(1004, "tags must be strings.")]
            )
        self._check_conflicts(zone, record_type, name, served_rdata)
        now = _timestamp()
        return _Record(
            id=uuid.uuid4().hex,
            zone_id=zone.id,
            name=name,
            type=record_type,
            content=content,
            proxied=proxied,
            ttl=ttl,
            comment=comment,
            tags=tuple(tags),
            created_on=now,
            modified_on=now,
            served=self._served(record_type, name, served_rdata, proxied=proxied, ttl=ttl),
            visible_from=visible_from,
        )

    @staticmethod
    def _absolute_name(zone: _Zone, raw_name: Any) -> str:
        # The API takes "@" for the apex and treats a name that does not end in the zone
        # name as relative to it ("www" and "www.other.org" become www[.other.org].<zone>).
        # https://developers.cloudflare.com/dns/manage-dns-records/how-to/create-dns-records/
        invalid = _ApiError.single(
            400, 1004, "DNS Validation Error", chain=[(9000, "DNS name is invalid.")]
        )
        if not isinstance(raw_name, str):
            raise invalid
        name = _to_ascii(raw_name.strip()).rstrip(".").lower()
        if name == "@":
            return zone.name
        if not name:
            raise invalid
        if name != zone.name and not name.endswith("." + zone.name):
            name = f"{name}.{zone.name}"
        if not _valid_hostname(name, wildcard=True):
            raise invalid
        return name

    @staticmethod
    def _validate_content(record_type: str, name: str, content: Any) -> dns.rdata.Rdata:
        if not isinstance(content, str) or (record_type != "TXT" and not content.strip()):
            raise _ApiError.single(
                400,
                1004,
                "DNS Validation Error",
                chain=[(1004, f"Content for {record_type} record is required.")],
            )
        # "Content for A record must be a valid IPv4 address." (9005), quoted in
        # https://github.com/yulewang/cloudflare-api-v4-ddns/issues/16; the AAAA
        # wording is its IPv6 twin (not verified).
        if record_type == "A":
            try:
                ipaddress.IPv4Address(content)
            except ValueError:
                raise _ApiError.single(
                    400, 9005, "Content for A record must be a valid IPv4 address."
                ) from None
        if record_type == "AAAA":
            try:
                ipaddress.IPv6Address(content)
            except ValueError:
                raise _ApiError.single(
                    400, 9006, "Content for AAAA record must be a valid IPv6 address."
                ) from None
        if record_type == "CNAME":
            target = _to_ascii(content.strip()).rstrip(".").lower()
            if not _valid_hostname(target):
                raise _ApiError.single(
                    400,
                    1004,
                    "DNS Validation Error",
                    chain=[(9007, "Content for CNAME record is invalid.")],
                )
            if target == name:
                raise _ApiError.single(400, 9039, "CNAME content cannot reference itself.")
            content = target
        try:
            return rdata_for(record_type, content)
        except ValueError as error:
            raise _ApiError.single(
                400, 1004, "DNS Validation Error", chain=[(1004, str(error))]
            ) from error

    def _check_conflicts(
        self, zone: _Zone, record_type: str, name: str, served_rdata: dns.rdata.Rdata
    ) -> None:
        same_name = [
            record
            for record in self._live_records()
            if record.zone_id == zone.id and record.name == name
        ]
        for record in same_name:
            if (
                record.type == record_type
                and rdata_for(record.type, self._served_content(record)) == served_rdata
            ):
                # HTTP 400 {"code":81058,"message":"An identical record already exists."}:
                # https://github.com/jeessy2/ddns-go/issues/1378
                raise _ApiError.single(400, 81058, "An identical record already exists.")
        # Only CNAME clashes are refused, and only with A, AAAA and CNAME records:
        # https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/records-with-same-name/
        # 81053 quoted in https://github.com/cloudflare/terraform-provider-cloudflare/issues/1247,
        # 81054 in https://github.com/favonia/cloudflare-ddns/issues/990.
        if record_type == "CNAME" and any(
            record.type in ("A", "AAAA", "CNAME") for record in same_name
        ):
            raise _ApiError.single(
                400, 81053, "An A, AAAA, or CNAME record with that host already exists."
            )
        if record_type in ("A", "AAAA") and any(record.type == "CNAME" for record in same_name):
            raise _ApiError.single(
                400,
                81054,
                "A CNAME record with that host already exists. "
                f"For more details, refer to <{SAME_NAME_HELP}>.",
            )

    @staticmethod
    def _served_content(record: _Record) -> str:
        return (
            record.content.strip().rstrip(".").lower() if record.type == "CNAME" else record.content
        )

    @staticmethod
    def _served(
        record_type: str, name: str, rdata: dns.rdata.Rdata, *, proxied: bool, ttl: int
    ) -> tuple[ServedRecord, ...]:
        seconds = AUTOMATIC_TTL_SECONDS if proxied or ttl == AUTOMATIC_TTL else ttl
        if not proxied:
            return (ServedRecord(name=name, rdtype=record_type, ttl=seconds, rdata=rdata),)
        # A proxied name answers with Cloudflare's addresses, a proxied CNAME flattened to both.
        served: list[ServedRecord] = []
        if record_type in ("A", "CNAME"):
            address = rdata_for("A", PROXY_ADDRESS_V4)
            served.append(ServedRecord(name=name, rdtype="A", ttl=seconds, rdata=address))
        if record_type in ("AAAA", "CNAME"):
            address6 = rdata_for("AAAA", PROXY_ADDRESS_V6)
            served.append(ServedRecord(name=name, rdtype="AAAA", ttl=seconds, rdata=address6))
        return tuple(served)

    # ------------------------------------------------------------------ DNS side

    def _dns_view(self, view_index: int | None) -> DnsView:
        """What nameserver ``view_index`` (or the resolver, for None) serves right now.

        A record created at t is served by nameserver i from t + delay_i and, once
        deleted at t', until t' + delay_i (delays as they were at each change). The
        resolver sees a record only once the most lagging nameserver serves it, and keeps
        seeing it until that nameserver drops it. Each zone's SOA serial counts the
        changes the view has seen.
        """
        now = time.monotonic()
        with self._lock:
            zones: list[ZoneView] = []
            for zone in self._zones.values():
                served: list[ServedRecord] = []
                changes = 0
                for record in self._records.values():
                    if record.zone_id != zone.id:
                        continue
                    if view_index is None:
                        appears = max(record.visible_from)
                        vanishes = (
                            max(record.hidden_from) if record.hidden_from is not None else math.inf
                        )
                    else:
                        appears = record.visible_from[view_index]
                        vanishes = (
                            record.hidden_from[view_index]
                            if record.hidden_from is not None
                            else math.inf
                        )
                    changes += (appears <= now) + (vanishes <= now)
                    if appears <= now < vanishes:
                        served.extend(record.served)
                zones.append(
                    ZoneView(name=zone.name, serial=SERIAL_BASE + changes, records=tuple(served))
                )
            nameservers = tuple(
                (nameserver.name, nameserver.address) for nameserver in self._nameservers
            )
        return DnsView(zones=tuple(zones), nameservers=nameservers)

    def _log_dns_query(self, query: DnsQuery) -> None:
        with self._lock:
            self._dns_queries.append(query)

    def _propagation_times(self, now: float) -> tuple[float, ...]:
        return tuple(now + nameserver.delay for nameserver in self._nameservers)

    # ------------------------------------------------------------------ HTTP side

    def _respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        """Answer one HTTP request and log it. ``headers`` keys are lowercase."""
        received = time.monotonic()
        split = urlsplit(target)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        if "authorization" in headers:
            auth_kind = "token"
        elif "x-auth-email" in headers or "x-auth-key" in headers:
            auth_kind = "global"
        else:
            auth_kind = "none"
        try:
            reply = self._dispatch(method, path, query, headers, body)
        except _ApiError as error:
            reply = error.reply()
        except Exception:
            logger.exception("Cloudflare emulator failed on %s %s", method, path)
            reply = _ApiError.single(500, 10001, "Internal emulator error").reply()
        reply.headers.setdefault("CF-RAY", f"{secrets.token_hex(8)}-EMU")
        with self._lock:
            self._requests.append(
                ApiRequest(
                    method=method,
                    path=path,
                    query=query,
                    status=reply.status,
                    time=received,
                    auth=auth_kind,
                )
            )
        logger.debug("%s %s -> %d", method, path, reply.status)
        return reply

    def _dispatch(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Reply:
        with self._lock:
            if self._injected_limits > 0:
                self._injected_limits -= 1
                raise self._rate_limited(self._injected_retry_after)
        if not path.startswith(API_PREFIX + "/"):
            raise _ApiError.single(400, 7000, "No route for that URI")
        parts = path[len(API_PREFIX) + 1 :].rstrip("/").split("/")

        if parts == ["user", "tokens", "verify"]:
            self._allow(method, path, ("GET",))
            return self._verify_token(headers)
        if parts[0] == "certificates" and len(parts) <= 2:
            return self._dispatch_origin_ca(method, path, parts, query, headers, body)
        if (
            parts[0] == "zones"
            and len(parts) >= 3
            and parts[2] in ("settings", "origin_tls_client_auth")
            and _ID_SHAPE.fullmatch(parts[1])
        ):
            return self._dispatch_tls(method, path, parts, headers, body)
        if parts[0] != "zones" or len(parts) > 4 or (len(parts) >= 3 and parts[2] != "dns_records"):
            raise _ApiError.single(400, 7000, "No route for that URI")
        if len(parts) == 1:
            self._allow(method, path, ("GET",))
            credential = self._authenticate(headers, unknown_token=self._invalid_access_token)
            self._count(credential)
            return self._list_zones(credential, query)
        zone_id = parts[1]
        if not _ID_SHAPE.fullmatch(zone_id) or (
            len(parts) == 4 and not _ID_SHAPE.fullmatch(parts[3])
        ):
            raise _no_route(path)
        if len(parts) == 2:
            self._allow(method, path, ("GET",))
            credential = self._authenticate(headers, unknown_token=self._invalid_access_token)
            self._count(credential)
            return self._get_zone(credential, zone_id, path)
        # The DNS records service answers an unknown token with 401/10000 where /zones
        # says 403/9109 (observed side by side in a public report, not verified further).
        if len(parts) == 3:
            self._allow(method, path, ("GET", "POST"))
            credential = self._authenticate(headers, unknown_token=self._authentication_error)
            self._count(credential)
            if method == "GET":
                return self._list_records(credential, zone_id, query, path)
            return self._create_record(credential, zone_id, body, path)
        self._allow(method, path, ("GET", "DELETE"))
        credential = self._authenticate(headers, unknown_token=self._authentication_error)
        self._count(credential)
        if method == "GET":
            return self._get_record(credential, zone_id, parts[3], path)
        return self._delete_record(credential, zone_id, parts[3], path)

    @staticmethod
    def _allow(method: str, path: str, methods: Sequence[str]) -> None:
        # "Method DELETE not available for that URI." quoted in
        # https://github.com/cloudflare-api/python-cloudflare-v4/issues/17 (code not shown).
        if method not in methods:
            raise _ApiError.single(405, 7001, f"Method {method} not available for that URI.")

    # ----------------------------------------------------------- authentication

    @staticmethod
    def _invalid_access_token() -> _ApiError:
        return _ApiError.single(403, 9109, "Invalid access token")

    @staticmethod
    def _authentication_error() -> _ApiError:
        return _ApiError.single(401, 10000, "Authentication error")

    def _authenticate(
        self, headers: Mapping[str, str], *, unknown_token: Callable[[], _ApiError]
    ) -> _Credential:
        """Identify the credential, or raise what Cloudflare answers for a bad one.

        Probed against the live API and recorded in a public project note (Oct 2026): a
        well-formed unknown token gets 403 9109 "Invalid access token" on /zones (401 1000
        on /user/tokens/verify), anything not shaped like a token 400 6003 with 6111, a
        wrong Global API Key 403 9103, no credentials 403 9106. Wording of 6003/6111/6102/
        6103/9103/9106 as quoted in certbot/NewFuture DDNS/Posh-ACME issue reports.
        """
        if "authorization" in headers:
            scheme, _, secret = headers["authorization"].strip().partition(" ")
            secret = secret.strip()
            if scheme.lower() == "bearer":
                with self._lock:
                    token = self._tokens.get(secret)
                if token is not None:
                    return _Credential(kind="token", identity=token.id, token=token)
                if _TOKEN_SHAPE.fullmatch(secret):
                    raise unknown_token()
            raise _ApiError.single(
                400,
                6003,
                "Invalid request headers",
                chain=[(6111, "Invalid format for Authorization header")],
            )
        email = headers.get("x-auth-email", "").strip()
        key = headers.get("x-auth-key", "").strip()
        if email or key:
            with self._lock:
                known = self._global_keys.get((email.lower(), key))
            if known is not None:
                return _Credential(kind="global", identity=known.lower(), token=None)
            chain: list[tuple[int, str]] = []
            if "@" not in email:
                chain.append((6102, "Invalid format for X-Auth-Email header"))
            if not _GLOBAL_KEY_SHAPE.fullmatch(key):
                chain.append((6103, "Invalid format for X-Auth-Key header"))
            if chain:
                raise _ApiError.single(400, 6003, "Invalid request headers", chain=chain)
            raise _ApiError.single(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
        raise _ApiError.single(
            403, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
        )

    def _count(self, credential: _Credential) -> None:
        """Apply the per-credential limit: over ``rate_limit`` requests in ``rate_window``
        seconds blocks every call for the next ``rate_window`` seconds with 429.
        https://developers.cloudflare.com/fundamentals/api/reference/limits/
        """
        now = time.monotonic()
        with self._lock:
            blocked_until = self._blocked_until.get(credential.identity, 0.0)
            if now < blocked_until:
                raise self._rate_limited(math.ceil(blocked_until - now))
            usage = self._usage.setdefault(credential.identity, deque())
            while usage and usage[0] <= now - self._rate_window:
                usage.popleft()
            if len(usage) >= self._rate_limit:
                self._blocked_until[credential.identity] = now + self._rate_window
                usage.clear()
                raise self._rate_limited(math.ceil(self._rate_window))
            usage.append(now)

    @staticmethod
    def _rate_limited(retry_after: int) -> _ApiError:
        # 429 {"code":971,"message":"Please wait and consider throttling your request speed"}
        # quoted in https://github.com/cloudflare/terraform-provider-cloudflare/issues/5505
        # notes; retry-after "the number of seconds, rounded up, until more capacity is
        # available": https://developers.cloudflare.com/fundamentals/api/reference/limits/
        error = _ApiError.single(429, 971, "Please wait and consider throttling your request speed")
        error.headers["Retry-After"] = str(max(0, retry_after))
        return error

    def _zone_for(
        self, credential: _Credential, zone_id: str, path: str, *, denied: _ApiError
    ) -> _Zone:
        """The zone ``zone_id`` if the credential may reach it at all.

        A token that does not cover the zone, or a zone that does not exist, gets
        ``denied``, so a scoped token cannot probe other zones. A Global API Key asking
        for an unknown zone gets the routing error (not verified).
        """
        with self._lock:
            zone = self._zones.get(zone_id)
        if credential.token is not None:
            if zone is None or not credential.token.covers(zone):
                raise denied
            return zone
        if zone is None:
            raise _no_route(path)
        return zone

    # ------------------------------------------------------------- endpoints

    # https://developers.cloudflare.com/api/resources/user/subresources/tokens/methods/verify/
    def _verify_token(self, headers: Mapping[str, str]) -> _Reply:
        if "authorization" not in headers and (
            "x-auth-email" in headers or "x-auth-key" in headers
        ):
            # {"code":1001,"message":"Missing \"Authorization\" header"} for X-Auth headers:
            # https://github.com/kissgyorgy/cloudflare-dyndns/issues/40 (status not shown).
            raise _ApiError.single(400, 1001, 'Missing "Authorization" header')
        # 401 {"code":1000,"message":"Invalid API Token"} for an unknown token.
        credential = self._authenticate(
            headers, unknown_token=lambda: _ApiError.single(401, 1000, "Invalid API Token")
        )
        self._count(credential)
        token = cast(_Token, credential.token)
        # Success shape quoted in https://github.com/putyourlightson/craft-cloudflare/issues/88
        return _Reply(
            200,
            _envelope(
                {"id": token.id, "status": "active"},
                messages=[
                    {"code": 10000, "message": "This API Token is valid and active", "type": None}
                ],
            ),
        )

    # https://developers.cloudflare.com/api/resources/zones/methods/list/
    def _list_zones(self, credential: _Credential, query: Mapping[str, list[str]]) -> _Reply:
        token = credential.token
        if token is not None and not token.zone_read:
            # Error code 0 quoted by cert-manager's and certbot's Cloudflare docs for a
            # token that may not list zones.
            raise _ApiError.single(
                403,
                0,
                f"Actor 'com.cloudflare.api.token.{token.id}' requires permission "
                "'com.cloudflare.api.account.zone.list' to list zones",
            )
        name = (query.get("name") or [""])[0].strip().rstrip(".").lower()
        status = (query.get("status") or [""])[0]
        account_id = (query.get("account.id") or [""])[0]
        account_name = (query.get("account.name") or [""])[0]
        with self._lock:
            zones = [
                zone
                for zone in self._zones.values()
                if (token is None or token.covers(zone))
                and (not name or zone.name == _to_ascii(name))
                and (not status or status == "active")
                and (not account_id or account_id == self._account_id)
                and (not account_name or account_name == "Sandbox account")
            ]
            order = (query.get("order") or ["name"])[0]
            descending = (query.get("direction") or ["asc"])[0] == "desc"
            key: Callable[[_Zone], str] = (
                (lambda zone: zone.created_on)
                if order == "created_on"
                else (lambda zone: zone.name)
            )
            zones.sort(key=key, reverse=descending)
            items = [self._zone_json(zone, credential) for zone in zones]
        # per_page: default 20, minimum 5, maximum 50.
        page, info = _paginate(items, query, default=20, minimum=5, maximum=50)
        return _Reply(200, _envelope(page, result_info=info))

    # https://developers.cloudflare.com/api/resources/zones/methods/get/
    def _get_zone(self, credential: _Credential, zone_id: str, path: str) -> _Reply:
        # A token short of Zone:Read gets 403 9109 "Unauthorized to access requested
        # resource" (seen for /zones/{id}/settings/* with a DNS-only token in public notes).
        denied = _ApiError.single(403, 9109, "Unauthorized to access requested resource")
        zone = self._zone_for(credential, zone_id, path, denied=denied)
        if credential.token is not None and not credential.token.zone_read:
            raise denied
        with self._lock:
            return _Reply(200, _envelope(self._zone_json(zone, credential)))

    def _dns_zone(
        self, credential: _Credential, zone_id: str, path: str, method: str, *, edit: bool
    ) -> _Zone:
        """The zone for a DNS records call, or 403 10000 when the token may not do it.

        "Authentication error" (10000) is what a token without DNS access to the zone gets
        (https://github.com/cloudflare/terraform-provider-cloudflare/issues/3292); a token
        with DNS read but not edit gets "<METHOD> method not allowed for the api_token
        authentication scheme" (https://github.com/fire1ce/DDNS-Cloudflare-Bash/issues/3).
        """
        denied = _ApiError.single(403, 10000, "Authentication error")
        zone = self._zone_for(credential, zone_id, path, denied=denied)
        token = credential.token
        if token is None:
            return zone
        if not (token.dns_read or token.dns_edit):
            raise denied
        if edit and not token.dns_edit:
            raise _ApiError.single(
                403, 10000, f"{method} method not allowed for the api_token authentication scheme"
            )
        return zone

    # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/
    def _list_records(
        self, credential: _Credential, zone_id: str, query: Mapping[str, list[str]], path: str
    ) -> _Reply:
        zone = self._dns_zone(credential, zone_id, path, "GET", edit=False)
        checks = _record_filters(query)
        match_any = (query.get("match") or ["all"])[0] == "any"
        search = (query.get("search") or [""])[0].lower()
        with self._lock:
            records = [record for record in self._live_records() if record.zone_id == zone.id]
            selected = [
                record
                for record in records
                if (not checks or (any if match_any else all)(check(record) for check in checks))
                and (not search or search in record.name or search in record.content.lower())
            ]
            order = (query.get("order") or [""])[0]
            descending = (query.get("direction") or ["asc"])[0] == "desc"
            selected.sort(key=_record_sort_key(order), reverse=descending)
            items = [self._record_json(record) for record in selected]
        # per_page: default 100, minimum 1, maximum 5,000,000 (API schema dns-records_per_page).
        page, info = _paginate(items, query, default=100, minimum=1, maximum=5_000_000)
        return _Reply(200, _envelope(page, result_info=info))

    # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/create/
    def _create_record(
        self, credential: _Credential, zone_id: str, body: bytes, path: str
    ) -> _Reply:
        zone = self._dns_zone(credential, zone_id, path, "POST", edit=True)
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            # Wording for an unparsable body not verified.
            raise _ApiError.single(400, 9207, "Request body is invalid.")
        with self._lock:
            record = self._new_record(
                zone, payload, visible_from=self._propagation_times(time.monotonic())
            )
            self._records[record.id] = record
            result = self._record_json(record)
        messages: list[dict[str, Any]] = []
        if record.type == "TXT" and not record.content.strip().startswith('"'):
            # Cloudflare accepts bare TXT content and serves it unchanged, but flags it
            # with this text (dashboard wording, DNSControl issue 3621; the code is ours).
            messages.append({"code": 0, "message": TXT_QUOTE_WARNING, "type": "warning"})
        return _Reply(200, _envelope(result, messages=messages))

    # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/get/
    def _get_record(
        self, credential: _Credential, zone_id: str, record_id: str, path: str
    ) -> _Reply:
        zone = self._dns_zone(credential, zone_id, path, "GET", edit=False)
        with self._lock:
            record = self._records.get(record_id)
            if record is None or record.deleted or record.zone_id != zone.id:
                raise _record_missing()
            return _Reply(200, _envelope(self._record_json(record)))

    # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/delete/
    def _delete_record(
        self, credential: _Credential, zone_id: str, record_id: str, path: str
    ) -> _Reply:
        zone = self._dns_zone(credential, zone_id, path, "DELETE", edit=True)
        with self._lock:
            record = self._records.get(record_id)
            if record is None or record.deleted or record.zone_id != zone.id:
                raise _record_missing()
            record.hidden_from = self._propagation_times(time.monotonic())
        return _Reply(200, _envelope({"id": record_id}))

    # ------------------------------------------------------- TLS: public helpers for tests

    def zone_setting(self, zone: str, setting: str) -> str:
        """The current value of a zone setting (``ssl`` or ``tls_client_auth``)."""
        with self._lock:
            target = self._find_zone(zone)
            if target is None:
                raise ValueError(f"no zone {zone!r}")
            return self._setting(target.id, setting)[0]

    def set_zone_setting(self, zone: str, setting: str, value: str) -> None:
        """Change a zone setting as the dashboard would. Raises ValueError for a bad value."""
        if value not in ZONE_SETTING_VALUES.get(setting, ()):
            raise ValueError(f"invalid value {value!r} for zone setting {setting!r}")
        with self._lock:
            target = self._find_zone(zone)
            if target is None:
                raise ValueError(f"no zone {zone!r}")
            self._tls.settings[(target.id, setting)] = (value, _timestamp())

    def origin_ca_root_pem(self, request_type: str = "origin-ecc") -> bytes:
        """The emulated Origin CA root that signs ``request_type`` certificates (PEM)."""
        with self._lock:
            _, root = self._origin_root(request_type)
        return root.public_bytes(serialization.Encoding.PEM)

    def edge_client_certificate(self, hostname: str) -> EdgeClientCertificate | None:
        """What the edge would present when pulling ``hostname`` from its origin right now.

        None when no client certificate is sent: the zone's ``tls_client_auth`` is off, its
        SSL mode is off or flexible (origin pulls do not apply there), or the host name's
        association is disabled. A host name's own certificate takes precedence over the
        zone's, and the zone's (the most recently uploaded active one, once enabled) over
        Cloudflare's shared certificate.
        https://developers.cloudflare.com/ssl/origin-configuration/authenticated-origin-pull/set-up/
        """
        name = hostname.strip().rstrip(".").lower()
        with self._lock:
            zone = self._zone_of_name(name)
            if zone is None:
                raise ValueError(f"no zone holds {hostname!r}")
            if self._setting(zone.id, "tls_client_auth")[0] != "on":
                return None
            if self._setting(zone.id, "ssl")[0] in ("off", "flexible"):
                return None
            association = self._tls.hostnames.get((zone.id, name))
            if association is not None:
                if not association.enabled:
                    return None
                certificate = self._tls.hostname_certificates.get(association.cert_id)
                if certificate is not None:
                    return EdgeClientCertificate(
                        "hostname", certificate.certificate, certificate.private_key
                    )
            if self._tls.zone_pull_enabled.get(zone.id, False):
                uploaded = [
                    c
                    for c in self._tls.zone_certificates.values()
                    if c.zone_id == zone.id and c.status == "active"
                ]
                if uploaded:
                    latest = max(uploaded, key=lambda c: c.uploaded_on)
                    return EdgeClientCertificate("zone", latest.certificate, latest.private_key)
            return EdgeClientCertificate("shared", None, None)

    # ------------------------------------------------------- TLS: state helpers

    def _setting(self, zone_id: str, setting: str) -> tuple[str, str]:
        stored = self._tls.settings.get((zone_id, setting))
        if stored is not None:
            return stored
        zone = self._zones[zone_id]
        return ZONE_SETTING_DEFAULTS[setting], zone.created_on

    def _zone_of_name(self, name: str) -> _Zone | None:
        best: _Zone | None = None
        for zone in self._zones.values():
            if (name == zone.name or name.endswith("." + zone.name)) and (
                best is None or len(zone.name) > len(best.name)
            ):
                best = zone
        return best

    def _origin_root(self, request_type: str) -> tuple[Any, x509.Certificate]:
        # The real roots: "CloudFlare Origin SSL Certificate Authority" (RSA) and "CloudFlare
        # Origin SSL ECC Certificate Authority"; leaves are signed by them directly.
        # https://developers.cloudflare.com/ssl/origin-configuration/origin-ca/#cloudflare-origin-ca-root-certificate
        kind = "ecc" if request_type == "origin-ecc" else "rsa"
        if kind not in self._tls.origin_roots:
            key: Any = (
                ec.generate_private_key(ec.SECP256R1())
                if kind == "ecc"
                else rsa.generate_private_key(public_exponent=65537, key_size=2048)
            )
            unit = (
                "CloudFlare Origin SSL ECC Certificate Authority"
                if kind == "ecc"
                else "CloudFlare Origin SSL Certificate Authority"
            )
            name = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CloudFlare, Inc."),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                    x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
                    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
                ]
            )
            now = datetime.now(UTC)
            root = self_signed_ca(
                key,
                name,
                now.replace(year=now.year - 1),
                now.replace(year=now.year + 20),
                path_length=2,
            )
            self._tls.origin_roots[kind] = (key, root)
        return self._tls.origin_roots[kind]

    def _ssl_zone(self, credential: _Credential, zone_id: str, path: str, permission: str) -> _Zone:
        """The zone for a settings or certificates call, or 403 when the token may not.

        A token short of the permission gets 403 9109 "Unauthorized to access requested
        resource", as quoted for /zones/{id}/settings/* with a DNS-only token (for the
        certificate endpoints the same answer is assumed: not verified).
        """
        denied = _ApiError.single(403, 9109, "Unauthorized to access requested resource")
        zone = self._zone_for(credential, zone_id, path, denied=denied)
        token = credential.token
        if token is not None and not getattr(token, permission):
            raise denied
        return zone

    # ------------------------------------------------------- TLS: endpoints

    def _dispatch_tls(
        self,
        method: str,
        path: str,
        parts: list[str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Reply:
        """/zones/{id}/settings/{name} and /zones/{id}/origin_tls_client_auth/..."""
        zone_id, rest = parts[1], parts[2:]
        if rest[0] == "settings":
            if len(rest) != 2:
                raise _ApiError.single(400, 7000, "No route for that URI")
            self._allow(method, path, ("GET", "PATCH"))
            credential = self._authenticate(headers, unknown_token=self._invalid_access_token)
            self._count(credential)
            zone = self._ssl_zone(credential, zone_id, path, "zone_settings_edit")
            return self._zone_setting_reply(zone, rest[1], method, body)
        tail = rest[1:]
        routes: list[tuple[Callable[[list[str]], bool], tuple[str, ...]]] = [
            (lambda t: t == [], ("GET", "POST")),
            (lambda t: t == ["settings"], ("GET", "PUT")),
            (lambda t: t == ["hostnames"], ("PUT",)),
            (lambda t: t == ["hostnames", "certificates"], ("GET", "POST")),
            (lambda t: len(t) == 3 and t[:2] == ["hostnames", "certificates"], ("GET", "DELETE")),
            (lambda t: len(t) == 2 and t[0] == "hostnames", ("GET",)),
            (lambda t: len(t) == 1 and t[0] not in ("settings", "hostnames"), ("GET", "DELETE")),
        ]
        methods = next((allowed for match, allowed in routes if match(tail)), None)
        if methods is None:
            raise _ApiError.single(400, 7000, "No route for that URI")
        self._allow(method, path, methods)
        credential = self._authenticate(headers, unknown_token=self._invalid_access_token)
        self._count(credential)
        zone = self._ssl_zone(credential, zone_id, path, "ssl_edit")
        with self._lock:
            if tail == []:
                if method == "GET":
                    return self._list_pull_certificates(zone, self._tls.zone_certificates)
                return self._upload_pull_certificate(zone, body, self._tls.zone_certificates)
            if tail == ["settings"]:
                return self._zone_pull_setting(zone, method, body)
            if tail == ["hostnames"]:
                return self._update_hostnames(zone, body)
            if tail == ["hostnames", "certificates"]:
                if method == "GET":
                    return self._list_pull_certificates(zone, self._tls.hostname_certificates)
                return self._upload_pull_certificate(zone, body, self._tls.hostname_certificates)
            if len(tail) == 3:
                return self._one_pull_certificate(
                    zone, tail[2], method, self._tls.hostname_certificates, hostname_level=True
                )
            if len(tail) == 2:
                return self._get_hostname(zone, tail[1])
            return self._one_pull_certificate(
                zone, tail[0], method, self._tls.zone_certificates, hostname_level=False
            )

    # https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/get/
    # https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/edit/
    def _zone_setting_reply(self, zone: _Zone, setting: str, method: str, body: bytes) -> _Reply:
        if setting not in ZONE_SETTING_VALUES:
            # "Unrecognized zone setting name: origin_max_http_version (1006)", quoted in
            # https://github.com/cloudflare/terraform-provider-cloudflare/issues/1810; the
            # emulator knows only the settings acmecf uses (status not verified).
            raise _ApiError.single(400, 1006, f"Unrecognized zone setting name: {setting}")
        with self._lock:
            if method == "PATCH":
                payload = _json_object(body)
                value = payload.get("value")
                # "Invalid value for zone setting ciphers (1007)": quoted in
                # https://github.com/cloudflare/terraform-provider-cloudflare/issues/3003
                if not isinstance(value, str) or value not in ZONE_SETTING_VALUES[setting]:
                    raise _ApiError.single(400, 1007, f"Invalid value for zone setting {setting}")
                self._tls.settings[(zone.id, setting)] = (value, _timestamp())
            value, modified_on = self._setting(zone.id, setting)
        return _Reply(
            200,
            _envelope(
                {"id": setting, "value": value, "editable": True, "modified_on": modified_on}
            ),
        )

    # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/settings/
    def _zone_pull_setting(self, zone: _Zone, method: str, body: bytes) -> _Reply:
        if method == "PUT":
            enabled = _json_object(body).get("enabled")
            if not isinstance(enabled, bool):
                # Wording not verified.
                raise _ApiError.single(400, 1004, "enabled must be a boolean.")
            self._tls.zone_pull_enabled[zone.id] = enabled
        return _Reply(200, _envelope({"enabled": self._tls.zone_pull_enabled.get(zone.id, False)}))

    # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/create/
    # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/create/
    def _upload_pull_certificate(
        self, zone: _Zone, body: bytes, store: dict[str, _PullCertificate]
    ) -> _Reply:
        payload = _json_object(body)
        certificate_pem, key_pem = payload.get("certificate"), payload.get("private_key")
        if not isinstance(certificate_pem, str) or not isinstance(key_pem, str):
            # Codes and wording of the certificate checks below are not verified.
            raise _ApiError.single(400, 1400, "certificate and private_key are required.")
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        except ValueError:
            raise _ApiError.single(
                400, 1401, "The certificate is not a valid PEM certificate."
            ) from None
        try:
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except (ValueError, TypeError):
            raise _ApiError.single(400, 1402, "The private key is not a valid PEM key.") from None
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(serialization.Encoding.DER, spki) != (
            certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
        ):
            raise _ApiError.single(400, 1403, "The private key does not match the certificate.")
        if certificate.not_valid_after_utc <= datetime.now(UTC):
            raise _ApiError.single(400, 1404, "The certificate has expired.")
        hostname_level = store is self._tls.hostname_certificates
        if hostname_level and (
            sum(1 for c in store.values() if c.zone_id == zone.id) >= HOSTNAME_CERTIFICATES_PER_ZONE
        ):
            raise _ApiError.single(400, 1405, "10 hostname certificates per zone are allowed.")
        signature = certificate.signature_hash_algorithm
        algorithm = "ECDSA" if isinstance(key, ec.EllipticCurvePrivateKey) else "RSA"
        entry = _PullCertificate(
            id=uuid.uuid4().hex,
            zone_id=zone.id,
            certificate=certificate_pem,
            private_key=key_pem,
            issuer=certificate.issuer.rfc4514_string(),
            serial_number=str(certificate.serial_number),
            signature=f"{algorithm}WithSHA{signature.digest_size * 8 if signature else 256}",
            expires_on=certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            uploaded_on=_timestamp(),
        )
        store[entry.id] = entry
        # Deployment is asynchronous: the upload answers pending_deployment; the emulator
        # deploys at once, so every later read sees active.
        result = self._pull_certificate_json(entry)
        result["status"] = "pending_deployment"
        return _Reply(200, _envelope(result))

    def _list_pull_certificates(self, zone: _Zone, store: dict[str, _PullCertificate]) -> _Reply:
        items = [self._pull_certificate_json(c) for c in store.values() if c.zone_id == zone.id]
        info = {"page": 1, "per_page": 50, "count": len(items), "total_count": len(items)}
        return _Reply(200, _envelope(items, result_info=info))

    def _one_pull_certificate(
        self,
        zone: _Zone,
        certificate_id: str,
        method: str,
        store: dict[str, _PullCertificate],
        *,
        hostname_level: bool,
    ) -> _Reply:
        entry = store.get(certificate_id)
        if entry is None or entry.zone_id != zone.id:
            # Code and wording not verified.
            raise _ApiError.single(404, 1407, "Certificate not found.")
        if method == "GET":
            return _Reply(200, _envelope(self._pull_certificate_json(entry)))
        if hostname_level and any(
            a.cert_id == certificate_id for a in self._tls.hostnames.values()
        ):
            # "Before deleting the certificate, you must first invalidate the hostname ...
            # by sending a PUT request with enabled set to null" (hostname_certificates docs).
            raise _ApiError.single(
                400,
                1406,
                "The certificate is in use by a hostname; invalidate the association first.",
            )
        del store[certificate_id]
        result = self._pull_certificate_json(entry)
        result["status"] = "pending_deletion"
        return _Reply(200, _envelope(result))

    # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostnames/methods/update/
    def _update_hostnames(self, zone: _Zone, body: bytes) -> _Reply:
        config = _json_object(body).get("config")
        if not isinstance(config, list) or not config:
            raise _ApiError.single(400, 1004, "config is required.")  # wording not verified
        results: list[dict[str, Any]] = []
        for item in config:
            if not isinstance(item, dict):
                raise _ApiError.single(400, 1004, "config items must be objects.")
            hostname = str(item.get("hostname") or "").strip().rstrip(".").lower()
            cert_id = str(item.get("cert_id") or "")
            enabled = item.get("enabled")
            if not hostname or not (hostname == zone.name or hostname.endswith("." + zone.name)):
                raise _ApiError.single(400, 1408, f"{hostname} is not a hostname of this zone.")
            certificate = self._tls.hostname_certificates.get(cert_id)
            if certificate is None or certificate.zone_id != zone.id:
                raise _ApiError.single(400, 1407, "Certificate not found.")
            key = (zone.id, hostname)
            if enabled is None:
                # "A null value voids the association."
                self._tls.hostnames.pop(key, None)
                association = _HostnamePull(hostname, cert_id, False, _timestamp(), _timestamp())
                results.append(self._hostname_json(association, certificate, voided=True))
                continue
            if not isinstance(enabled, bool):
                raise _ApiError.single(400, 1004, "enabled must be a boolean or null.")
            previous = self._tls.hostnames.get(key)
            created = previous.created_at if previous else _timestamp()
            association = _HostnamePull(hostname, cert_id, enabled, created, _timestamp())
            self._tls.hostnames[key] = association
            results.append(self._hostname_json(association, certificate))
        info = {"page": 1, "per_page": 50, "count": len(results), "total_count": len(results)}
        return _Reply(200, _envelope(results, result_info=info))

    # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostnames/methods/get/
    def _get_hostname(self, zone: _Zone, hostname: str) -> _Reply:
        association = self._tls.hostnames.get((zone.id, hostname.lower()))
        if association is None:
            raise _ApiError.single(404, 1409, "Hostname association not found.")  # not verified
        certificate = self._tls.hostname_certificates.get(association.cert_id)
        return _Reply(200, _envelope(self._hostname_json(association, certificate)))

    @staticmethod
    def _pull_certificate_json(entry: _PullCertificate) -> dict[str, Any]:
        return {
            "id": entry.id,
            "certificate": entry.certificate,
            "issuer": entry.issuer,
            "serial_number": entry.serial_number,
            "signature": entry.signature,
            "status": entry.status,
            "expires_on": entry.expires_on,
            "uploaded_on": entry.uploaded_on,
        }

    @staticmethod
    def _hostname_json(
        association: _HostnamePull, certificate: _PullCertificate | None, *, voided: bool = False
    ) -> dict[str, Any]:
        return {
            "hostname": association.hostname,
            "cert_id": association.cert_id,
            "enabled": None if voided else association.enabled,
            "status": "pending_deletion" if voided else "active",
            "created_at": association.created_at,
            "updated_at": association.updated_at,
            "cert_status": certificate.status if certificate else None,
            "cert_uploaded_on": certificate.uploaded_on if certificate else None,
            "cert_updated_at": certificate.uploaded_on if certificate else None,
            "certificate": certificate.certificate if certificate else None,
            "issuer": certificate.issuer if certificate else None,
            "serial_number": certificate.serial_number if certificate else None,
            "signature": certificate.signature if certificate else None,
            "expires_on": certificate.expires_on if certificate else None,
        }

    # https://developers.cloudflare.com/api/resources/origin_ca_certificates/
    def _dispatch_origin_ca(
        self,
        method: str,
        path: str,
        parts: list[str],
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Reply:
        self._allow(method, path, ("GET", "POST") if len(parts) == 1 else ("GET", "DELETE"))
        credential = self._authenticate(headers, unknown_token=self._invalid_access_token)
        self._count(credential)
        with self._lock:
            if len(parts) == 1 and method == "POST":
                return self._create_origin_certificate(credential, body)
            if len(parts) == 1:
                return self._list_origin_certificates(credential, query, path)
            entry = self._tls.origin_certificates.get(parts[1])
            if (
                entry is None
                or entry.revoked_at is not None
                or not any(
                    self._may_use_origin_ca(credential, self._zones[z]) for z in entry.zone_ids
                )
            ):
                # Code and wording not verified.
                raise _ApiError.single(404, 1001, "Certificate not found.")
            if method == "GET":
                return _Reply(200, _envelope(self._origin_certificate_json(entry)))
            entry.revoked_at = _timestamp()
            return _Reply(200, _envelope({"id": entry.id, "revoked_at": entry.revoked_at}))

    @staticmethod
    def _may_use_origin_ca(credential: _Credential, zone: _Zone) -> bool:
        token = credential.token
        return token is None or (token.covers(zone) and token.ssl_edit)

    # https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/create/
    def _create_origin_certificate(self, credential: _Credential, body: bytes) -> _Reply:
        payload = _json_object(body)
        csr_pem, hostnames = payload.get("csr"), payload.get("hostnames")
        request_type = payload.get("request_type")
        validity = payload.get("requested_validity", ORIGIN_CA_DEFAULT_VALIDITY)
        if isinstance(validity, float) and validity.is_integer():
            validity = int(validity)
        # Codes and wording of the request checks are not verified, except 1010 below.
        if not isinstance(csr_pem, str) or not csr_pem.strip():
            raise _ApiError.single(400, 1002, "csr is required.")
        if not isinstance(hostnames, list) or not hostnames:
            raise _ApiError.single(400, 1002, "hostnames is required.")
        if request_type not in ("origin-rsa", "origin-ecc"):
            raise _ApiError.single(400, 1002, "request_type must be origin-rsa or origin-ecc.")
        if validity not in ORIGIN_CA_VALIDITIES:
            raise _ApiError.single(
                400, 1002, "requested_validity must be one of 7, 30, 90, 365, 730, 1095, 5475."
            )
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise _ApiError.single(400, 1002, "The CSR is not a valid PEM request.") from None
        if not csr.is_signature_valid:
            raise _ApiError.single(400, 1002, "The CSR's signature is invalid.")
        public_key = csr.public_key()
        wanted = ec.EllipticCurvePublicKey if request_type == "origin-ecc" else rsa.RSAPublicKey
        if not isinstance(public_key, wanted):
            raise _ApiError.single(
                400, 1002, f"The CSR's key type does not match request_type {request_type}."
            )
        names: list[str] = []
        zone_ids: list[str] = []
        for raw in hostnames:
            name = _to_ascii(str(raw).strip()).rstrip(".").lower()
            base = name[2:] if name.startswith("*.") else name
            zone = self._zone_of_name(base) if _valid_hostname(name, wildcard=True) else None
            if zone is None or not self._may_use_origin_ca(credential, zone):
                # Wording as Cloudflare's Origin CA answers it (from public reports; the
                # status is not verified).
                raise _ApiError.single(
                    400,
                    1010,
                    f"Failed to validate requested hostname {name}: This zone is either not "
                    "part of your account, or you do not have access to it. Please contact "
                    "support if using a multi-user organization.",
                )
            names.append(name)
            if zone.id not in zone_ids:
                zone_ids.append(zone.id)
        root_key, root = self._origin_root(request_type)
        now = datetime.now(UTC)
        expires = now + timedelta(days=validity)
        serial = x509.random_serial_number()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CloudFlare, Inc."),
                        x509.NameAttribute(
                            NameOID.ORGANIZATIONAL_UNIT_NAME, "CloudFlare Origin CA"
                        ),
                        x509.NameAttribute(NameOID.COMMON_NAME, "CloudFlare Origin Certificate"),
                    ]
                )
            )
            .issuer_name(root.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(expires)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        entry = _OriginCertificate(
            id=str(serial),
            zone_ids=tuple(zone_ids),
            certificate=leaf.public_bytes(serialization.Encoding.PEM).decode(),
            csr=csr_pem,
            hostnames=tuple(names),
            request_type=str(request_type),
            requested_validity=int(validity),
            # Go's time format, as the Origin CA writes it ("2014-01-01 05:20:00 +0000 UTC").
            expires_on=expires.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        )
        self._tls.origin_certificates[entry.id] = entry
        return _Reply(200, _envelope(self._origin_certificate_json(entry)))

    # https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/list/
    def _list_origin_certificates(
        self, credential: _Credential, query: Mapping[str, list[str]], path: str
    ) -> _Reply:
        zone_id = (query.get("zone_id") or [""])[0]
        zone = self._zones.get(zone_id)
        if zone is None:
            raise _ApiError.single(400, 1002, "zone_id is required.")  # not verified
        if not self._may_use_origin_ca(credential, zone):
            raise _ApiError.single(403, 1016, "User is not authorized to perform this action")
        items = [
            self._origin_certificate_json(entry)
            for entry in self._tls.origin_certificates.values()
            if zone_id in entry.zone_ids and entry.revoked_at is None
        ]
        page, info = _paginate(items, query, default=20, minimum=5, maximum=50)
        return _Reply(200, _envelope(page, result_info=info))

    @staticmethod
    def _origin_certificate_json(entry: _OriginCertificate) -> dict[str, Any]:
        return {
            "id": entry.id,
            "certificate": entry.certificate,
            "csr": entry.csr,
            "hostnames": list(entry.hostnames),
            "expires_on": entry.expires_on,
            "request_type": entry.request_type,
            "requested_validity": entry.requested_validity,
        }


def _json_object(body: bytes) -> dict[str, Any]:
    """The JSON object in a request body, or 400 9207 (wording for this not verified)."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise _ApiError.single(400, 9207, "Request body is invalid.")
    return payload


def _record_missing() -> _ApiError:
    # 404 {"code":81044,"message":"Record does not exist."}: quoted in
    # https://github.com/zanjie1999/cloudflare-api-v4-ddns/issues/5 (status as in client fakes).
    return _ApiError.single(404, 81044, "Record does not exist.")


def _record_filters(query: Mapping[str, list[str]]) -> list[Callable[[_Record], bool]]:
    """The list filters in ``query`` (type, name[.op], content[.op], comment[.op], proxied)."""
    checks: list[Callable[[_Record], bool]] = []
    for key, values in query.items():
        wanted = values[0] if values else ""
        field_name, _, operator = key.partition(".")
        if key == "type":
            checks.append(_type_check(wanted.upper()))
        elif key == "proxied":
            checks.append(_proxied_check(wanted.lower() == "true"))
        elif key in ("comment.present", "comment.absent"):
            checks.append(_comment_presence_check(present=key == "comment.present"))
        elif field_name in _TEXT_FIELDS and operator in _TEXT_OPERATORS:
            if field_name == "name":
                wanted = _to_ascii(wanted.strip()).rstrip(".")
            checks.append(_text_check(_TEXT_FIELDS[field_name], operator or "exact", wanted))
    return checks


_TEXT_FIELDS: dict[str, Callable[[_Record], str]] = {
    "name": lambda record: record.name,
    "content": lambda record: record.content,
    "comment": lambda record: record.comment or "",
}
_TEXT_OPERATORS = ("", "exact", "contains", "startswith", "endswith")


def _type_check(wanted: str) -> Callable[[_Record], bool]:
    return lambda record: record.type == wanted


def _proxied_check(wanted: bool) -> Callable[[_Record], bool]:
    return lambda record: record.proxied == wanted


def _comment_presence_check(*, present: bool) -> Callable[[_Record], bool]:
    return lambda record: (record.comment is not None) == present


def _text_check(
    getter: Callable[[_Record], str], operator: str, wanted: str
) -> Callable[[_Record], bool]:
    return lambda record: _text_matches(getter(record), operator, wanted)


def _record_sort_key(order: str) -> Callable[[_Record], tuple[Any, ...]]:
    if order == "name":
        return lambda record: (record.name, record.type, record.content)
    if order == "content":
        return lambda record: (record.content, record.name)
    if order == "ttl":
        return lambda record: (record.ttl, record.name)
    if order == "proxied":
        return lambda record: (record.proxied, record.name)
    # Default (and "type"): by type, then name, then content (real default not documented).
    return lambda record: (record.type, record.name, record.content)


Responder = Callable[[str, str, Mapping[str, str], bytes], _Reply]
"""Answers (method, request target, lowercase headers, body)."""


class _HttpServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so ``stop`` can cut them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], respond: Responder) -> None:
        self.respond = respond
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request (a killed process) is normal, not a fault."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut every kept-alive connection so no handler thread outlives the server."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    timeout = 30

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        reply = cast(_HttpServer, self.server).respond(self.command, self.path, headers, body)
        payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        # Requests are logged by the emulator itself (without secrets).
        return
