"""CloudflareDns.apply against the emulator, through the real SDK: many changes of a zone in
one batch call, within the plan's limit, and a refused change failing only itself."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.credentials import Credentials
from acmecf.cloudflare.dns import RECORD_COMMENT, CloudflareDns
from acmecf.dns.provider import Change, Zone
from acmecf.errors import CloudflareError, CloudflareUnreachable, ZoneNotFoundError
from acmecf.sandbox.emulator import CloudflareEmulator
from tests.testbed.sdk_helpers import TOKEN

BATCH = "POST /zones/{zone_id}/dns_records/batch"
CREATE = "POST /zones/{zone_id}/dns_records"
READ_ZONE = "GET /zones/{zone_id}"
LIST = "GET /zones/{zone_id}/dns_records"


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    emulator = CloudflareEmulator()
    emulator.add_token(TOKEN)
    emulator.set_rate_limit(100_000, 300.0)
    with emulator:
        yield emulator


def provider(emulator: CloudflareEmulator, **options: int | str) -> CloudflareDns:
    api = CloudflareApi(Credentials(token=TOKEN), base_url=emulator.base_url)
    return CloudflareDns(api, **options)  # type: ignore[arg-type]


def presents(count: int, zone: str = "example.com") -> list[Change]:
    return [Change("present", f"_acme-challenge.n{i}.{zone}", f"value-{i}") for i in range(count)]


def txt_values(emulator: CloudflareEmulator) -> list[str]:
    return sorted(record["content"].strip('"') for record in emulator.records(type="TXT"))


def test_changes_of_one_zone_go_in_one_batch_call(emulator: CloudflareEmulator) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    dns = provider(emulator)
    assert dns.apply(zone, presents(5)) == [None] * 5
    assert emulator.count_requests(BATCH) == 1
    records = emulator.records(type="TXT")
    assert sorted(r["content"] for r in records) == [f'"value-{i}"' for i in range(5)]
    assert {(r["ttl"], r["comment"]) for r in records} == {(60, RECORD_COMMENT)}

    cleanups = [Change("cleanup", c.name, c.value) for c in presents(5)]
    assert dns.apply(zone, cleanups) == [None] * 5
    assert emulator.count_requests(BATCH) == 2, "the record ids were kept: no lookups"
    assert emulator.count_requests() == 2
    assert txt_values(emulator) == []


def test_creations_and_removals_share_a_call(emulator: CloudflareEmulator) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    dns = provider(emulator)
    dns.apply(zone, presents(2))
    mixed = [Change("cleanup", "_acme-challenge.n0.example.com", "value-0"), *presents(4)[2:]]
    assert dns.apply(zone, mixed) == [None] * 3
    assert emulator.count_requests(BATCH) == 2
    assert txt_values(emulator) == ["value-1", "value-2", "value-3"]


def test_a_change_alone_uses_the_ordinary_endpoint(emulator: CloudflareEmulator) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    provider(emulator).apply(zone, presents(1))
    assert (emulator.count_requests(CREATE), emulator.count_requests(BATCH)) == (1, 0)


def test_a_refused_change_fails_alone_and_the_others_go_through(
    emulator: CloudflareEmulator,
) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    emulator.refuse_record_names("_acme-challenge.n5.example.com")
    outcomes = provider(emulator).apply(zone, presents(8))
    refused = outcomes.pop(5)
    assert outcomes == [None] * 7
    assert isinstance(refused, CloudflareError) and refused.status == 400
    assert 9000 in refused.codes
    assert txt_values(emulator) == [f"value-{i}" for i in range(8) if i != 5]
    # The 8 refused; halves: 0-3 in, 4-7 refused; 4-5 refused, 6-7 in; 4 and 5 alone.
    assert emulator.count_requests(BATCH, status=400) == 3
    assert emulator.count_requests(BATCH, status=200) == 2
    assert emulator.count_requests(CREATE, status=200) == 1
    assert emulator.count_requests(CREATE, status=400) == 1


def test_an_identical_record_already_there_is_adopted(emulator: CloudflareEmulator) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    emulator.add_record("example.com", "TXT", "_acme-challenge.n1.example.com", '"value-1"')
    dns = provider(emulator)
    assert dns.apply(zone, presents(3)) == [None] * 3
    assert txt_values(emulator) == ["value-0", "value-1", "value-2"]
    cleanups = [Change("cleanup", c.name, c.value) for c in presents(3)]
    assert dns.apply(zone, cleanups) == [None] * 3
    assert txt_values(emulator) == []


def test_a_record_of_an_earlier_run_is_looked_up_and_removed(
    emulator: CloudflareEmulator,
) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    emulator.add_record("example.com", "TXT", "_acme-challenge.n0.example.com", '"value-0"')
    emulator.add_record("example.com", "TXT", "_acme-challenge.n1.example.com", '"value-1"')
    gone = [Change("cleanup", c.name, c.value) for c in presents(3)]  # the third never was
    assert provider(emulator).apply(zone, gone) == [None] * 3
    assert txt_values(emulator) == []
    assert emulator.count_requests(BATCH) == 1
    assert emulator.count_requests(LIST) == 1, "one listing of the zone's TXT records"


def test_a_record_a_long_listing_missed_is_looked_up_before_it_counts_as_gone(
    emulator: CloudflareEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing of several pages can skip a record when others are removed meanwhile (the
    pages shift): here the listing shows 1,000 other records and not the two that exist."""
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    emulator.add_record("example.com", "TXT", "_acme-challenge.n0.example.com", '"value-0"')
    emulator.add_record("example.com", "TXT", "_acme-challenge.n1.example.com", '"value-1"')
    dns = provider(emulator)
    others = [
        SimpleNamespace(id=f"other{i}", name=f"x{i}.example.com", content="x") for i in range(1000)
    ]
    monkeypatch.setattr(dns.api, "pages", lambda *args, **kwargs: iter(others))
    gone = [Change("cleanup", c.name, c.value) for c in presents(2)]
    assert dns.apply(zone, gone) == [None, None]
    assert txt_values(emulator) == [], "both found by name and removed"


def test_a_single_record_of_an_earlier_run_is_looked_up_by_name(
    emulator: CloudflareEmulator,
) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    emulator.add_record("example.com", "TXT", "_acme-challenge.n0.example.com", '"value-0"')
    emulator.add_record("example.com", "TXT", "_acme-challenge.n0.example.com", '"other"')
    gone = [Change("cleanup", "_acme-challenge.n0.example.com", "value-0")]
    assert provider(emulator).apply(zone, gone) == [None]
    assert txt_values(emulator) == ["other"], "only the exact record"
    assert [r.query.get("name.exact") for r in emulator.requests if r.method == "GET"] == [
        ["_acme-challenge.n0.example.com"]
    ]


@pytest.mark.parametrize(("plan", "calls", "reads"), [("free", 2, 1), ("pro", 1, 1)])
def test_a_batch_holds_at_most_the_plan_s_limit(
    emulator: CloudflareEmulator, plan: str, calls: int, reads: int
) -> None:
    zone = Zone(emulator.add_zone("example.com", plan=plan), "example.com")
    emulator.set_zone_quota("example.com", records=1000)
    assert provider(emulator).apply(zone, presents(250)) == [None] * 250
    assert emulator.count_requests(BATCH) == calls
    assert emulator.count_requests(READ_ZONE) == reads, "the plan is read once"
    assert len(txt_values(emulator)) == 250


def test_a_limit_given_as_an_option_wins(emulator: CloudflareEmulator) -> None:
    zone = Zone(emulator.add_zone("example.com", plan="pro"), "example.com")
    assert provider(emulator, batch_limit=40).apply(zone, presents(100)) == [None] * 100
    assert emulator.count_requests(BATCH) == 3
    assert emulator.count_requests(READ_ZONE) == 0


def test_up_to_200_changes_need_no_plan(emulator: CloudflareEmulator) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    provider(emulator).apply(zone, presents(200))
    assert (emulator.count_requests(BATCH), emulator.count_requests(READ_ZONE)) == (1, 0)


def test_a_name_outside_the_given_zone_fails_and_leaves_nothing(
    emulator: CloudflareEmulator,
) -> None:
    zone_id = emulator.add_zone("example.com")
    emulator.add_zone("example.net")
    dns = provider(emulator, zone_id=zone_id)
    changes = [*presents(2), Change("present", "_acme-challenge.example.net", "stray")]
    outcomes = dns.apply(Zone(zone_id, None), changes)
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], ZoneNotFoundError)
    assert "--zone-id" in str(outcomes[2])
    assert txt_values(emulator) == ["value-0", "value-1"]


def test_an_api_that_does_not_answer_fails_the_batch_without_splitting_it(
    emulator: CloudflareEmulator,
) -> None:
    zone = Zone(emulator.add_zone("example.com"), "example.com")
    emulator.set_faults(errors=1.0, statuses=[503])
    outcomes = provider(emulator).apply(zone, presents(6))
    assert all(isinstance(outcome, CloudflareUnreachable) for outcome in outcomes)
    assert emulator.count_requests() == 3, "the funnel's retries, no halves"


def test_many_names_cost_a_few_lookups_and_one_listing_of_the_zones(
    emulator: CloudflareEmulator,
) -> None:
    from acmecf.cloudflare.zones import LOOKUPS_BEFORE_LISTING, CloudflareZones

    emulator.add_zone("example.com")
    emulator.add_zone("example.net")
    zones = CloudflareZones(provider(emulator).api)
    for index in range(100):
        tld = "com" if index % 2 else "net"
        assert zones.zone_for(f"_acme-challenge.site{index}.example.{tld}").name == f"example.{tld}"
    # Each certificate's own name is looked up (it is not a zone) until listing is cheaper.
    assert emulator.count_requests("GET /zones") == LOOKUPS_BEFORE_LISTING + 1
