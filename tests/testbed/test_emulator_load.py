"""The emulator under a thousand certificates: what it forgets, what it keeps building, and
the faults the batch tests inject (a late API, refused names), over real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rdatatype
import pytest

from acmecf.sandbox.emulator import CloudflareEmulator
from tests.testbed.sdk_helpers import TOKEN, codes, error_of, running_emulator, sdk, zone_id


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    with running_emulator("example.com") as emulator:
        yield emulator


def ask(emulator: CloudflareEmulator, name: str, rdtype: str, *, tcp: bool = False) -> list[str]:
    query = dns.message.make_query(name, rdtype)
    address = emulator.nameservers[0].address
    send = dns.query.tcp if tcp else dns.query.udp
    response = send(query, address, port=emulator.dns_port, timeout=5)
    return [rdata.to_text() for rrset in response.answer for rdata in rrset]


def serial(emulator: CloudflareEmulator) -> int:
    return int(ask(emulator, "example.com", "SOA")[0].split()[2])


def test_a_record_no_server_serves_any_more_is_forgotten_and_still_counted(
    emulator: CloudflareEmulator,
) -> None:
    client = sdk(emulator)
    records = [
        client.dns.records.create(
            zone_id=zone_id(emulator), type="TXT", name=f"n{i}", content=f'"v{i}"', ttl=60
        )
        for i in range(3)
    ]
    before = serial(emulator)
    for record in records[:2]:
        assert record is not None
        client.dns.records.delete(str(record.id), zone_id=zone_id(emulator))
    after = serial(emulator)  # every server saw the deletions at once: both forgotten
    assert after == before + 2
    assert serial(emulator) == after, "forgetting them changed nothing a server sees"
    state = emulator._state
    assert len(state.zone_records(zone_id(emulator))) == 1
    assert ask(emulator, "n2.example.com", "TXT") == ['"v2"']
    assert ask(emulator, "n0.example.com", "TXT") == []


def test_a_change_reaches_a_server_when_its_delay_has_passed() -> None:
    emulator = CloudflareEmulator(nameserver_delays=(0.3, 0.3, 0.3))
    emulator.add_zone("example.com")
    emulator.add_token(TOKEN)
    with emulator:
        client = sdk(emulator)
        assert ask(emulator, "late.example.com", "TXT") == []  # a view built before the change
        client.dns.records.create(
            zone_id=zone_id(emulator), type="TXT", name="late", content='"v"', ttl=60
        )
        assert ask(emulator, "late.example.com", "TXT") == []
        time.sleep(0.4)
        assert ask(emulator, "late.example.com", "TXT") == ['"v"']


def test_an_api_with_latency_applies_at_once_and_answers_late(
    emulator: CloudflareEmulator,
) -> None:
    emulator.set_api_latency(0.5)
    done = threading.Event()

    def create() -> None:
        sdk(emulator).dns.records.create(
            zone_id=zone_id(emulator), type="TXT", name="slow", content='"v"', ttl=60
        )
        done.set()

    started = time.monotonic()
    threading.Thread(target=create).start()
    while not emulator.records(type="TXT") and time.monotonic() - started < 5:
        time.sleep(0.01)
    assert emulator.records(type="TXT"), "applied"
    assert not done.is_set(), "but not answered yet"
    assert done.wait(5)
    assert time.monotonic() - started >= 0.5
    emulator.set_api_latency(0)


def test_a_refused_name_is_refused_alone_and_spoils_its_batch(
    emulator: CloudflareEmulator,
) -> None:
    emulator.refuse_record_names("_acme-challenge.bad.example.com")
    client = sdk(emulator)
    error = error_of(
        lambda: client.dns.records.create(
            zone_id=zone_id(emulator),
            type="TXT",
            name="_acme-challenge.bad.example.com",
            content='"v"',
            ttl=60,
        )
    )
    assert (error.status_code, codes(error)) == (400, [1004])
    error = error_of(
        lambda: client.dns.records.batch(
            zone_id=zone_id(emulator),
            posts=[
                {"type": "TXT", "name": "_acme-challenge.good.example.com", "content": "v"},
                {"type": "TXT", "name": "_acme-challenge.bad.example.com", "content": "v"},
            ],
        )
    )
    assert error.status_code == 400
    assert emulator.records(type="TXT") == [], "nothing of the batch was applied"
    emulator.refuse_record_names()
    client.dns.records.create(
        zone_id=zone_id(emulator),
        type="TXT",
        name="_acme-challenge.bad.example.com",
        content='"v"',
        ttl=60,
    )


def test_a_burst_of_tcp_queries_is_answered_in_time(emulator: CloudflareEmulator) -> None:
    for i in range(200):
        emulator.add_record("example.com", "TXT", f"_acme-challenge.n{i}", f'"v{i}"')
    emulator.set_zone_quota("example.com", records=1000)
    answered: list[float] = []
    failures: list[BaseException] = []

    def validate(i: int) -> None:
        started = time.monotonic()
        try:
            assert ask(emulator, f"_acme-challenge.n{i % 200}.example.com", "TXT", tcp=True)
            answered.append(time.monotonic() - started)
        except BaseException as err:
            failures.append(err)

    # What a CA that validates 200 names three times each, at once, sends (Pebble: over TCP).
    threads = [threading.Thread(target=validate, args=(i,)) for i in range(600)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert len(answered) == 600
    assert max(answered) < 2.0, "Pebble's DNS client gives up after 2 s"
