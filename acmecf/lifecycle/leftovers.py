"""Removing the challenge records that earlier runs left at the DNS provider.

A run that died (SIGKILL, power loss, a full disk, an API outage during cleanup) leaves its
journal behind; the next run that may talk to Cloudflare removes exactly those records (by name
and value, with the credentials that created them) before it does anything else. Records a
run still running owns are never touched (the journal hands out only dead runs' records).
What cannot be removed now stays in the journal for the run after.

Does not: create records, or know ACME.
"""

from __future__ import annotations

import logging

from acmecf.dns.provider import Zone
from acmecf.errors import AcmecfError
from acmecf.lifecycle.services import Services
from acmecf.storage.contracts import LeftoverRecords
from acmecf.storage.model import JournalEntry

log = logging.getLogger(__name__)


def remove_leftovers(services: Services) -> int:
    """Remove every record of dead runs' journals; return how many were removed. Failures are
    logged and left in the journal (`services.cleanup_report` counts them). The records of one
    zone go together (one listing of its TXT records, then batch calls): a run killed with a
    thousand certificates at work left two thousand."""
    from acmecf.dns.provider import Change

    removed = 0
    for leftovers in services.store.journal.leftovers():
        by_zone: dict[tuple[str | None, str, str | None], list[JournalEntry]] = {}
        for entry in list(leftovers.entries):
            if entry.zone_id is None:
                removed += _remove_one(services, leftovers, entry)
            else:
                key = (entry.provider, entry.zone_id, entry.zone_name)
                by_zone.setdefault(key, []).append(entry)
        for (provider_key, zone_id, zone_name), entries in by_zone.items():
            try:
                provider = services.cloudflare_dns(provider_key)
                outcomes: list[AcmecfError | None] = list(
                    provider.apply(
                        Zone(zone_id, zone_name),
                        [Change("cleanup", entry.name, entry.value) for entry in entries],
                    )
                )
            except AcmecfError as err:  # the credentials of that run are gone, say
                outcomes = [err] * len(entries)
            for entry, outcome in zip(entries, outcomes, strict=True):
                if outcome is None:
                    leftovers.forget(entry)
                    removed += 1
                    log.info(
                        "removed TXT %s, left by an earlier run that did not finish", entry.name
                    )
                else:
                    _could_not_remove(services, entry, outcome)
    return removed


def _remove_one(services: Services, leftovers: LeftoverRecords, entry: JournalEntry) -> int:
    try:
        services.cloudflare_dns(entry.provider).cleanup(entry.name, entry.value)
    except AcmecfError as err:
        _could_not_remove(services, entry, err)
        return 0
    leftovers.forget(entry)
    log.info("removed TXT %s, left by an earlier run that did not finish", entry.name)
    return 1


def _could_not_remove(services: Services, entry: JournalEntry, err: AcmecfError) -> None:
    log.warning(
        "could not remove TXT %s left by an earlier run: %s (the next run tries again)",
        entry.name,
        err,
    )
    services.cleanup_report.left.append(entry.name)
