"""Finding Cloudflare zones: the zone that holds a name, a zone by name or id, and a zone's
address records (where the origin is, behind the proxy).

The zone of a name is looked up by name (`GET /zones?name=`), walking up its labels from the
longest candidate, so an account of thousands of zones costs a call or two per name instead of
a listing of every zone; each answer is cached for the instance (one run; shared by threads).
After ten lookups (a run of many certificates), every zone is listed once instead.
When the API refuses the name filter, every zone is listed once instead. Only `active` zones
count: a pending zone's nameservers are not the domain's yet, a moved one's no longer are.
Raises ZoneNotFoundError when no visible zone matches, CloudflareError otherwise. Read-only.
Does not: create or delete anything.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.hints import ZONE_READ_PERMISSION
from acmecf.dns.provider import Zone
from acmecf.errors import CloudflareError, ZoneNotFoundError
from acmecf.names import zone_of

if TYPE_CHECKING:
    from cloudflare import Cloudflare

log = logging.getLogger(__name__)

ZONES_PER_PAGE = 50  # the most the API allows
# After this many lookups by name, one listing of every zone (50 a page) costs less than a
# lookup for each name still to come: a run of a thousand certificates would otherwise look
# up every certificate's own name, which is not a zone, once each.
LOOKUPS_BEFORE_LISTING = 10
ACTIVE: Final = "active"
RECORDS_PER_PAGE = 1000


@dataclass(frozen=True)
class AddressRecord:
    """An A, AAAA or CNAME record as the API holds it (the origin, not Cloudflare's proxy)."""

    name: str
    type: str
    content: str
    proxied: bool


class CloudflareZones:
    def __init__(self, api: CloudflareApi) -> None:
        self.api = api
        self._lock = threading.Lock()
        self._zones: list[Zone] | None = None
        self._by_name: dict[str, Zone | None] = {}
        self._filter_refused = False
        self._lookups = 0

    def zone_for(self, name: str) -> Zone:
        """The zone that holds `name`: the longest active zone name the credentials can see
        that is `name` or ends it."""
        wanted = name.rstrip(".").lower()
        with self._lock:
            if not self._filter_refused:
                try:
                    for candidate in zone_candidates(wanted):
                        zone = self._named(candidate)
                        if zone is not None:
                            return zone
                except _FilterRefused:
                    self._filter_refused = True
            if self._filter_refused:
                zones = {zone.name or "": zone for zone in self._visible()}
                match = zone_of(wanted, zones)
                if match is not None:
                    return zones[match]
        raise ZoneNotFoundError(
            f"no active Cloudflare zone for {wanted} is visible to "
            f"{self.api.credentials.describe()}: add the domain to your Cloudflare account (and "
            "finish its activation), give the token Zone > Zone > Read on it, or pass --zone-id"
        )

    def find(self, text: str) -> Zone:
        """The zone with id `text` (32 hex digits), or the zone that holds the name `text`."""
        value = text.strip().rstrip(".").lower()
        if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
            zone = Zone(value, None)
            # https://developers.cloudflare.com/api/resources/zones/methods/get/
            found = self.api.call(
                lambda client: client.zones.get(zone_id=value),
                action="reading the zone",
                zone=zone,
                permission=ZONE_READ_PERMISSION,
            )
            return Zone(value, str(getattr(found, "name", "") or "").lower() or None)
        return self.zone_for(value)

    def only_zone(self) -> Zone:
        """The one active zone the credentials can see; ZoneNotFoundError when there are none
        or more."""
        zones = self.visible()
        if len(zones) != 1:
            names = ", ".join(z.name or z.id for z in zones[:5]) or "none"
            raise ZoneNotFoundError(
                f"the token sees {len(zones)} active zones ({names}): pass --zone NAME to pick one"
            )
        return zones[0]

    def visible(self) -> list[Zone]:
        """Every active zone the credentials can see (listed once, then cached)."""
        with self._lock:
            return self._visible()

    def _visible(self) -> list[Zone]:
        if self._zones is None:

            def page(client: Cloudflare, number: int) -> list[Any]:
                # https://developers.cloudflare.com/api/resources/zones/methods/list/
                reply = client.zones.list(status=ACTIVE, per_page=ZONES_PER_PAGE, page=number)
                return list(reply.result or [])

            self._zones = [
                Zone(item.id, item.name.lower())
                for item in self.api.pages(
                    page,
                    per_page=ZONES_PER_PAGE,
                    action="listing zones",
                    zone=None,
                    permission=ZONE_READ_PERMISSION,
                )
                if _is_active(item)
            ]
            log.debug("%d active zones visible to the credentials", len(self._zones))
        return self._zones

    def _named(self, candidate: str) -> Zone | None:
        """The active zone named exactly `candidate`, or None (answers cached)."""
        if candidate in self._by_name:
            return self._by_name[candidate]
        if self._zones is None and self._lookups >= LOOKUPS_BEFORE_LISTING:
            self._visible()
        if self._zones is not None:
            found = next((z for z in self._zones if z.name == candidate), None)
            self._by_name[candidate] = found
            return found
        self._lookups += 1
        try:
            # https://developers.cloudflare.com/api/resources/zones/methods/list/
            items = self.api.call(
                lambda client: list(
                    client.zones.list(name=candidate, status=ACTIVE, per_page=ZONES_PER_PAGE).result
                    or []
                ),
                action=f"looking up the zone {candidate}",
                zone=None,
                permission=ZONE_READ_PERMISSION,
            )
        except CloudflareError as err:
            # A refusal of the filter itself (not of the token): list every zone instead.
            if (
                err.status is not None
                and 400 <= err.status < 500
                and err.status
                not in (
                    401,
                    403,
                    429,
                )
            ):
                log.debug("the API refused the zone name filter (%s): listing zones", err)
                raise _FilterRefused from err
            raise
        found = next(
            (
                Zone(item.id, str(item.name).lower())
                for item in items
                if str(item.name).lower() == candidate and _is_active(item)
            ),
            None,
        )
        self._by_name[candidate] = found
        return found

    def address_records(self, zone: Zone, name: str | None = None) -> list[AddressRecord]:
        """Every A, AAAA and CNAME record of `zone` (only those named `name`, when given)."""

        def page(client: Cloudflare, number: int) -> list[Any]:
            # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/
            options: dict[str, Any] = {
                "zone_id": zone.id,
                "per_page": RECORDS_PER_PAGE,
                "page": number,
            }
            if name is not None:
                options["name"] = {"exact": name}
            return list(client.dns.records.list(**options).result or [])

        records = []
        for item in self.api.pages(
            page, per_page=RECORDS_PER_PAGE, action="listing DNS records", zone=zone
        ):
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
        return records


class _FilterRefused(Exception):
    """The API does not accept `GET /zones?name=` from these credentials."""


def zone_candidates(name: str) -> list[str]:
    """The names that could be the apex of `name`'s zone, longest first: `name` and each of
    its parents with at least two labels, except names whose first label starts with "_"
    (`_acme-challenge...` is never a zone)."""
    labels = name.split(".")
    return [
        ".".join(labels[index:])
        for index in range(len(labels) - 1)
        if not labels[index].startswith("_")
    ]


def _is_active(item: Any) -> bool:
    status = getattr(item, "status", None)
    return status is None or str(status) == ACTIVE
