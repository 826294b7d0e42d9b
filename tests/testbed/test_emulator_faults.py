"""Faults on demand, through the real SDK and real DNS sockets: throttling, 5xx answers
(applied or not), an API that never answers, dead nameservers, an IPv6-only nameserver
and a CA resolver that lags every nameserver.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import cloudflare
import dns.exception
import dns.message
import dns.query
import httpx
import pytest

from acmecf.sandbox.dns_server import ipv6_loopback_available
from acmecf.sandbox.emulator import CloudflareEmulator
from tests.testbed.sdk_helpers import codes, error_of, raw, running_emulator, sdk, zone_id


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    with running_emulator("example.com") as emulator:
        yield emulator


def test_a_throttled_fraction_gets_429_971_with_retry_after(
    emulator: CloudflareEmulator,
) -> None:
    emulator.set_faults(throttle=0.5, retry_after=3, seed=11)
    answers = [raw(emulator, "GET", "/zones") for _ in range(40)]
    throttled = [answer for answer in answers if answer.status_code == 429]
    assert 8 <= len(throttled) <= 32
    assert {answer.headers["Retry-After"] for answer in throttled} == {"3"}
    assert {answer.json()["errors"][0]["code"] for answer in throttled} == {971}
    assert emulator.count_requests(status=429) == len(throttled)
    emulator.set_faults()
    assert raw(emulator, "GET", "/zones").status_code == 200


def test_the_edge_answers_502_with_its_html_page_not_an_envelope(
    emulator: CloudflareEmulator,
) -> None:
    emulator.set_faults(errors=1.0, statuses=[502])
    error = error_of(lambda: sdk(emulator).zones.get(zone_id=zone_id(emulator)))
    assert isinstance(error, cloudflare.InternalServerError)
    assert error.status_code == 502
    assert error.response.headers["content-type"] == "text/html"
    assert "<center>cloudflare</center>" in error.response.text


def test_a_500_from_the_api_keeps_the_json_envelope(emulator: CloudflareEmulator) -> None:
    emulator.set_faults(errors=1.0, statuses=[500])
    response = raw(emulator, "GET", "/zones")
    assert response.status_code == 500
    assert response.json()["success"] is False


def test_an_applied_write_answered_5xx_is_there_when_read_back(
    emulator: CloudflareEmulator,
) -> None:
    emulator.set_faults(applied_errors=1.0, statuses=[504], seed=1)
    client = sdk(emulator)
    error = error_of(
        lambda: client.dns.records.create(
            zone_id=zone_id(emulator), type="TXT", name="_acme-challenge", content="v", ttl=60
        )
    )
    assert error.status_code == 504
    emulator.set_faults()
    listed = list(client.dns.records.list(zone_id=zone_id(emulator), type="TXT"))
    assert [record.content for record in listed] == ["v"]
    assert emulator.requests[0].fault == "applied_error"


def test_the_sdk_retries_through_injected_5xx(emulator: CloudflareEmulator) -> None:
    emulator.set_faults(errors=0.5, statuses=[503], seed=3)
    client = sdk(emulator, retries=6)
    for _ in range(2):
        assert client.zones.get(zone_id=zone_id(emulator)) is not None
    assert emulator.count_requests(status=503) > 0


def test_a_silent_api_accepts_and_never_answers(emulator: CloudflareEmulator) -> None:
    emulator.set_api_silent(True)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        raw(emulator, "GET", "/zones", timeout=0.3)
    assert time.monotonic() - started >= 0.3
    assert emulator.requests[-1].fault == "silent"
    emulator.set_api_silent(False)
    assert raw(emulator, "GET", "/zones").status_code == 200


def ask(
    emulator: CloudflareEmulator, address: str, name: str, rdtype: str = "TXT", *, tcp: bool = False
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, address, port=emulator.dns_port, timeout=0.4)


def test_an_unreachable_nameserver_answers_nothing_over_udp_or_tcp(
    emulator: CloudflareEmulator,
) -> None:
    emulator.add_record("example.com", "TXT", "probe", "here")
    emulator.set_nameserver_reachable(1, False)
    dead = emulator.nameservers[1].address
    for tcp in (False, True):
        with pytest.raises(dns.exception.Timeout):
            ask(emulator, dead, "probe.example.com", tcp=tcp)
    assert ask(emulator, emulator.nameservers[0].address, "probe.example.com").answer
    emulator.set_nameserver_reachable(1, True)
    assert ask(emulator, dead, "probe.example.com").answer


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
def test_a_nameserver_can_answer_only_over_ipv6(emulator: CloudflareEmulator) -> None:
    emulator.add_record("example.com", "TXT", "probe", "here")
    old_address = emulator.nameservers[2].address
    emulator.set_nameserver_ipv6(2)
    nameserver = emulator.nameservers[2]
    assert nameserver.address == "::1"
    for tcp in (False, True):
        assert ask(emulator, "::1", "probe.example.com", tcp=tcp).answer
    with pytest.raises(dns.exception.Timeout):
        ask(emulator, old_address, "probe.example.com")
    # Its name now resolves to ::1 only: AAAA glue, no A record.
    resolver = emulator.resolver_address
    assert [
        r.to_text() for s in ask(emulator, resolver, nameserver.name, "AAAA").answer for r in s
    ] == ["::1"]
    assert ask(emulator, resolver, nameserver.name, "A").answer == []
    with pytest.raises(ValueError, match="already"):
        emulator.set_nameserver_ipv6(0)
    emulator.set_nameserver_ipv6(2, False)
    assert ask(emulator, old_address, "probe.example.com").answer


def test_the_resolver_can_lag_every_nameserver(emulator: CloudflareEmulator) -> None:
    emulator.set_resolver_lag(0.6)
    client = sdk(emulator)
    client.dns.records.create(
        zone_id=zone_id(emulator), type="TXT", name="_acme-challenge", content="v", ttl=60
    )
    name = "_acme-challenge.example.com"
    assert all(ask(emulator, ns.address, name).answer for ns in emulator.nameservers)
    assert ask(emulator, emulator.resolver_address, name).answer == []
    time.sleep(0.7)
    assert ask(emulator, emulator.resolver_address, name).answer


def test_fault_settings_are_checked(emulator: CloudflareEmulator) -> None:
    with pytest.raises(ValueError):
        emulator.set_faults(throttle=0.7, errors=0.7)
    with pytest.raises(ValueError):
        emulator.set_faults(errors=0.1, statuses=[418])
    assert codes(error_of(lambda: sdk(emulator, "U" * 40).zones.list().result)) == [9109]
