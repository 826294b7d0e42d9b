"""The Cloudflare DNS provider: TXT records for DNS challenges, by exact name and value.

Follows dns.provider's contract: `present` never touches another record and is idempotent (an
identical record already there is adopted, not duplicated), `cleanup` deletes exactly the
record with that name and value and ignores a missing one. The record ids `present` learns are
kept, so cleanup costs one request; without one (a record of an earlier run) the record is
looked up by name and value first.

It is a BatchProvider too: `apply` sends many changes of one zone through the batch endpoint,
at most the zone plan's limit per call (Free 200, paid plans 3,500). A batch is one
transaction, all or nothing: one that is refused for its content is split in halves until the
refused change stands alone, and a change alone goes through the ordinary endpoints, exactly
as `present` and `cleanup` send it, so one bad record fails only itself.

Does not: wait for propagation, keep the journal, or know ACME.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.hints import ZONE_READ_PERMISSION
from acmecf.cloudflare.zones import CloudflareZones
from acmecf.dns.provider import Change, Zone
from acmecf.errors import (
    AcmecfError,
    CloudflareError,
    CloudflareUnreachable,
    RecordExists,
    RecordMissing,
    ZoneNotFoundError,
)

if TYPE_CHECKING:
    from cloudflare import Cloudflare

log = logging.getLogger(__name__)

RECORD_TTL = 60  # the lowest TTL Cloudflare allows outside Enterprise plans
RECORD_COMMENT = "acmecf: ACME DNS-01 challenge, removed after validation"

# Changes one batch call may carry, by the zone's plan ("Free: 200, Pro: 3,500, Business:
# 3,500, Enterprise: 3,500"):
# https://developers.cloudflare.com/dns/manage-dns-records/how-to/batch-record-changes/
FREE_BATCH_LIMIT = 200
PAID_BATCH_LIMIT = 3500
PAID_PLANS = frozenset({"pro", "business", "enterprise"})
# Refusals that may be one change's fault: worth splitting the batch to find it. Not 401/403
# (the credentials), 429 (the budget) or a missing reply (the API is down).
SPLITTABLE_STATUSES = frozenset({400, 404, 409, 413, 422})
TXT_PER_PAGE = 1000


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
        batch_limit: int | None = None,
        comment: str = RECORD_COMMENT,
    ) -> None:
        self.api = api
        self._comment = comment
        self.zones = zones or CloudflareZones(api)
        self._zone_id = zone_id
        self._batch_limit = batch_limit  # None: the zone plan's
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], tuple[Zone, str]] = {}
        self._limits: dict[str, int] = {}

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
        self._create(self.zone_for(name), name, value)

    def _create(self, zone: Zone, name: str, value: str) -> None:
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
            hinted = self._outside_zone_hint(err, zone, name)
            if hinted is err:
                raise
            raise hinted from err
        if not record_id:
            raise CloudflareError(f"Cloudflare created TXT {name} but returned no record id")
        if record_name.rstrip(".").lower() != name:
            # Cloudflare reads a name outside the zone as relative to it (x.other.com becomes
            # x.other.com.example.com): remove the stray record and say which zone was wrong.
            self._delete(zone, record_id, record_name)
            raise outside_zone(zone, name)
        with self._lock:
            self._ids[(name, value)] = (zone, record_id)

    @staticmethod
    def _outside_zone_hint(err: CloudflareError, zone: Zone, name: str) -> CloudflareError:
        if zone.name is None and err.status == 403:
            return CloudflareError(
                f"{err}; or --zone-id {zone.id} is not the id of the zone that holds {name}",
                status=err.status,
                codes=err.codes,
                action=err.action,
            )
        return err

    def cleanup(self, name: str, value: str) -> None:
        with self._lock:
            known = self._ids.get((name, value))
        if known is None:
            self.cleanup_in_zone(self.zone_for(name), name, value)
            return
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

    # --- many changes at once ---------------------------------------------------------------

    def apply(self, zone: Zone, changes: Sequence[Change]) -> list[AcmecfError | None]:
        """Every change, in as few batch calls as the zone's plan allows (BatchProvider)."""
        outcomes: list[AcmecfError | None] = [None] * len(changes)
        pending: list[_Pending] = []
        unknown: list[tuple[int, Change]] = []  # records this run did not create
        for index, change in enumerate(changes):
            if change.action == "present":
                pending.append(_Pending(index, change, None))
                continue
            with self._lock:
                known = self._ids.get((change.name, change.value))
            if known is not None:
                pending.append(_Pending(index, change, known[1]))
            else:
                unknown.append((index, change))
        if unknown:  # an earlier run's records (the journal's leftovers): look them up first
            try:
                found = self._txt_ids(zone, [change for _, change in unknown])
            except CloudflareError as err:
                for index, _ in unknown:
                    outcomes[index] = err
                found = {}
            for index, change in unknown:
                record_id = found.get((change.name, change.value))
                if record_id is not None:
                    pending.append(_Pending(index, change, record_id))
        limit = FREE_BATCH_LIMIT  # every plan allows this many: no need to read the plan
        if self._batch_limit is not None or len(pending) > FREE_BATCH_LIMIT:
            limit = self.batch_limit(zone)
        for start in range(0, len(pending), limit):
            self._send(zone, pending[start : start + limit], outcomes)
        return outcomes

    def batch_limit(self, zone: Zone) -> int:
        """How many changes one batch call may carry in `zone`: the option if given, else its
        plan's limit (the zone is read once; without Zone > Zone > Read, the Free plan's)."""
        if self._batch_limit is not None:
            return self._batch_limit
        with self._lock:
            if zone.id in self._limits:
                return self._limits[zone.id]
        try:
            # https://developers.cloudflare.com/api/resources/zones/methods/get/
            found = self.api.call(
                lambda client: client.zones.get(zone_id=zone.id),
                action="reading the zone's plan",
                zone=zone,
                permission=ZONE_READ_PERMISSION,
            )
            plan = str(getattr(getattr(found, "plan", None), "legacy_id", "") or "")
        except CloudflareError as err:
            log.debug("zone %s: plan unknown (%s), so the Free plan's limit", zone.id, err)
            plan = ""
        limit = PAID_BATCH_LIMIT if plan in PAID_PLANS else FREE_BATCH_LIMIT
        with self._lock:
            self._limits[zone.id] = limit
        return limit

    def _send(self, zone: Zone, batch: list[_Pending], outcomes: list[AcmecfError | None]) -> None:
        """Apply `batch` (within the limit), recording each change's outcome in `outcomes`."""
        if not batch:
            return
        if len(batch) == 1:
            outcomes[batch[0].index] = self._one(zone, batch[0])
            return
        try:
            self._batch_call(zone, batch, outcomes)
        except CloudflareError as err:
            if err.status not in SPLITTABLE_STATUSES or isinstance(err, CloudflareUnreachable):
                for item in batch:
                    outcomes[item.index] = err
                return
            # All or nothing: one change may have spoilt it. Halve until it stands alone.
            log.debug("Cloudflare refused a batch of %d changes (%s): halving it", len(batch), err)
            middle = len(batch) // 2
            self._send(zone, batch[:middle], outcomes)
            self._send(zone, batch[middle:], outcomes)

    def _one(self, zone: Zone, item: _Pending) -> AcmecfError | None:
        """One change through the ordinary endpoints, as present and cleanup send it."""
        name, value = item.change.name, item.change.value
        try:
            if item.record_id is None:
                self._create(zone, name, value)
            else:
                self._delete(zone, item.record_id, name)
                with self._lock:
                    self._ids.pop((name, value), None)
        except AcmecfError as err:
            return err
        return None

    def _batch_call(
        self, zone: Zone, batch: list[_Pending], outcomes: list[AcmecfError | None]
    ) -> None:
        deletes = [item for item in batch if item.record_id is not None]
        posts = [item for item in batch if item.record_id is None]
        where = zone.name or zone.id
        body = {
            "deletes": [{"id": str(item.record_id)} for item in deletes],
            "posts": [
                {
                    "type": "TXT",
                    "name": item.change.name,
                    "content": quoted(item.change.value),
                    "ttl": RECORD_TTL,
                    "comment": self._comment,
                }
                for item in posts
            ],
        }
        # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/batch/
        # The body goes as `extra_body`, already in the API's JSON: the SDK's own transform of
        # `posts` tries its union of twenty record types on every record, about a millisecond
        # each, more than the call itself costs.
        reply = self.api.call(
            lambda client: client.dns.records.batch(zone_id=zone.id, extra_body=body),
            action=f"changing {len(batch)} TXT records in {where} in one batch",
            zone=zone,
        )
        log.debug("one batch call to %s: %d created, %d deleted", where, len(posts), len(deletes))
        with self._lock:
            for item in deletes:
                self._ids.pop((item.change.name, item.change.value), None)
        created = list(getattr(reply, "posts", None) or [])
        strays: list[tuple[str, str]] = []
        for position, item in enumerate(posts):
            name, value = item.change.name, item.change.value
            record = _created_record(created, position, value)
            record_id = str(getattr(record, "id", "") or "")
            record_name = str(getattr(record, "name", name) or name).rstrip(".").lower()
            if not record_id:
                outcomes[item.index] = CloudflareError(
                    f"Cloudflare created TXT {name} but returned no record id"
                )
            elif record_name != name:
                strays.append((record_id, record_name))  # see _create: the zone was wrong
                outcomes[item.index] = outside_zone(zone, name)
            else:
                with self._lock:
                    self._ids[(name, value)] = (zone, record_id)
        for record_id, record_name in strays:
            try:
                self._delete(zone, record_id, record_name)
            except CloudflareError as err:
                log.warning("could not remove the stray TXT %s: %s", record_name, err)

    def _txt_ids(self, zone: Zone, changes: list[Change]) -> dict[tuple[str, str], str]:
        """The ids of the TXT records these changes name that exist: one lookup for one record,
        one listing of the zone's TXT records for more (and, when that took several pages, a
        lookup of each one it did not show)."""
        if len(changes) == 1:
            change = changes[0]
            record_id = self._find(zone, change.name, change.value)
            return {} if record_id is None else {(change.name, change.value): record_id}

        def page(client: Cloudflare, number: int) -> list[Any]:
            # https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/
            reply = client.dns.records.list(
                zone_id=zone.id, type="TXT", per_page=TXT_PER_PAGE, page=number
            )
            return list(reply.result or [])

        wanted = {(change.name, change.value) for change in changes}
        found: dict[tuple[str, str], str] = {}
        listed = 0
        for record in self.api.pages(
            page, per_page=TXT_PER_PAGE, action="listing TXT records", zone=zone
        ):
            listed += 1
            key = (
                str(getattr(record, "name", "")).rstrip(".").lower(),
                unquoted(str(getattr(record, "content", "") or "")),
            )
            if key in wanted:
                found[key] = str(record.id)
        if listed >= TXT_PER_PAGE:
            # Over several pages, records removed meanwhile (another run, another origin)
            # shift the pages, and a record can be missed: one missing from the listing is
            # looked up by its name before it counts as gone (a missed one would stay for good).
            for name, value in sorted(wanted - found.keys()):
                record_id = self._find(zone, name, value)
                if record_id is not None:
                    found[(name, value)] = record_id
        return found

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


class _Pending:
    """A change on its way: its place in the caller's list and, to delete, the record's id."""

    __slots__ = ("change", "index", "record_id")

    def __init__(self, index: int, change: Change, record_id: str | None) -> None:
        self.index = index
        self.change = change
        self.record_id = record_id


def _created_record(created: list[Any], position: int, value: str) -> Any:
    """The record the batch created for the post at `position`: the reply lists posts in the
    order given; checked by content, in case it does not."""
    candidates = [created[position]] if position < len(created) else []
    for record in [*candidates, *created]:
        if unquoted(str(getattr(record, "content", "") or "")) == value:
            return record
    return None


def outside_zone(zone: Zone, name: str) -> ZoneNotFoundError:
    return ZoneNotFoundError(
        f"{name} is not inside zone {zone.id}: pass the --zone-id of the zone that holds {name}"
    )


def quoted(value: str) -> str:
    """TXT content as Cloudflare asks for it: in quotes (it warns otherwise)."""
    return f'"{value}"'


def unquoted(content: str) -> str:
    if len(content) >= 2 and content[0] == content[-1] == '"':
        return content[1:-1]
    return content
