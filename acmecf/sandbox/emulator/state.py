"""Everything the emulator remembers: account, users, tokens, zones, records, TLS objects.

``State`` is one object behind one re-entrant lock (``state.lock``); every reader and
writer holds it, so handlers see and leave a consistent account. Records are kept per zone
as well as by id, so a zone's records and the DNS view cost what that zone holds, not what
the account holds.

Does not: validate API input, speak HTTP or DNS, or decide what a nameserver serves at a
given moment (``nameservers`` does that from the times stored here).
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from acmecf.sandbox.dns_server import DnsQuery, ServedRecord, ZoneView

API_ACCOUNT_NAME = "Sandbox account"

# Identifier shapes. Cloudflare ids are 32 lowercase hex digits.
ID_SHAPE = re.compile(r"[0-9a-f]{32}")
_LABEL_SHAPE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


@dataclass(frozen=True)
class Nameserver:
    """One emulated Cloudflare nameserver: its host name, loopback address and delay.

    ``delay`` is how many seconds after an API change this nameserver starts serving it.
    ``address`` is where it answers (an IPv4 loopback address, or ``::1`` when it answers
    only over IPv6); ``reachable`` False means it answers nothing at all.
    """

    name: str
    address: str
    delay: float
    reachable: bool = True


ZONE_STATUSES = ("initializing", "pending", "active", "moved")
"""Zone statuses as the API reports them (ZoneListParams.status in the SDK)."""
PLANS = ("free", "pro", "business", "enterprise")
"""Plan legacy ids, cheapest first."""


@dataclass
class Zone:
    """One zone. ``record_quota`` and ``tag_quota`` of None mean the plan's default."""

    id: str
    name: str
    created_on: str
    status: str = "active"
    plan: str = "free"
    record_quota: int | None = None
    tag_quota: int | None = None
    modified_on: str | None = None
    # Changes of records that every server stopped serving and the emulator then forgot: they
    # still count in the SOA serial.
    forgotten_changes: int = 0
    # Bumped by every record change, so a DNS view built before it is built again.
    changes: int = 0


DEFAULT_USER = "sandbox@example.com"
"""The user every token belongs to unless told otherwise."""


@dataclass(frozen=True)
class Token:
    id: str
    zones: frozenset[str] | None
    zone_read: bool
    dns_read: bool
    dns_edit: bool
    zone_settings_edit: bool = True
    ssl_edit: bool = True
    user: str = DEFAULT_USER

    def covers(self, zone: Zone) -> bool:
        return self.zones is None or zone.id in self.zones or zone.name in self.zones


@dataclass(frozen=True)
class Credential:
    """Who is calling: ``kind`` is "token" or "global"; ``identity`` is the user the
    credential belongs to, which the rate limit counts by."""

    kind: str
    identity: str
    token: Token | None


OWNER = Credential(kind="global", identity="", token=None)
"""The account owner, as the test helpers see the account."""


@dataclass
class Record:
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
    # When each nameserver, then the resolver, starts and stops serving the record
    # (time.monotonic(); see State.propagation_times).
    visible_from: tuple[float, ...]
    hidden_from: tuple[float, ...] | None = None
    # The version this one replaced (an update): served until this one is visible.
    previous: Record | None = None

    @property
    def deleted(self) -> bool:
        return self.hidden_from is not None

    def versions(self) -> list[Record]:
        """This version and the ones it replaced, newest first."""
        chain: list[Record] = []
        version: Record | None = self
        while version is not None:
            chain.append(version)
            version = version.previous
        return chain


# --- TLS objects: zone settings, Authenticated Origin Pulls, Origin CA ---------------------


@dataclass
class PullCertificate:
    id: str
    zone_id: str
    certificate: str
    private_key: str
    issuer: str
    serial_number: str
    signature: str
    expires_on: str
    uploaded_on: str
    # time.monotonic() from which the edge has it deployed.
    deployed_from: float = 0.0

    def status(self, now: float) -> str:
        """``pending_deployment`` until deployed, then ``active``."""
        return "active" if now >= self.deployed_from else "pending_deployment"


@dataclass
class HostnamePull:
    hostname: str
    cert_id: str
    enabled: bool
    created_at: str
    updated_at: str


@dataclass
class OriginCertificate:
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
class TlsState:
    """Everything the TLS endpoints remember."""

    settings: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    zone_pull_enabled: dict[str, bool] = field(default_factory=dict)
    zone_certificates: dict[str, PullCertificate] = field(default_factory=dict)
    hostname_certificates: dict[str, PullCertificate] = field(default_factory=dict)
    hostnames: dict[tuple[str, str], HostnamePull] = field(default_factory=dict)
    origin_certificates: dict[str, OriginCertificate] = field(default_factory=dict)
    origin_roots: dict[str, tuple[Any, x509.Certificate]] = field(default_factory=dict)
    # Deleted certificates the edge still presents until the deletion is deployed.
    retiring: list[tuple[PullCertificate, float]] = field(default_factory=list)
    deploy_delay: float = 0.0


class State:
    """The account behind the API. Hold ``lock`` for every read and write."""

    def __init__(self, nameservers: list[Nameserver]) -> None:
        self.lock = threading.RLock()
        self.account_id = uuid.uuid4().hex
        self.account_name = API_ACCOUNT_NAME
        self.nameservers = nameservers
        # Where each nameserver listens over IPv4, whatever address it is published at.
        self.ipv4_addresses = [nameserver.address for nameserver in nameservers]
        self.resolver_lag = 0.0
        # Record names the API refuses, single or in a batch (refuse_record_names).
        self.refused_names: frozenset[str] = frozenset()
        self.zones: dict[str, Zone] = {}
        self.zone_ids_by_name: dict[str, str] = {}
        self.records: dict[str, Record] = {}
        self.records_by_zone: dict[str, dict[str, Record]] = {}
        self.tokens: dict[str, Token] = {}
        # (email, key) -> the user the Global API Key belongs to
        self.global_keys: dict[tuple[str, str], str] = {}
        self.tls = TlsState()
        self.dns_queries: list[DnsQuery] = []
        # Built DNS views by (zone id, server index or None for the resolver): the zone's
        # `changes` they were built at, the moment until which they hold, and the view.
        self.zone_views: dict[tuple[str, int | None], tuple[int, float, ZoneView]] = {}

    # ------------------------------------------------------------------ zones

    def add_zone(self, zone: Zone) -> None:
        """Store a new zone; raises ValueError when its id or name is taken."""
        if zone.id in self.zones or zone.name in self.zone_ids_by_name:
            raise ValueError(f"zone {zone.name} ({zone.id}) already exists")
        self.zones[zone.id] = zone
        self.zone_ids_by_name[zone.name] = zone.id
        self.records_by_zone[zone.id] = {}

    def find_zone(self, key: str) -> Zone | None:
        """The zone with this id or name (any case, final dot optional)."""
        key = key.strip().rstrip(".").lower()
        if key in self.zones:
            return self.zones[key]
        zone_id = self.zone_ids_by_name.get(key)
        return self.zones[zone_id] if zone_id is not None else None

    def zone_of_name(self, name: str) -> Zone | None:
        """The zone holding host name ``name``: the longest zone name it ends in."""
        labels = name.split(".")
        for start in range(len(labels)):
            zone_id = self.zone_ids_by_name.get(".".join(labels[start:]))
            if zone_id is not None:
                return self.zones[zone_id]
        return None

    # ------------------------------------------------------------------ records

    def store_record(self, record: Record) -> None:
        self.records[record.id] = record
        self.records_by_zone[record.zone_id][record.id] = record
        self.zones[record.zone_id].changes += 1

    def delete_record(self, record: Record, hidden_from: tuple[float, ...]) -> None:
        """Mark `record` deleted: each server stops serving it at its moment in `hidden_from`."""
        record.hidden_from = hidden_from
        self.zones[record.zone_id].changes += 1

    def forget_record(self, record: Record) -> None:
        """Drop a deleted record that no server serves any more (the API already answers
        404 for it): a zone's DNS view costs what the zone holds, not all it ever held."""
        self.records.pop(record.id, None)
        self.records_by_zone.get(record.zone_id, {}).pop(record.id, None)

    def zone_records(self, zone_id: str) -> list[Record]:
        """Every record of the zone, deleted ones included (they may still be served)."""
        return list(self.records_by_zone.get(zone_id, {}).values())

    def live_records(self, zone_id: str | None = None) -> list[Record]:
        """The records not deleted, of one zone or of the whole account."""
        if zone_id is None:
            return [record for record in self.records.values() if not record.deleted]
        return [record for record in self.zone_records(zone_id) if not record.deleted]

    def nameserver_index(self, address: str) -> int | None:
        """The index of the nameserver serving at ``address``, if one does."""
        for index, nameserver in enumerate(self.nameservers):
            if nameserver.address == address:
                return index
        return None

    def propagation_times(self, now: float) -> tuple[float, ...]:
        """When each nameserver picks up a change made at ``now``, then (last) when the
        resolver does: once the slowest nameserver has it, plus ``resolver_lag``."""
        times = tuple(now + nameserver.delay for nameserver in self.nameservers)
        return (*times, max(times) + self.resolver_lag)

    def long_ago(self) -> tuple[float, ...]:
        """``propagation_times`` of a change every server has always had."""
        return tuple(-math.inf for _ in range(len(self.nameservers) + 1))


def normalize_zone_name(name: str) -> str:
    """A zone name in lowercase ASCII without the final dot; ValueError when invalid."""
    zone_name = name.strip().rstrip(".").lower()
    if not valid_hostname(zone_name) or "." not in zone_name:
        raise ValueError(f"invalid zone name {name!r}")
    return zone_name


def valid_hostname(name: str, *, wildcard: bool = False) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    for position, label in enumerate(labels):
        if wildcard and position == 0 and label == "*":
            continue
        if not _LABEL_SHAPE.fullmatch(label):
            return False
    return True


def to_ascii(name: str) -> str:
    """Names travel in Punycode; turn a Unicode name into it (IDNA 2003 is close enough)."""
    if name.isascii():
        return name
    return ".".join(
        label.encode("idna").decode("ascii") if not label.isascii() else label
        for label in name.split(".")
    )
