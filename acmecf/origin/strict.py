"""Full (strict) as a checked step: every proxied host of the zone must pass the origin check
before the zone's SSL mode becomes strict, or Cloudflare answers its visitors with error 526.

Does not: change the setting (the caller does once this passes) or print.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from acmecf.cloudflare.zones import CloudflareZones
from acmecf.dns.provider import Zone
from acmecf.errors import OriginError
from acmecf.origin.check import origin_addresses
from acmecf.origin.findings import OriginReport


@dataclass
class StrictCheck:
    """What checking a zone's origins found: the failures (one line each), the reports of the
    origins that failed, the hosts that passed and those skipped (wildcards)."""

    failures: list[str] = field(default_factory=list)
    failed_reports: list[OriginReport] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def check_zone_origins(
    zones: CloudflareZones,
    zone: Zone,
    check: Callable[[str, str], OriginReport],
) -> StrictCheck:
    """Check the origin of every proxied A, AAAA and CNAME name of `zone` with
    `check(host, address)`; wildcard names cannot be checked as such and are skipped."""
    result = StrictCheck()
    hosts = sorted({r.name for r in zones.address_records(zone) if r.proxied})
    for host in hosts:
        if host.startswith("*."):
            result.skipped.append(host)
            continue
        try:
            addresses = origin_addresses(zones, host)
        except OriginError as err:
            result.failures.append(f"{host} ({err})")
            continue
        for address in addresses:
            report = check(host, address)
            if report.ok:
                result.passed.append(f"{host} at {report.origin}")
                continue
            first = next(f for f in report.findings if f.ok is False)
            result.failures.append(f"{host} at {report.origin} ({first.check}: {first.message})")
            result.failed_reports.append(report)
    return result


def refusal(zone_label: str, failures: list[str]) -> OriginError:
    """The error that refuses Full (strict) while origins fail."""
    count = len(failures)
    return OriginError(
        f"refusing Full (strict) for {zone_label}: {count} origin{'s' * (count != 1)} would "
        "fail with error 526: " + "; ".join(failures) + ". Fix them (acmecf origin check NAME "
        "says how), or pass --force"
    )
