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

log = logging.getLogger(__name__)


def remove_leftovers(services: Services) -> int:
    """Remove every record of dead runs' journals; return how many were removed. Failures are
    logged and left in the journal (`services.cleanup_report` counts them)."""
    removed = 0
    for leftovers in services.store.journal.leftovers():
        for entry in list(leftovers.entries):
            try:
                provider = services.cloudflare_dns(entry.provider)
                if entry.zone_id is not None:
                    provider.cleanup_in_zone(
                        Zone(entry.zone_id, entry.zone_name), entry.name, entry.value
                    )
                else:
                    provider.cleanup(entry.name, entry.value)
            except AcmecfError as err:
                log.warning(
                    "could not remove TXT %s left by an earlier run: %s (the next run tries again)",
                    entry.name,
                    err,
                )
                services.cleanup_report.left.append(entry.name)
                continue
            leftovers.forget(entry)
            removed += 1
            log.info("removed TXT %s, left by an earlier run that did not finish", entry.name)
    return removed
