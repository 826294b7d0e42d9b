"""The Cloudflare DNS provider: TXT records for DNS challenges, by exact name and value.

Follows dns.provider's contract: `present` never touches another record and is idempotent (an
identical record already there is adopted, not duplicated), `cleanup` deletes exactly the
record with that name and value and ignores a missing one. The record ids `present` learns are
kept, so cleanup costs one request; without one (a record of an earlier run) the record is
looked up by name and value first.

Does not: wait for propagation, keep the journal, or know ACME.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.zones import CloudflareZones
from acmecf.dns.provider import Zone
from acmecf.errors import CloudflareError, RecordExists, RecordMissing, ZoneNotFoundError

if TYPE_CHECKING:
    from cloudflare import Cloudflare

log = logging.getLogger(__name__)

RECORD_TTL = 60  # the lowest TTL Cloudflare allows outside Enterprise plans
RECORD_COMMENT = "acmecf: ACME DNS-01 challenge, removed after validation"


class CloudflareDns:
    """TXT records in the Cloudflare zones the credentials can edit. With `zone_id`, every name
    is in that zone (a token with only DNS > Edit cannot list zones). `comment` goes on every
    record created (what it is for, in the dashboard)."""

    def __init__(
        self,
        api: CloudflareApi,
        *,
        zones: CloudflareZones | None = None,
        zone_id: str | None = None,
        comment: str = RECORD_COMMENT,
    ) -> None:
        self.api = api
        self._comment = comment
        self.zones = zones or CloudflareZones(api)
        self._zone_id = zone_id
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], tuple[Zone, str]] = {}
        self._zone_checked = False

    def zone_for(self, name: str) -> Zone:
        """The zone of `name`: the one of --zone-id (checked once: a token with only DNS > Edit
        can read that zone's records), else the longest visible zone that holds it."""
        if self._zone_id is not None:
            zone = Zone(id=self._zone_id, name=None)
            with self._lock:
                checked = self._zone_checked
            if not checked:
                self._check_zone(zone)
                with self._lock:
                    self._zone_checked = True
            return zone
        return self.zones.zone_for(name)

    def _check_zone(self, zone: Zone) -> None:
        from acmecf.errors import CloudflareError

        try:
            # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/
            self.api.call(
                lambda client: client.dns.records.list(zone_id=zone.id, type="TXT", per_page=5),
                action=f"reading the records of zone {zone.id}",
                zone=zone,
            )
        except ZoneNotFoundError:
            raise
        except CloudflareError as err:
            if err.status in (403, 404):
                raise ZoneNotFoundError(
                    f"Cloudflare refused reading zone {zone.id} ({err.status}): check --zone-id "
                    "(the 32-digit id on the zone's Overview page) and that the token has "
                    "Zone > DNS > Edit on that zone",
                    status=err.status,
                    codes=err.codes,
                    action=err.action,
                ) from err
            raise

    def present(self, name: str, value: str) -> None:
        zone = self.zone_for(name)
        try:
            # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/create/
            record = self.api.call(
                lambda client: client.dns.records.create(
                    zone_id=zone.id,
                    type="TXT",
                    name=name,
                    content=quoted(value),
                    ttl=RECORD_TTL,
                    comment=self._comment,
                ),
                action=f"creating TXT {name}",
                zone=zone,
            )
            record_id = str(getattr(record, "id", "") or "")
            record_name = str(getattr(record, "name", name) or name)
        except RecordExists:
            # A retried create whose first reply was lost, or a leftover: adopt it.
            record_id = self._find(zone, name, value) or ""
            record_name = name
            log.debug("adopted the identical TXT record already at %s", name)
        except CloudflareError as err:
            if zone.name is None and err.status == 403:
                raise CloudflareError(
                    f"{err}; or --zone-id {zone.id} is not the id of the zone that holds {name}",
                    status=err.status,
                    codes=err.codes,
                    action=err.action,
                ) from err
            raise
        if not record_id:
            raise CloudflareError(f"Cloudflare created TXT {name} but returned no record id")
        if record_name.rstrip(".").lower() != name:
            # Cloudflare reads a name outside the zone as relative to it (x.other.com becomes
            # x.other.com.example.com): remove the stray record and say which zone was wrong.
            self._delete(zone, record_id, record_name)
            raise ZoneNotFoundError(
                f"{name} is not inside zone {zone.id}: pass the --zone-id of the zone that "
                f"holds {name}"
            )
        with self._lock:
            self._ids[(name, value)] = (zone, record_id)

    def cleanup(self, name: str, value: str) -> None:
        with self._lock:
            known = self._ids.get((name, value))
        if known is None:
            zone = self.zone_for(name)
            record_id = self._find(zone, name, value)
            if record_id is None:
                return
        else:
            zone, record_id = known
        self._delete(zone, record_id, name)
        with self._lock:
            self._ids.pop((name, value), None)

    def cleanup_in_zone(self, zone: Zone, name: str, value: str) -> None:
        """`cleanup` for a record whose zone is known (a journal entry): no zone lookup."""
        record_id = self._find(zone, name, value)
        if record_id is not None:
            self._delete(zone, record_id, name)

    def _delete(self, zone: Zone, record_id: str, name: str) -> None:
        try:
            # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/delete/
            self.api.call(
                lambda client: client.dns.records.delete(record_id, zone_id=zone.id),
                action=f"deleting TXT {name}",
                zone=zone,
                deleting=True,
            )
        except RecordMissing:
            log.debug("TXT %s was already gone", name)

    def _find(self, zone: Zone, name: str, value: str) -> str | None:
        # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/
        def search(client: Cloudflare) -> str | None:
            page = client.dns.records.list(
                zone_id=zone.id, type="TXT", name={"exact": name}, per_page=100
            )
            for record in page.result or []:
                if unquoted(getattr(record, "content", "") or "") == value:
                    return str(record.id)
            return None

        return self.api.call(search, action=f"looking up TXT {name}", zone=zone)


def quoted(value: str) -> str:
    """TXT content as Cloudflare asks for it: in quotes (it warns otherwise)."""
    return f'"{value}"'


def unquoted(content: str) -> str:
    if len(content) >= 2 and content[0] == content[-1] == '"':
        return content[1:-1]
    return content
