"""Finding Cloudflare zones: the zone that holds a name, a zone by name or id, and a zone's
address records (where the origin is, behind the proxy).

Zones are listed once per instance and cached; an instance lives for one run and may be shared
by threads. Raises ZoneNotFoundError when no visible zone matches, CloudflareError otherwise.
Read-only. Does not: create or delete anything.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.hints import ZONE_READ_PERMISSION
from acmecf.dns.provider import Zone
from acmecf.errors import ZoneNotFoundError
from acmecf.names import zone_of

if TYPE_CHECKING:
    from cloudflare import Cloudflare

log = logging.getLogger(__name__)

ZONES_PER_PAGE = 50  # the most the API allows
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

    def zone_for(self, name: str) -> Zone:
        """The zone that holds `name`: the longest zone name the credentials can see that is
        `name` or ends it."""
        wanted = name.rstrip(".").lower()
        zones = {zone.name or "": zone for zone in self.visible()}
        match = zone_of(wanted, zones)
        if match is None:
            raise ZoneNotFoundError(
                f"no Cloudflare zone for {wanted} is visible to "
                f"{self.api.credentials.describe()}: add the domain to your Cloudflare account, "
                "give the token Zone > Zone > Read on it, or pass --zone-id"
            )
        return zones[match]

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
        """The one zone the credentials can see; ZoneNotFoundError when there are none or more."""
        zones = self.visible()
        if len(zones) != 1:
            names = ", ".join(z.name or z.id for z in zones[:5]) or "none"
            raise ZoneNotFoundError(
                f"the token sees {len(zones)} zones ({names}): pass --zone NAME to pick one"
            )
        return zones[0]

    def visible(self) -> list[Zone]:
        """Every zone the credentials can see (listed once, then cached)."""
        with self._lock:
            if self._zones is None:

                def page(client: Cloudflare, number: int) -> list[Any]:
                    # https://developers.cloudflare.com/api/resources/zones/methods/list/
                    reply = client.zones.list(per_page=ZONES_PER_PAGE, page=number)
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
                ]
                log.debug("%d zones visible to the credentials", len(self._zones))
            return self._zones

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
