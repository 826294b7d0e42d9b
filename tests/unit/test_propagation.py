from __future__ import annotations

import dns.flags
import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from acmecf.dns.propagation import ExpectedRecord, NameserverAddress, PropagationChecker
from acmecf.errors import PropagationError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeNameservers:
    """Nameserver addresses that start serving values at given times."""

    def __init__(self, clock: FakeClock, visible_from: dict[str, float]) -> None:
        self.clock = clock
        self.visible_from = visible_from
        self.values: dict[str, set[str]] = {}
        self.queries: list[tuple[str, str, bool]] = []

    def query(
        self, message: dns.message.Message, address: str, port: int, timeout: float
    ) -> dns.message.Message:
        question = message.question[0]
        self.queries.append((address, question.name.to_text(), bool(message.flags & dns.flags.RD)))
        response = dns.message.make_response(message)
        if self.clock.now >= self.visible_from[address]:
            values = self.values.get(question.name.to_text(omit_final_dot=True), set())
            if values:
                response.answer.append(
                    dns.rrset.from_text_list(
                        question.name, 60, "IN", "TXT", [f'"{v}"' for v in sorted(values)]
                    )
                )
        return response


def _elapsed(sleeps: list[float]) -> list[float]:
    total, result = 0.0, []
    for pause in sleeps:
        result.append(total)
        total += pause
    return result


def _checker(clock: FakeClock, network: FakeNameservers) -> PropagationChecker:
    checker = PropagationChecker(
        resolvers=[("192.0.2.53", 53)], clock=clock, sleep=clock.sleep, query=network.query
    )
    servers = [
        NameserverAddress(f"ns{i}.example.net", a) for i, a in enumerate(network.visible_from)
    ]
    checker.nameservers = lambda zone: servers  # type: ignore[method-assign]
    return checker


def test_waits_until_the_slowest_nameserver_serves_every_value() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0, "192.0.2.2": 0.0, "192.0.2.3": 2.0})
    network.values["_acme-challenge.example.com"] = {"apex", "wildcard"}
    _checker(clock, network).wait(
        [
            ExpectedRecord("_acme-challenge.example.com", v, "example.com")
            for v in ("apex", "wildcard")
        ]
    )
    assert 2.0 <= clock.now < 2.25  # not before the laggard, and within a poll of it
    assert clock.sleeps[0] <= 0.1  # the first poll comes fast


def test_queries_go_to_each_nameserver_without_recursion() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0, "192.0.2.2": 0.5})
    network.values["_acme-challenge.example.com"] = {"v"}
    _checker(clock, network).wait(
        [ExpectedRecord("_acme-challenge.example.com", "v", "example.com")]
    )
    assert {address for address, _, _ in network.queries} == {"192.0.2.1", "192.0.2.2"}
    assert not any(recursion for _, _, recursion in network.queries)


def test_a_nameserver_that_already_serves_is_not_asked_again() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0, "192.0.2.2": 3.0})
    network.values["_acme-challenge.example.com"] = {"v"}
    _checker(clock, network).wait(
        [ExpectedRecord("_acme-challenge.example.com", "v", "example.com")]
    )
    assert sum(1 for address, _, _ in network.queries if address == "192.0.2.1") == 1


def test_polling_is_quick_at_first_then_backs_off() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 300.0})
    network.values["_acme-challenge.example.com"] = {"v"}
    _checker(clock, network).wait(
        [ExpectedRecord("_acme-challenge.example.com", "v", "example.com")], timeout=400
    )
    assert clock.sleeps == sorted(clock.sleeps)
    started = _elapsed(clock.sleeps)
    assert max(p for p, at in zip(clock.sleeps, started, strict=True) if at < 30) <= 0.2
    assert max(clock.sleeps) <= 3.0
    assert len(clock.sleeps) < 400, "about 150 rounds in the first 30 s, then far fewer"


def test_a_timeout_names_the_nameserver_and_the_missing_value() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0, "192.0.2.2": 999.0})
    network.values["_acme-challenge.example.com"] = {"token-value"}
    with pytest.raises(PropagationError) as caught:
        _checker(clock, network).wait(
            [ExpectedRecord("_acme-challenge.example.com", "token-value", "example.com")],
            timeout=10,
        )
    message = str(caught.value)
    assert "ns1.example.net (192.0.2.2)" in message
    assert "'token-value'" in message
    assert "--propagation-timeout" in message
    assert 10 <= clock.now <= 11


def test_an_unanswering_nameserver_is_reported_as_such() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0})

    def silent(*args: object) -> dns.message.Message:
        raise dns.exception.Timeout()

    checker = _checker(clock, network)
    checker._query = silent  # type: ignore[assignment]
    with pytest.raises(PropagationError, match="no answer: Timeout"):
        checker.wait([ExpectedRecord("_acme-challenge.example.com", "v", "example.com")], timeout=3)
