"""The Cloudflare DNS provider: publishes and removes `_acme-challenge` TXT records.

Two verbs, `present` and `cleanup`, plus the zone lookup they need. This is the only module that
imports the Cloudflare SDK, and it imports it lazily so that commands which never touch the API
start fast. It does not know ACME, does not wait for DNS and never logs a credential.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from acmecf.errors import CloudflareError, ZoneNotFoundError

if TYPE_CHECKING:
    from cloudflare import Cloudflare

log = logging.getLogger(__name__)

T = TypeVar("T")

RECORD_TTL = 60  # the lowest TTL Cloudflare allows outside Enterprise plans
RECORD_COMMENT = "acmecf: ACME DNS-01 challenge, removed after validation"
# How long one API call may be held back by 429 replies before the run gives up.
MAX_RATE_LIMIT_WAIT = 330.0
TRANSIENT_RETRIES = 3
ZONES_PER_PAGE = 50  # the most the API allows
DNS_PERMISSION = "Zone > DNS > Edit"
ZONE_READ_PERMISSION = "Zone > Zone > Read"
WINDOW_MARGIN = 1.0

_BAD_CREDENTIAL_CODES = {1000, 6003, 6111, 6103, 9103, 9106, 9109}
_IDENTICAL_RECORD_CODES = {81057, 81058}
_NO_ROUTE_CODES = {7000, 7003}


@dataclass(frozen=True)
class Credentials:
    """Either an API token or the legacy global key pair (email + key)."""

    token: str | None = field(default=None, repr=False)
    email: str | None = None
    api_key: str | None = field(default=None, repr=False)
    source: str = "CLOUDFLARE_API_TOKEN"

    def describe(self) -> str:
        """Where the credentials came from, safe to print."""
        return self.source


@dataclass(frozen=True)
class Zone:
    id: str
    name: str | None  # None when only an id was given (--zone-id) and the token cannot read zones


@dataclass(frozen=True)
class RecordReceipt:
    """What `present` created: enough to delete exactly that record and nothing else.

    A receipt without a record id is provisional: the caller files it before `present`, so a
    run interrupted while the record is being created still removes it (by name and value).
    """

    zone_id: str
    zone_name: str | None
    record_id: str | None
    name: str
    value: str


class RequestBudget:
    """At most `limit` API requests in any `window` seconds, shared by every thread.

    Cloudflare allows 1200 requests per 5 minutes per token and then refuses every request
    (429) for 5 minutes; staying under the limit on our side is far cheaper than meeting it.
    A 429 that comes anyway pauses every thread until its Retry-After has passed.
    """

    def __init__(
        self,
        limit: int = 1200,
        window: float = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        # Requests are stamped when sent, Cloudflare counts them when they arrive: a second of
        # margin keeps latency differences from tipping the count over the limit.
        self.window = window + WINDOW_MARGIN
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: collections.deque[float] = collections.deque()
        self._blocked_until = 0.0
        self.waited = 0.0

    def acquire(self) -> None:
        """Return when one more request may be sent, having counted it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if now >= self._blocked_until and len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                wait = max(
                    self._blocked_until - now,
                    (self._sent[0] + self.window - now) if len(self._sent) >= self.limit else 0.0,
                    0.01,
                )
                self.waited += wait
            if wait >= 1:
                log.info("Cloudflare API budget spent: waiting %.0fs", wait)
            self._sleep(wait)

    def block(self, seconds: float) -> None:
        """Hold every request back for `seconds` (after a 429)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class CloudflareApi:
    """One set of credentials talking to the Cloudflare API: the SDK client and the one funnel
    every request goes through (budget, 429 waits, retries of transient faults, and errors
    turned into remedies). Shared by threads; one instance per credentials per run.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str | None = None,
        budget: RequestBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self._base_url = base_url
        self._budget = budget or RequestBudget(sleep=sleep)
        self._sleep = sleep
        self._client_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._client: Cloudflare | None = None
        self.requests = 0

    def call(
        self,
        request: Callable[[Cloudflare], T],
        *,
        action: str,
        zone: Zone | None,
        permission: str = DNS_PERMISSION,
    ) -> T:
        """Run one API request: within the budget, waiting out 429s, retrying transient faults.

        Raises CloudflareError (with the remedy) for anything else; a 403 on a zone names
        `permission`, the token permission the endpoint needs.
        """
        import cloudflare

        client = self._sdk()
        waited = 0.0
        transient = 0
        while True:
            self._budget.acquire()
            with self._count_lock:
                self.requests += 1
            try:
                return request(client)
            except cloudflare.RateLimitError as err:
                delay = _retry_after(err.response.headers.get("retry-after"))
                if waited + delay > MAX_RATE_LIMIT_WAIT:
                    raise CloudflareError(
                        f"Cloudflare rate limit while {action} did not lift after "
                        f"{waited:.0f}s: too many API requests with this token; retry later"
                    ) from err
                log.info("Cloudflare rate limit: waiting %.0fs as it asks", delay)
                self._budget.block(delay)
                waited += delay
            except (cloudflare.APIConnectionError, cloudflare.InternalServerError) as err:
                transient += 1
                if transient >= TRANSIENT_RETRIES:
                    raise _Unreachable(
                        f"cannot reach the Cloudflare API while {action}: {_short(err)}; "
                        "check the network (or CLOUDFLARE_BASE_URL) and retry"
                    ) from err
                self._sleep(0.5 * 2**transient)
            except cloudflare.APIStatusError as err:
                raise _explain(err, action, zone, self.credentials, permission) from err

    def _sdk(self) -> Cloudflare:
        with self._client_lock:
            if self._client is None:
                from cloudflare import Cloudflare

                creds = self.credentials
                client = Cloudflare(
                    api_token=creds.token,
                    api_key=creds.api_key,
                    api_email=creds.email,
                    base_url=self._base_url,
                    max_retries=0,  # retries and 429 waits are ours: see call()
                    timeout=30.0,
                )
                # The SDK fills every credential left as None from CLOUDFLARE_* variables and
                # then sends X-Auth-Email in preference to the token. Pin exactly ours.
                client.api_token = creds.token
                client.api_key = creds.api_key
                client.api_email = creds.email
                client.user_service_key = None
                self._client = client
            return self._client


class CloudflareDns:
    """Publishes DNS-01 TXT records in Cloudflare zones.

    Zones are listed once per instance and cached; an instance is meant to live for one run and
    may be shared by threads. Every API failure becomes a CloudflareError whose message names
    the remedy.
    """

    def __init__(self, api: CloudflareApi, *, zone_id: str | None = None) -> None:
        self._api = api
        self._credentials = api.credentials
        self._call = api.call
        self._zone_id = zone_id
        self._zones_lock = threading.Lock()
        self._zones: list[Zone] | None = None

    def zone_for(self, fqdn: str) -> Zone:
        """The zone that holds `fqdn`: the longest zone name the credentials can see that ends it.

        With a fixed zone id the id is used as given. Raises ZoneNotFoundError when no visible zone
        matches, CloudflareError when the zones cannot be listed.
        """
        if self._zone_id is not None:
            return Zone(id=self._zone_id, name=None)
        name = fqdn.rstrip(".").lower()
        best: Zone | None = None
        for zone in self._visible_zones():
            assert zone.name is not None
            if (name == zone.name or name.endswith("." + zone.name)) and (
                best is None or len(zone.name) > len(best.name or "")
            ):
                best = zone
        if best is None:
            raise ZoneNotFoundError(
                f"no Cloudflare zone for {name} is visible to {self._credentials.describe()}: add "
                "the domain to your Cloudflare account, give the token Zone > Zone > Read on it, "
                "or pass --zone-id"
            )
        return best

    def present(self, fqdn: str, value: str) -> RecordReceipt:
        """Create the TXT record `fqdn` = `value`; return a receipt for `cleanup`.

        Idempotent: when Cloudflare answers that an identical record already exists (a retried
        create whose first reply was lost, or a leftover of an interrupted run), that record is
        adopted and will be removed by `cleanup`.
        """
        zone = self.zone_for(fqdn)
        try:
            # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/create/
            record = self._call(
                lambda client: client.dns.records.create(
                    zone_id=zone.id,
                    type="TXT",
                    name=fqdn,
                    content=_quoted(value),
                    ttl=RECORD_TTL,
                    comment=RECORD_COMMENT,
                ),
                action=f"creating TXT {fqdn}",
                zone=zone,
            )
            record_id = getattr(record, "id", None)
            record_name = getattr(record, "name", fqdn)
        except _IdenticalRecordExists:
            record_id = self._find_record(zone, fqdn, value)
            record_name = fqdn
            log.debug("adopted the identical TXT record already at %s", fqdn)
        if not record_id:
            raise CloudflareError(f"Cloudflare created TXT {fqdn} but returned no record id")
        receipt = RecordReceipt(zone.id, zone.name, record_id, fqdn, value)
        if record_name.rstrip(".").lower() != fqdn:
            # Cloudflare reads a name outside the zone as relative to it (x.other.com becomes
            # x.other.com.example.com): remove the stray record and say which zone was wrong.
            self.cleanup(RecordReceipt(zone.id, zone.name, record_id, record_name, value))
            raise ZoneNotFoundError(
                f"{fqdn} is not inside zone {zone.id}: pass the --zone-id of the zone that "
                f"holds {fqdn}"
            )
        return receipt

    def provisional_receipt(self, fqdn: str, value: str) -> RecordReceipt:
        """A receipt to file before `present(fqdn, value)`; `cleanup` of it finds the record."""
        zone = self.zone_for(fqdn)
        return RecordReceipt(zone.id, zone.name, None, fqdn, value)

    def cleanup(self, receipt: RecordReceipt) -> None:
        """Delete exactly the record `present` created. A record already gone counts as deleted.

        For a provisional receipt, the record with that name and value is deleted if it exists.
        """
        if receipt.record_id is None:
            zone = Zone(receipt.zone_id, receipt.zone_name)
            record_id = self._find_record(zone, receipt.name, receipt.value)
            if record_id is None:
                return
            receipt = RecordReceipt(zone.id, zone.name, record_id, receipt.name, receipt.value)
        record_id = receipt.record_id
        assert record_id is not None
        try:
            # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/delete/
            self._call(
                lambda client: client.dns.records.delete(record_id, zone_id=receipt.zone_id),
                action=f"deleting TXT {receipt.name}",
                zone=Zone(receipt.zone_id, receipt.zone_name),
            )
        except _RecordMissing:
            log.debug("TXT %s was already gone", receipt.name)

    def _visible_zones(self) -> list[Zone]:
        with self._zones_lock:
            if self._zones is None:
                zones: list[Zone] = []
                page_number = 1
                while True:
                    # https://developers.cloudflare.com/api/resources/zones/methods/list/
                    # Paged by hand: the SDK's auto-pager spends one more request on the empty
                    # page past the end, and most accounts fit in one page.
                    page = self._call(
                        lambda client, n=page_number: client.zones.list(  # type: ignore[misc]
                            per_page=ZONES_PER_PAGE, page=n
                        ),
                        action="listing zones",
                        zone=None,
                        permission=ZONE_READ_PERMISSION,
                    )
                    items = list(page.result or [])
                    zones.extend(Zone(item.id, item.name.lower()) for item in items)
                    if len(items) < ZONES_PER_PAGE:
                        break
                    page_number += 1
                self._zones = zones
                log.debug("%d zones visible to the credentials", len(zones))
            return self._zones

    def _find_record(self, zone: Zone, fqdn: str, value: str) -> str | None:
        # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/
        def search(client: Cloudflare) -> str | None:
            for record in client.dns.records.list(
                zone_id=zone.id, type="TXT", name={"exact": fqdn}, per_page=100
            ):
                if _unquoted(getattr(record, "content", "") or "") == value:
                    return str(record.id)
            return None

        return self._call(search, action=f"looking up TXT {fqdn}", zone=zone)


class _IdenticalRecordExists(CloudflareError):
    pass


class _RecordMissing(CloudflareError):
    pass


class _Unreachable(CloudflareError):
    """The request may or may not have reached Cloudflare."""


def _explain(
    err: Any, action: str, zone: Zone | None, credentials: Credentials, permission: str
) -> CloudflareError:
    status = int(err.status_code)
    codes = {int(e.code) for e in (err.errors or []) if getattr(e, "code", None) is not None}
    detail = "; ".join(f"{e.code} {e.message}" for e in (err.errors or [])) or f"HTTP {status}"
    where = (zone.name or zone.id) if zone is not None else "the account"
    if codes & _IDENTICAL_RECORD_CODES:
        return _IdenticalRecordExists(detail)
    if status == 404 and action.startswith("deleting"):
        return _RecordMissing(detail)
    invalid_token = (
        "invalid access token" in detail.lower() or "invalid api token" in detail.lower()
    )
    if status == 401 or invalid_token or (codes & _BAD_CREDENTIAL_CODES and status != 403):
        return CloudflareError(
            f"Cloudflare rejected the credentials from {credentials.describe()} ({detail}): "
            "the token is wrong, expired or revoked; create one with Zone > Zone > Read and "
            "Zone > DNS > Edit"
        )
    if status == 403:
        if permission == ZONE_READ_PERMISSION:
            return CloudflareError(
                f"the token may not list zones ({detail}): give it Zone > Zone > Read, or pass "
                "--zone-id with the zone's id"
            )
        return CloudflareError(
            f"Cloudflare refused {action} ({detail}): the token needs {permission} on {where}"
        )
    if codes & _NO_ROUTE_CODES and zone is not None:
        return ZoneNotFoundError(
            f"Cloudflare knows no zone with id {zone.id} ({detail}): check --zone-id"
        )
    return CloudflareError(f"Cloudflare API error while {action}: {detail}")


def _retry_after(header: str | None) -> float:
    try:
        return max(1.0, float(header)) if header else 60.0
    except ValueError:
        return 60.0


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]


def _quoted(value: str) -> str:
    # Cloudflare asks for TXT content in quotes and warns when it is not.
    return f'"{value}"'


def _unquoted(content: str) -> str:
    if len(content) >= 2 and content[0] == content[-1] == '"':
        return content[1:-1]
    return content


# --- Zone settings, origin pulls and the Origin CA (lock the origin down) --------------------
#
# The classes below serve `acmecf origin`, `acmecf cloudflare ...` and the Origin CA issuer. Like
# CloudflareDns they send every request through CloudflareApi.call (budget, 429s, retries,
# errors explained); a 403 is reworded with the permission these endpoints need, which is not
# the DNS one `_explain` names.

SSL_MODES = ("off", "flexible", "full", "strict")
ZONE_SETTINGS_PERMISSION = "Zone > Zone Settings > Edit"
SSL_PERMISSION = "Zone > SSL and Certificates > Edit"


@dataclass(frozen=True)
class AddressRecord:
    """An A, AAAA or CNAME record as the API holds it (the origin, not Cloudflare's proxy)."""

    name: str
    type: str
    content: str
    proxied: bool


@dataclass(frozen=True)
class OriginPullCertificate:
    """A client certificate uploaded for Authenticated Origin Pulls (zone or hostname level)."""

    id: str
    status: str | None
    expires_on: str | None


@dataclass(frozen=True)
class HostnameOriginPull:
    """One hostname's Authenticated Origin Pulls association."""

    hostname: str
    cert_id: str | None
    enabled: bool | None
    status: str | None


@dataclass(frozen=True)
class OriginCACertificate:
    """What the Origin CA returned: the certificate (PEM, leaf only) and its id (serial)."""

    id: str
    certificate: str
    expires_on: str | None


class CloudflareZones:
    """Finds a zone by name, id or a host name in it, and reads its address records.

    Read-only. Raises ZoneNotFoundError when no visible zone matches, CloudflareError otherwise.
    """

    def __init__(self, api: CloudflareApi) -> None:
        self._api = api
        self._dns = CloudflareDns(api)

    def find(self, text: str) -> Zone:
        """The zone with id `text` (32 hex digits), or the zone that holds the name `text`."""
        value = text.strip().rstrip(".").lower()
        if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
            zone = Zone(value, None)
            # https://developers.cloudflare.com/api/resources/zones/methods/get/
            found = self._api.call(
                lambda client: client.zones.get(zone_id=value), action="reading the zone", zone=zone
            )
            return Zone(value, str(getattr(found, "name", "") or "").lower() or None)
        return self._dns.zone_for(value)

    def only_zone(self) -> Zone:
        """The one zone the credentials can see; ZoneNotFoundError when there are none or more."""
        zones = self._dns._visible_zones()
        if len(zones) != 1:
            names = ", ".join(z.name or z.id for z in zones[:5]) or "none"
            raise ZoneNotFoundError(
                f"the token sees {len(zones)} zones ({names}): pass --zone NAME to pick one"
            )
        return zones[0]

    def address_records(self, zone: Zone, name: str | None = None) -> list[AddressRecord]:
        """Every A, AAAA and CNAME record of `zone` (only those named `name`, when given)."""
        records: list[AddressRecord] = []
        page_number = 1
        while True:
            # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/
            def one_page(client: Cloudflare, n: int = page_number) -> list[Any]:
                options: dict[str, Any] = {"zone_id": zone.id, "per_page": 1000, "page": n}
                if name is not None:
                    options["name"] = {"exact": name}
                page = client.dns.records.list(**options)
                return list(page.result or [])

            items = self._api.call(one_page, action="listing DNS records", zone=zone)
            for item in items:
                kind = str(getattr(item, "type", ""))
                if kind in ("A", "AAAA", "CNAME"):
                    records.append(
                        AddressRecord(
                            name=str(item.name).lower(),
                            type=kind,
                            content=str(getattr(item, "content", "") or ""),
                            proxied=bool(getattr(item, "proxied", False)),
                        )
                    )
            if len(items) < 1000:
                return records
            page_number += 1


class CloudflareZoneSettings:
    """Reads and changes the zone settings `ssl` (the SSL/TLS encryption mode) and
    `tls_client_auth` (Authenticated Origin Pulls, the global switch). Setting a value it
    already has is harmless (idempotent)."""

    def __init__(self, api: CloudflareApi) -> None:
        self._api = api

    def ssl_mode(self, zone: Zone) -> str:
        """The zone's SSL/TLS encryption mode: off, flexible, full or strict."""
        return self._get(zone, "ssl")

    def set_ssl_mode(self, zone: Zone, mode: str) -> str:
        if mode not in SSL_MODES:
            raise ValueError(f"unknown SSL mode {mode!r}")
        return self._set(zone, "ssl", mode)

    def origin_pulls(self, zone: Zone) -> bool:
        return self._get(zone, "tls_client_auth") == "on"

    def set_origin_pulls(self, zone: Zone, enabled: bool) -> bool:
        return self._set(zone, "tls_client_auth", "on" if enabled else "off") == "on"

    def _get(self, zone: Zone, setting: str) -> str:
        action = f"reading the zone setting {setting}"
        # https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/get/
        result = self._api.call(
            lambda client: client.zones.settings.get(setting, zone_id=zone.id),
            action=action,
            permission=ZONE_SETTINGS_PERMISSION,
            zone=zone,
        )
        return str(getattr(result, "value", ""))

    def _set(self, zone: Zone, setting: str, value: str) -> str:
        action = f"setting {setting} to {value}"
        # https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/edit/
        result = self._api.call(
            lambda client: client.zones.settings.edit(setting, zone_id=zone.id, value=value),
            action=action,
            permission=ZONE_SETTINGS_PERMISSION,
            zone=zone,
        )
        return str(getattr(result, "value", value))


class CloudflareOriginPulls:
    """Client certificates Cloudflare presents to the origin (Authenticated Origin Pulls):
    zone-level uploads and their enablement, hostname-level uploads and associations.

    Uploading the same certificate twice makes two entries; `delete` of an id already gone
    counts as done.
    """

    def __init__(self, api: CloudflareApi) -> None:
        self._api = api

    def upload_zone_certificate(
        self, zone: Zone, certificate: str, private_key: str
    ) -> OriginPullCertificate:
        action = "uploading the zone's origin-pull certificate"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/create/
        result = self._api.call(
            lambda client: client.origin_tls_client_auth.zone_certificates.create(
                zone_id=zone.id, certificate=certificate, private_key=private_key
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return _pull_certificate(result)

    def zone_certificates(self, zone: Zone) -> list[OriginPullCertificate]:
        action = "listing the zone's origin-pull certificates"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/list/
        items = self._api.call(
            lambda client: list(
                client.origin_tls_client_auth.zone_certificates.list(zone_id=zone.id)
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return [_pull_certificate(item) for item in items]

    def delete_zone_certificate(self, zone: Zone, certificate_id: str) -> None:
        action = "deleting an origin-pull certificate"
        try:
            # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/delete/
            self._api.call(
                lambda client: client.origin_tls_client_auth.zone_certificates.delete(
                    certificate_id, zone_id=zone.id
                ),
                action=action,
                permission=SSL_PERMISSION,
                zone=zone,
            )
        except _RecordMissing:
            log.debug("origin-pull certificate %s was already gone", certificate_id)

    def zone_enabled(self, zone: Zone) -> bool:
        action = "reading whether the zone's own origin-pull certificate is enabled"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/settings/methods/get/
        result = self._api.call(
            lambda client: client.origin_tls_client_auth.settings.get(zone_id=zone.id),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return bool(getattr(result, "enabled", False))

    def set_zone_enabled(self, zone: Zone, enabled: bool) -> None:
        """Use (or stop using) the uploaded zone certificate instead of Cloudflare's shared one."""
        action = "enabling the zone's own origin-pull certificate"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/settings/methods/update/
        self._api.call(
            lambda client: client.origin_tls_client_auth.settings.update(
                zone_id=zone.id, enabled=enabled
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )

    def upload_hostname_certificate(
        self, zone: Zone, certificate: str, private_key: str
    ) -> OriginPullCertificate:
        action = "uploading a hostname origin-pull certificate"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/create/
        result = self._api.call(
            lambda client: client.origin_tls_client_auth.hostname_certificates.create(
                zone_id=zone.id, certificate=certificate, private_key=private_key
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return _pull_certificate(result)

    def delete_hostname_certificate(self, zone: Zone, certificate_id: str) -> None:
        action = "deleting a hostname origin-pull certificate"
        try:
            # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/delete/
            self._api.call(
                lambda client: client.origin_tls_client_auth.hostname_certificates.delete(
                    certificate_id, zone_id=zone.id
                ),
                action=action,
                permission=SSL_PERMISSION,
                zone=zone,
            )
        except _RecordMissing:
            log.debug("hostname certificate %s was already gone", certificate_id)

    def set_hostname(
        self, zone: Zone, hostname: str, certificate_id: str, enabled: bool | None
    ) -> HostnameOriginPull:
        """Associate `hostname` with the certificate and switch it on or off (None voids it)."""
        action = f"configuring origin pulls for {hostname}"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostnames/methods/update/
        items = self._api.call(
            lambda client: list(
                client.origin_tls_client_auth.hostnames.update(
                    zone_id=zone.id,
                    config=[{"hostname": hostname, "cert_id": certificate_id, "enabled": enabled}],
                )
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        for item in items:
            if str(getattr(item, "hostname", "")).lower() == hostname.lower():
                return _hostname_pull(item)
        return HostnameOriginPull(hostname, certificate_id, enabled, None)

    def hostname(self, zone: Zone, hostname: str) -> HostnameOriginPull:
        action = f"reading origin pulls of {hostname}"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostnames/methods/get/
        item = self._api.call(
            lambda client: client.origin_tls_client_auth.hostnames.get(hostname, zone_id=zone.id),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return _hostname_pull(item)


class CloudflareOriginCA:
    """Cloudflare's Origin CA: certificates that only Cloudflare's edge trusts.

    `create` is not idempotent: each call issues a new certificate.
    """

    def __init__(self, api: CloudflareApi) -> None:
        self._api = api

    def create(
        self, csr_pem: str, hostnames: list[str], request_type: str, validity_days: int
    ) -> OriginCACertificate:
        """Sign `csr_pem` for `hostnames`; `request_type` is "origin-rsa" or "origin-ecc"."""
        action = f"ordering an Origin CA certificate for {', '.join(hostnames)}"
        # https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/create/
        result = self._api.call(
            lambda client: client.origin_ca_certificates.create(
                csr=csr_pem,
                hostnames=hostnames,
                request_type=request_type,  # type: ignore[arg-type]
                requested_validity=validity_days,  # type: ignore[arg-type]
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=None,
        )
        certificate = str(getattr(result, "certificate", "") or "")
        identifier = str(getattr(result, "id", "") or "")
        if not certificate or not identifier:
            raise CloudflareError(f"the Origin CA answered {action} without a certificate")
        return OriginCACertificate(identifier, certificate, getattr(result, "expires_on", None))

    def revoke(self, certificate_id: str) -> None:
        """Revoke an Origin CA certificate; one already revoked or unknown counts as done."""
        action = f"deleting (revoking) Origin CA certificate {certificate_id}"
        try:
            # https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/delete/
            self._api.call(
                lambda client: client.origin_ca_certificates.delete(certificate_id),
                action=action,  # starts with "deleting": a 404 means already gone
                zone=None,
                permission=SSL_PERMISSION,
            )
        except _RecordMissing:
            log.debug("Origin CA certificate %s was already revoked", certificate_id)


def _pull_certificate(item: Any) -> OriginPullCertificate:
    expires = getattr(item, "expires_on", None)
    return OriginPullCertificate(
        id=str(getattr(item, "id", "") or ""),
        status=getattr(item, "status", None),
        expires_on=str(expires) if expires is not None else None,
    )


def _hostname_pull(item: Any) -> HostnameOriginPull:
    return HostnameOriginPull(
        hostname=str(getattr(item, "hostname", "") or ""),
        cert_id=getattr(item, "cert_id", None),
        enabled=getattr(item, "enabled", None),
        status=getattr(item, "status", None) or getattr(item, "cert_status", None),
    )
