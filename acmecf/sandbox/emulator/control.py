"""``CloudflareEmulator``: what a test holds: start, stop, configure, inspect.

It owns the state, the API pipeline and both servers, and is the only place tests touch:
``add_*`` methods configure the account as the dashboard would (no request is logged or
counted, and the API's validation and quotas apply), properties, ``records``, ``zones``
and ``count_requests`` read it back, and the ``set_*`` methods turn run-time knobs
(zone status, plan and quotas; nameserver delays, reachability and IPv6; the resolver's
lag; rate limits; faults, API latency and refused record names; origin-pull deployment
time). Every method is thread-safe and
may be called before or after ``start``.

Does not: answer requests itself (``server.Api`` does), or serve DNS (``dns_server`` does,
from the views ``nameservers`` builds).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import serialization

from acmecf.sandbox.dns_server import (
    IPV6_LOOPBACK,
    RESOLVER_ADDRESS,
    DnsQuery,
    DnsServer,
    DnsView,
    ipv6_loopback_available,
)
from acmecf.sandbox.emulator.dns_records import check_record_quota, new_record, record_json
from acmecf.sandbox.emulator.envelope import API_PREFIX, ApiError, timestamp
from acmecf.sandbox.emulator.faults import SERVER_ERRORS, FaultPlan
from acmecf.sandbox.emulator.nameservers import dns_view
from acmecf.sandbox.emulator.origin_ca import origin_root
from acmecf.sandbox.emulator.origin_pulls import (
    DEFAULT_DEPLOY_DELAY,
    EdgeClientCertificate,
    edge_certificate,
)
from acmecf.sandbox.emulator.ratelimit import DEFAULT_LIMIT, DEFAULT_WINDOW, RateLimiter
from acmecf.sandbox.emulator.server import Api, ApiRequest, HttpServer
from acmecf.sandbox.emulator.state import (
    DEFAULT_USER,
    ID_SHAPE,
    OWNER,
    PLANS,
    ZONE_STATUSES,
    Nameserver,
    State,
    Token,
    Zone,
    normalize_zone_name,
    to_ascii,
)
from acmecf.sandbox.emulator.zone_settings import ZONE_SETTING_VALUES, setting
from acmecf.sandbox.emulator.zones import zone_json

logger = logging.getLogger(__name__)


def _check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, not {value!r}")


DEFAULT_NAMESERVER_NAMES = (
    "ada", "bob", "cruz", "dana", "elle", "fay", "gus", "hal", "ida", "jay", "kai", "lou",
)  # fmt: skip


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
        rate_limit: int = DEFAULT_LIMIT,
        rate_window: float = DEFAULT_WINDOW,
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
        nameservers = [
            Nameserver(
                name=normalize_zone_name(name), address=f"127.0.53.{index + 1}", delay=float(delay)
            )
            for index, (name, delay) in enumerate(
                zip(nameserver_names, nameserver_delays, strict=True)
            )
        ]
        self._api_host = api_host
        self._state = State(nameservers)
        self._state.tls.deploy_delay = DEFAULT_DEPLOY_DELAY
        self._limiter = RateLimiter(rate_limit, rate_window)
        self._faults = FaultPlan()
        self._api = Api(self._state, limiter=self._limiter, faults=self._faults)
        self._lifecycle = threading.Lock()
        self._http: HttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._dns: DnsServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the DNS servers and the HTTP API in daemon threads on fresh ports.

        Raises RuntimeError when already running, OSError when no port could be bound.
        """
        with self._lifecycle:
            if self._http is not None:
                raise RuntimeError("the emulator is already running")
            with self._state.lock:
                addresses = list(self._state.ipv4_addresses)
            dns_server = DnsServer(
                nameserver_addresses=addresses,
                resolver_address=RESOLVER_ADDRESS,
                view=self._dns_view,
                on_query=self._log_dns_query,
                ipv6_address=IPV6_LOOPBACK if ipv6_loopback_available() else None,
            )
            dns_server.start()
            try:
                http_server = HttpServer(
                    (self._api_host, 0),
                    self._api.respond,
                    wait_until_audible=self._faults.wait_until_audible,
                )
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
        with self._lifecycle:
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
        with self._state.lock:
            return list(self._state.nameservers)

    @property
    def resolver_address(self) -> str:
        """Address of the resolver, which sees only what the most lagging nameserver sees."""
        return RESOLVER_ADDRESS

    @property
    def requests(self) -> list[ApiRequest]:
        """A copy of the API request log, oldest first."""
        return self._api.requests

    @property
    def dns_queries(self) -> list[DnsQuery]:
        """A copy of the DNS query log (nameservers and resolver), oldest first."""
        with self._state.lock:
            return list(self._state.dns_queries)

    def count_requests(
        self, route: str | None = None, *, zone: str | None = None, status: int | None = None
    ) -> int:
        """How many logged API requests match: ``route`` as the log names it
        (``"GET /zones"``, ``"POST /zones/{zone_id}/dns_records"``), ``zone`` (a zone id
        in the path), ``status`` (the HTTP status answered). None matches anything."""
        return sum(
            1
            for request in self._api.requests
            if (route is None or request.route == route)
            and (zone is None or request.params.get("zone_id") == zone)
            and (status is None or request.status == status)
        )

    def clear_logs(self) -> None:
        """Forget every logged API request and DNS query."""
        self._api.clear_log()
        with self._state.lock:
            self._state.dns_queries.clear()

    # ------------------------------------------------------------------ configuration

    def add_zone(
        self,
        name: str,
        *,
        zone_id: str | None = None,
        status: str = "active",
        plan: str = "free",
    ) -> str:
        """Add a zone served by every nameserver at once; return its id.

        ``zone_id`` must be 32 lowercase hex digits like a real one (random by default);
        ``status`` is one of initializing, pending, active, moved; ``plan`` one of free,
        pro, business, enterprise. Raises ValueError for an invalid name, id, status or
        plan, or a zone that already exists.
        """
        zone_name = normalize_zone_name(to_ascii(name))
        identifier = zone_id if zone_id is not None else uuid.uuid4().hex
        if not ID_SHAPE.fullmatch(identifier):
            raise ValueError(f"zone id {identifier!r} is not 32 lowercase hex digits")
        _check_choice("status", status, ZONE_STATUSES)
        _check_choice("plan", plan, PLANS)
        with self._state.lock:
            self._state.add_zone(
                Zone(
                    id=identifier,
                    name=zone_name,
                    created_on=timestamp(),
                    status=status,
                    plan=plan,
                )
            )
        return identifier

    def add_zones(
        self,
        count: int,
        *,
        suffix: str = "example",
        status: str = "active",
        plan: str = "free",
    ) -> list[str]:
        """Add ``count`` zones named ``zone0001.<suffix>``... cheaply; return their ids.

        Numbering continues past the zones already named this way, so calls add up (a
        2,000-zone account is ``add_zones(2000)``). Same rules as ``add_zone``.
        """
        _check_choice("status", status, ZONE_STATUSES)
        _check_choice("plan", plan, PLANS)
        suffix = normalize_zone_name(f"zone0001.{to_ascii(suffix)}").partition(".")[2]
        created_on = timestamp()
        identifiers: list[str] = []
        with self._state.lock:
            number = 0
            while len(identifiers) < count:
                number += 1
                name = f"zone{number:04d}.{suffix}"
                if name in self._state.zone_ids_by_name:
                    continue
                zone = Zone(
                    id=uuid.uuid4().hex,
                    name=name,
                    created_on=created_on,
                    status=status,
                    plan=plan,
                )
                self._state.add_zone(zone)
                identifiers.append(zone.id)
        return identifiers

    def set_zone_status(self, zone: str, status: str) -> None:
        """Change a zone's status (initializing, pending, active, moved).

        Only active zones are seen by the resolver (a pending zone's delegation does not
        point at Cloudflare yet, a moved one's no longer does); the nameservers serve
        every zone but moved ones.
        """
        _check_choice("status", status, ZONE_STATUSES)
        with self._state.lock:
            target = self._zone(zone)
            target.status = status
            target.modified_on = timestamp()

    def set_zone_plan(self, zone: str, plan: str) -> None:
        """Change a zone's plan (free, pro, business, enterprise): its limits follow."""
        _check_choice("plan", plan, PLANS)
        with self._state.lock:
            target = self._zone(zone)
            target.plan = plan
            target.modified_on = timestamp()

    def set_zone_quota(
        self, zone: str, *, records: int | None = None, tags: int | None = None
    ) -> None:
        """Override the zone's record quota and per-record tag quota (None: the plan's)."""
        with self._state.lock:
            target = self._zone(zone)
            target.record_quota = records
            target.tag_quota = tags

    def _zone(self, zone: str) -> Zone:
        target = self._state.find_zone(zone)
        if target is None:
            raise ValueError(f"no zone {zone!r}")
        return target

    def add_record(
        self,
        zone: str,
        type: str,
        name: str,
        content: str,
        *,
        proxied: bool = False,
        ttl: int = 1,
        comment: str | None = None,
        tags: Sequence[str] = (),
    ) -> str:
        """Add a record as if it had been created long ago: every nameserver serves it now.

        ``zone`` is a zone name or id; ``name`` is relative or absolute as in the API.
        Applies the API's validation and duplicate rules; raises ValueError (with the
        API's message) when the API would refuse the record. Returns the record id.
        """
        with self._state.lock:
            target = self._state.find_zone(zone)
            if target is None:
                raise ValueError(f"no zone {zone!r}")
            try:
                record = new_record(
                    self._state,
                    target,
                    {
                        "type": type,
                        "name": name,
                        "content": content,
                        "proxied": proxied,
                        "ttl": ttl,
                        "comment": comment,
                        "tags": list(tags),
                    },
                    visible_from=self._state.long_ago(),
                )
                check_record_quota(target, len(self._state.live_records(target.id)))
            except ApiError as error:
                raise ValueError(json.dumps(error.errors)) from error
            self._state.store_record(record)
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
        user: str = DEFAULT_USER,
    ) -> None:
        """Accept ``token`` as a Bearer token of ``user`` with these permissions.

        Every token of one user shares that user's rate limit, as on Cloudflare.

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
            else frozenset(to_ascii(zone).strip().rstrip(".").lower() for zone in zones)
        )
        with self._state.lock:
            self._state.tokens[token] = Token(
                id=uuid.uuid4().hex,
                zones=scope,
                zone_read=zone_read,
                dns_read=dns_read,
                dns_edit=dns_edit,
                zone_settings_edit=zone_settings_edit,
                ssl_edit=ssl_edit,
                user=user,
            )

    def add_global_key(self, email: str, key: str, *, user: str | None = None) -> None:
        """Accept ``X-Auth-Email: email`` with ``X-Auth-Key: key``, with full access.

        The key belongs to ``user`` (by default the user ``email`` names), whose rate
        limit it shares with that user's tokens.
        """
        with self._state.lock:
            self._state.global_keys[(email.lower(), key)] = user or email.lower()

    def set_nameserver_delay(self, index: int, seconds: float) -> None:
        """Change nameserver ``index``'s delay; it applies to changes made from now on."""
        with self._state.lock:
            nameservers = self._state.nameservers
            nameservers[index] = replace(nameservers[index], delay=float(seconds))

    def set_nameserver_reachable(self, index: int, reachable: bool) -> None:
        """Make nameserver ``index`` answer nothing at all, over UDP or TCP (False), as a
        server that cannot be reached; True brings it back."""
        with self._state.lock:
            nameservers = self._state.nameservers
            nameservers[index] = replace(nameservers[index], reachable=reachable)

    @property
    def ipv6_available(self) -> bool:
        """Whether this machine has an IPv6 loopback, so ``set_nameserver_ipv6`` works."""
        return ipv6_loopback_available()

    def set_nameserver_ipv6(self, index: int, ipv6: bool = True) -> None:
        """Make nameserver ``index`` answer only at ``::1`` (its NS glue becomes an AAAA
        record, its IPv4 address goes silent); False moves it back to IPv4.

        Loopback has one IPv6 address, so one nameserver at a time. Raises RuntimeError
        when this machine has no IPv6 loopback, ValueError when another nameserver is on
        IPv6 already.
        """
        if ipv6 and not ipv6_loopback_available():
            raise RuntimeError("this machine has no IPv6 loopback (::1)")
        with self._state.lock:
            nameservers = self._state.nameservers
            if ipv6:
                taken = self._state.nameserver_index(IPV6_LOOPBACK)
                if taken is not None and taken != index:
                    raise ValueError(f"nameserver {taken} already answers at {IPV6_LOOPBACK}")
            address = IPV6_LOOPBACK if ipv6 else self._state.ipv4_addresses[index]
            nameservers[index] = replace(nameservers[index], address=address)

    def set_resolver_lag(self, seconds: float) -> None:
        """Make the resolver (what Pebble validates through) see each change ``seconds``
        after the slowest nameserver does, for changes made from now on.

        The CA's view lags every nameserver a client can query, so a client that answers
        the challenge as soon as the nameservers agree fails its validation.
        """
        with self._state.lock:
            self._state.resolver_lag = float(seconds)

    def inject_rate_limit(self, count: int, *, retry_after: int = 1) -> None:
        """Make the next ``count`` API requests fail with 429/971 and ``Retry-After``."""
        self._faults.inject_rate_limit(count, retry_after=retry_after)

    def set_faults(
        self,
        *,
        throttle: float = 0.0,
        errors: float = 0.0,
        applied_errors: float = 0.0,
        statuses: Sequence[int] = SERVER_ERRORS,
        retry_after: int = 1,
        seed: int = 0,
    ) -> None:
        """Answer a random, seeded fraction of API requests with faults, from now on.

        ``throttle``: 429 971 with ``Retry-After: retry_after``, nothing applied.
        ``errors``: a 5xx from ``statuses`` (500, 502, 503, 504), nothing applied.
        ``applied_errors``: a fraction of successful writes answered with a 5xx after they
        were applied. All zero (the default) switches random faults off. The same seed
        and requests give the same faults. See ``faults`` for the answers' shapes.
        """
        self._faults.configure(
            throttle=throttle,
            errors=errors,
            applied_errors=applied_errors,
            statuses=statuses,
            retry_after=retry_after,
            seed=seed,
        )

    def set_api_latency(self, seconds: float) -> None:
        """Answer every API request ``seconds`` after handling it (0, the default: at once).

        The real API takes a few hundred milliseconds; with a latency, requests of
        concurrent clients overlap as they do in production. A write is applied first.
        """
        if seconds < 0:
            raise ValueError(f"latency must not be negative, not {seconds}")
        self._faults.latency = float(seconds)

    def refuse_record_names(self, *names: str) -> None:
        """Refuse to create any record at these names (400 1004 with 9000 "DNS name is
        invalid." in its chain), alone or in a batch, until called again without them."""
        with self._state.lock:
            self._state.refused_names = frozenset(
                to_ascii(name.strip()).rstrip(".").lower() for name in names
            )

    def set_api_silent(self, silent: bool) -> None:
        """Accept API connections and never answer (True) until switched back (False).

        Requests held while silent are dropped without an answer when silence ends.
        """
        self._faults.set_silent(silent)

    @property
    def rate_limit(self) -> tuple[int, float]:
        """The per-user limit: (requests, window seconds); 1,200 per 300 s by default."""
        return self._limiter.limit

    def set_rate_limit(self, limit: int, window: float) -> None:
        """Change the per-user limit and forget the requests counted so far, so a test
        measures only what comes next (other processes' requests are not its to account for)."""
        self._limiter.configure(limit, window)

    def rate_limit_usage(self, user: str = DEFAULT_USER) -> tuple[int, int]:
        """(requests left, seconds until one more is allowed) for ``user`` right now."""
        usage = self._limiter.usage(user)
        return usage.remaining, usage.reset

    def records(self, *, type: str | None = None, zone: str | None = None) -> list[dict[str, Any]]:
        """The current (API-level, not yet propagated) records in API JSON shape."""
        with self._state.lock:
            selected_zone = self._state.find_zone(zone) if zone is not None else None
            if zone is not None and selected_zone is None:
                return []
            return [
                record_json(self._state, record)
                for record in self._state.live_records(
                    selected_zone.id if selected_zone is not None else None
                )
                if type is None or record.type == type.upper()
            ]

    def zones(self) -> list[dict[str, Any]]:
        """Every zone in API JSON shape (as the account owner sees it), by name."""
        with self._state.lock:
            return [
                zone_json(self._state, zone, OWNER)
                for zone in sorted(self._state.zones.values(), key=lambda zone: zone.name)
            ]

    # ------------------------------------------------------------------ TLS side

    def zone_setting(self, zone: str, setting_name: str) -> str:
        """The current value of a zone setting (``ssl`` or ``tls_client_auth``)."""
        with self._state.lock:
            target = self._state.find_zone(zone)
            if target is None:
                raise ValueError(f"no zone {zone!r}")
            return setting(self._state, target.id, setting_name)[0]

    def set_zone_setting(self, zone: str, setting_name: str, value: str) -> None:
        """Change a zone setting as the dashboard would. Raises ValueError for a bad value."""
        if value not in ZONE_SETTING_VALUES.get(setting_name, ()):
            raise ValueError(f"invalid value {value!r} for zone setting {setting_name!r}")
        with self._state.lock:
            target = self._state.find_zone(zone)
            if target is None:
                raise ValueError(f"no zone {zone!r}")
            self._state.tls.settings[(target.id, setting_name)] = (value, timestamp())

    def origin_ca_root_pem(self, request_type: str = "origin-ecc") -> bytes:
        """The emulated Origin CA root that signs ``request_type`` certificates (PEM)."""
        with self._state.lock:
            _, root = origin_root(self._state, request_type)
        return root.public_bytes(serialization.Encoding.PEM)

    def set_origin_pull_deploy_delay(self, seconds: float) -> None:
        """How long an uploaded (or deleted) origin-pull certificate takes to deploy, from
        the next upload or deletion on; ``DEFAULT_DEPLOY_DELAY`` (0.05 s) to begin with."""
        with self._state.lock:
            self._state.tls.deploy_delay = float(seconds)

    def edge_client_certificate(self, hostname: str) -> EdgeClientCertificate | None:
        """What the edge would present when pulling ``hostname`` from its origin right now.

        See ``origin_pulls.edge_certificate``; raises ValueError when no zone holds it.
        """
        with self._state.lock:
            return edge_certificate(self._state, hostname)

    # ------------------------------------------------------------------ DNS side

    def _dns_view(self, local_address: str) -> DnsView | None:
        with self._state.lock:
            if local_address == RESOLVER_ADDRESS:
                view_index: int | None = None
            else:
                view_index = self._state.nameserver_index(local_address)
                if view_index is None or not self._state.nameservers[view_index].reachable:
                    return None
        return dns_view(self._state, view_index, time.monotonic())

    def _log_dns_query(self, query: DnsQuery) -> None:
        with self._state.lock:
            self._state.dns_queries.append(query)
