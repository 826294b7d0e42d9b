"""Zones as the real API shows them: by name, by status and plan, in accounts of thousands.

Driven through the official SDK; filter semantics per
https://developers.cloudflare.com/api/resources/zones/methods/list/
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from acmecf.sandbox.emulator import CloudflareEmulator
from tests.testbed.sdk_helpers import raw, running_emulator, sdk


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    with running_emulator() as emulator:
        yield emulator


def names(emulator: CloudflareEmulator, **filters: object) -> list[str]:
    return [zone.name for zone in sdk(emulator).zones.list(**filters)]  # type: ignore[arg-type]


def test_a_zone_is_found_by_its_exact_name_in_one_call(emulator: CloudflareEmulator) -> None:
    emulator.add_zones(2000)
    emulator.add_zone("example.com")
    emulator.clear_logs()
    assert names(emulator, name="example.com") == ["example.com"]
    # One page with the zone, then the empty page that stops the SDK's auto-pager.
    assert emulator.count_requests("GET /zones") == 2


def test_name_filter_operators_are_case_insensitive_unless_told(
    emulator: CloudflareEmulator,
) -> None:
    for name in ("example.com", "shop.example.com", "example.org", "other.net"):
        emulator.add_zone(name)
    assert names(emulator, name="contains:EXAMPLE") == [
        "example.com",
        "example.org",
        "shop.example.com",
    ]
    assert names(emulator, name="starts_with:example") == ["example.com", "example.org"]
    assert names(emulator, name="ends_with:.com") == ["example.com", "shop.example.com"]
    assert names(emulator, name="not_equal:example.com") == [
        "example.org",
        "other.net",
        "shop.example.com",
    ]
    assert names(emulator, name="contains_case_sensitive:EXAMPLE") == []


def test_zones_filter_by_status_and_account(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("active.example")
    emulator.add_zone("pending.example", status="pending")
    moved = emulator.add_zone("moved.example")
    emulator.set_zone_status(moved, "moved")
    assert names(emulator, status="pending") == ["pending.example"]
    assert names(emulator, status="moved") == ["moved.example"]
    account_id = emulator.zones()[0]["account"]["id"]
    assert len(names(emulator, account={"id": account_id})) == 3
    assert names(emulator, account={"id": "0" * 32}) == []


def test_match_any_joins_filters_with_or(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("a.example")
    emulator.add_zone("b.example", status="pending")
    emulator.add_zone("c.example")
    assert names(emulator, name="a.example", status="pending", match="any") == [
        "a.example",
        "b.example",
    ]
    assert names(emulator, name="a.example", status="pending") == []


def test_zone_status_and_plan_show_as_the_api_shows_them(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com", status="pending", plan="pro")
    zone = sdk(emulator).zones.get(zone_id=zone_id)
    assert zone is not None
    assert zone.status == "pending"
    assert zone.activated_on is None
    assert zone.plan is not None
    assert (zone.plan.legacy_id, zone.plan.name, zone.plan.is_subscribed) == (
        "pro",
        "Pro Website",
        True,
    )
    emulator.set_zone_plan("example.com", "free")
    emulator.set_zone_status("example.com", "active")
    zone = sdk(emulator).zones.get(zone_id=zone_id)
    assert zone is not None and zone.plan is not None
    assert (zone.status, zone.plan.legacy_id, zone.plan.id) == (
        "active",
        "free",
        "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
    )


def test_unknown_status_or_plan_is_refused(emulator: CloudflareEmulator) -> None:
    with pytest.raises(ValueError, match="status"):
        emulator.add_zone("example.com", status="paused")
    with pytest.raises(ValueError, match="plan"):
        emulator.add_zone("example.com", plan="gold")


def test_thousands_of_zones_are_cheap_and_page_fifty_at_a_time(
    emulator: CloudflareEmulator,
) -> None:
    started = time.monotonic()
    ids = emulator.add_zones(2000)
    assert time.monotonic() - started < 2.0
    assert len(set(ids)) == 2000
    assert emulator.add_zones(1) != ids[-1:]  # numbering continues
    response = raw(emulator, "GET", "/zones", params={"per_page": 50, "page": 41})
    assert response.json()["result_info"] == {
        "page": 41,
        "per_page": 50,
        "count": 1,
        "total_count": 2001,
        "total_pages": 41,
    }


def test_the_request_log_counts_calls_per_route_and_zone(emulator: CloudflareEmulator) -> None:
    first = emulator.add_zone("example.com")
    second = emulator.add_zone("example.net")
    client = sdk(emulator)
    client.zones.get(zone_id=first)
    client.zones.get(zone_id=first)
    client.zones.get(zone_id=second)
    list(client.dns.records.list(zone_id=first))
    assert emulator.count_requests("GET /zones/{zone_id}") == 3
    assert emulator.count_requests("GET /zones/{zone_id}", zone=first) == 2
    assert emulator.count_requests(zone=first) == 3
    assert emulator.requests[-1].route == "GET /zones/{zone_id}/dns_records"


def test_the_resolver_sees_only_active_zones_and_nameservers_all_but_moved(
    emulator: CloudflareEmulator,
) -> None:
    import dns.message
    import dns.query
    import dns.rcode

    for status in ("active", "pending", "moved"):
        emulator.add_zone(f"{status}.example", status=status)
        emulator.add_record(f"{status}.example", "TXT", "probe", "here")

    def rcode(address: str, name: str) -> str:
        query = dns.message.make_query(name, "TXT")
        response = dns.query.udp(query, address, port=emulator.dns_port, timeout=2)
        return dns.rcode.to_text(response.rcode())

    nameserver = emulator.nameservers[0].address
    resolver = emulator.resolver_address
    assert [rcode(resolver, f"probe.{s}.example") for s in ("active", "pending", "moved")] == [
        "NOERROR",
        "REFUSED",
        "REFUSED",
    ]
    assert [rcode(nameserver, f"probe.{s}.example") for s in ("active", "pending", "moved")] == [
        "NOERROR",
        "NOERROR",
        "REFUSED",
    ]
