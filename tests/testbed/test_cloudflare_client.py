"""acmecf's Cloudflare client against the emulator through the real SDK: zones found by name,
errors in full, the run's budget following the Ratelimit headers, unexpected SDK errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.budget import RequestBudget
from acmecf.cloudflare.credentials import Credentials
from acmecf.cloudflare.zones import CloudflareZones
from acmecf.dns.provider import Zone
from acmecf.errors import CloudflareError, ZoneNotFoundError
from acmecf.sandbox.emulator import CloudflareEmulator

TOKEN = "T" * 40
SECOND_TOKEN = "S" * 40  # another token of the same user


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    emulator = CloudflareEmulator()
    emulator.add_zone("example.com")
    emulator.add_zone("shop.example.com")  # a subdomain zone: the longest match wins
    emulator.add_zone("pending.example", status="pending")
    emulator.add_token(TOKEN)
    emulator.add_token(SECOND_TOKEN)
    with emulator:
        yield emulator


def api_for(
    emulator: CloudflareEmulator, token: str = TOKEN, budget: RequestBudget | None = None
) -> CloudflareApi:
    return CloudflareApi(Credentials(token=token), base_url=emulator.base_url, budget=budget)


def test_with_2000_zones_a_name_costs_at_most_3_zone_calls(emulator: CloudflareEmulator) -> None:
    emulator.add_zones(2000)
    zones = CloudflareZones(api_for(emulator))
    emulator.clear_logs()
    for name, zone_name in (
        ("_acme-challenge.www.example.com", "example.com"),
        ("_acme-challenge.a.b.example.com", "example.com"),
        ("_acme-challenge.zone1234.example", "zone1234.example"),
        ("_acme-challenge.www.shop.example.com", "shop.example.com"),
    ):
        before = emulator.count_requests("GET /zones")
        assert zones.zone_for(name).name == zone_name
        assert emulator.count_requests("GET /zones") - before <= 3, name
    again = emulator.count_requests("GET /zones")
    zones.zone_for("_acme-challenge.www.example.com")
    assert emulator.count_requests("GET /zones") == again, "cached for the run"


def test_a_zone_that_is_not_active_does_not_count(emulator: CloudflareEmulator) -> None:
    with pytest.raises(ZoneNotFoundError, match=r"no active Cloudflare zone for www\.pending"):
        CloudflareZones(api_for(emulator)).zone_for("www.pending.example")
    assert [z.name for z in CloudflareZones(api_for(emulator)).visible()] == [
        "example.com",
        "shop.example.com",
    ]


def test_a_refused_name_filter_falls_back_to_one_listing(emulator: CloudflareEmulator) -> None:
    zones = CloudflareZones(api_for(emulator))
    real = zones.api.call
    calls: list[str] = []

    def refuse_filter(request: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["action"])
        if kwargs["action"].startswith("looking up the zone"):
            raise CloudflareError("Cloudflare refused it: 1001 bad filter", status=400)
        return real(request, **kwargs)

    zones.api.call = refuse_filter  # type: ignore[method-assign]
    assert zones.zone_for("_acme-challenge.www.example.com").name == "example.com"
    assert zones.zone_for("_acme-challenge.shop.example.com").name == "shop.example.com"
    assert calls.count("listing zones") == 1


def test_a_dns_validation_error_shows_its_error_chain_and_the_plan_limit(
    emulator: CloudflareEmulator,
) -> None:
    api = api_for(emulator)
    zone = CloudflareZones(api).zone_for("example.com")
    with pytest.raises(CloudflareError) as caught:
        api.call(
            lambda client: client.dns.records.create(
                zone_id=zone.id,
                type="TXT",
                name="tagged.example.com",
                content='"v"',
                ttl=60,
                tags=["owner:acmecf"],
            ),
            action="creating TXT tagged.example.com",
            zone=zone,
        )
    error = caught.value
    assert 1004 in error.codes and 9300 in error.codes
    message = str(error)
    assert "1004 DNS Validation Error" in message
    assert "9300 DNS record has 1 tags, exceeding the quota of 0." in message
    assert "upgrade the plan" in message and "\n" not in message


def test_the_record_quota_is_explained(emulator: CloudflareEmulator) -> None:
    api = api_for(emulator)
    zone = CloudflareZones(api).zone_for("example.com")
    emulator.set_zone_quota("example.com", records=0)
    with pytest.raises(CloudflareError) as caught:
        api.call(
            lambda client: client.dns.records.create(
                zone_id=zone.id, type="TXT", name="q.example.com", content='"v"', ttl=60
            ),
            action="creating TXT q.example.com",
            zone=zone,
        )
    assert caught.value.codes == (81045,)
    assert "holds as many DNS records as its plan allows" in str(caught.value)
    assert "81045 Record quota exceeded." in str(caught.value)


def test_an_unexpected_sdk_error_fails_only_its_own_request_in_one_line(
    emulator: CloudflareEmulator,
) -> None:
    api = api_for(emulator)

    def missing_endpoint(client: Any) -> Any:
        return client.origin_tls_client_auth.no_such_resource.list(zone_id="z")

    with pytest.raises(CloudflareError) as caught:
        api.call(missing_endpoint, action="listing something", zone=None)
    message = str(caught.value)
    assert message.startswith("the Cloudflare SDK could not handle listing something")
    assert "AttributeError" in message and "5.x" in message and "\n" not in message
    # The client goes on working for the next request.
    assert CloudflareZones(api).zone_for("www.example.com").name == "example.com"


def test_two_tokens_of_one_user_share_the_runs_budget_and_follow_the_headers(
    emulator: CloudflareEmulator,
) -> None:
    emulator.set_rate_limit(8, 3)
    budget = RequestBudget()  # 1,200 per 5 minutes on our side; the headers say otherwise
    first, second = api_for(emulator, TOKEN, budget), api_for(emulator, SECOND_TOKEN, budget)
    zone = Zone(CloudflareZones(first).zone_for("example.com").id, "example.com")
    for number in range(12):
        api = first if number % 2 else second
        api.call(lambda client: client.zones.get(zone_id=zone.id), action="reading", zone=zone)
    assert emulator.count_requests(status=429) == 0
    assert budget.limit == 8, "the policy the API sent became the budget"
