from __future__ import annotations

import logging

import dns.exception
import dns.flags
import dns.message
import dns.rcode
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
        self.ports: set[int] = set()
        self.silent: set[str] = set()  # addresses whose queries time out
        self.unreachable: set[str] = set()  # addresses with no route (an IPv6-only host's IPv4)
        self.refusing: set[str] = set()

    def query(
        self, message: dns.message.Message, address: str, port: int, timeout: float
    ) -> dns.message.Message:
        question = message.question[0]
        self.queries.append((address, question.name.to_text(), bool(message.flags & dns.flags.RD)))
        self.ports.add(port)
        if address in self.unreachable:
            raise OSError(101, "Network is unreachable")
        if address in self.silent:
            raise dns.exception.Timeout()
        response = dns.message.make_response(message)
        if address in self.refusing:
            response.set_rcode(dns.rcode.REFUSED)
            return response
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


def test_a_nameserver_that_never_answers_is_named_at_the_timeout() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0, "192.0.2.2": 0.0})
    network.values["_acme-challenge.example.com"] = {"v"}
    network.silent.add("192.0.2.2")
    with pytest.raises(PropagationError) as caught:
        _checker(clock, network).wait(
            [ExpectedRecord("_acme-challenge.example.com", "v", "example.com")], timeout=3
        )
    assert "ns1.example.net (192.0.2.2)" in str(caught.value)
    assert "no answer: Timeout" in str(caught.value)


def test_when_no_nameserver_answers_the_first_round_fails_with_the_remedy() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0, "192.0.2.2": 0.0})
    network.silent.update({"192.0.2.1", "192.0.2.2"})
    with pytest.raises(PropagationError) as caught:
        _checker(clock, network).wait(
            [ExpectedRecord("_acme-challenge.example.com", "v", "example.com")]
        )
    message = str(caught.value)
    assert clock.sleeps == [], "no waiting out the timeout"
    assert "ns0.example.net at 192.0.2.1" in message and "ns1.example.net at 192.0.2.2" in message
    assert "port 53" in message and "blocked" in message
    assert "--dns-check resolver" in message and "--dns-check none" in message


def test_a_refusing_nameserver_is_not_taken_for_a_blocked_port() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0})
    network.refusing.add("192.0.2.1")
    with pytest.raises(PropagationError, match="answered REFUSED"):
        _checker(clock, network).wait(
            [ExpectedRecord("_acme-challenge.example.com", "v", "example.com")], timeout=2
        )


def _dual_stack_checker(clock: FakeClock, network: FakeNameservers) -> PropagationChecker:
    checker = _checker(clock, network)
    servers = [
        NameserverAddress("ns0.example.net", "192.0.2.1"),
        NameserverAddress("ns0.example.net", "2001:db8::1"),
        NameserverAddress("ns1.example.net", "192.0.2.2"),
        NameserverAddress("ns1.example.net", "2001:db8::2"),
    ]
    checker.nameservers = lambda zone: servers  # type: ignore[method-assign]
    return checker


def test_nameservers_are_asked_over_ipv6_when_ipv4_is_unreachable() -> None:
    clock = FakeClock()
    network = FakeNameservers(
        clock, {"192.0.2.1": 0.0, "192.0.2.2": 0.0, "2001:db8::1": 0.0, "2001:db8::2": 0.0}
    )
    network.values["_acme-challenge.example.com"] = {"v"}
    network.unreachable.update({"192.0.2.1", "192.0.2.2"})  # an IPv6-only host
    _dual_stack_checker(clock, network).wait(
        [ExpectedRecord("_acme-challenge.example.com", "v", "example.com")]
    )
    asked = [address for address, _, _ in network.queries]
    assert {"2001:db8::1", "2001:db8::2"} <= set(asked)
    assert clock.sleeps == [], "the fallback happens within the first round"


def test_nameservers_are_asked_over_ipv4_when_ipv6_is_unreachable() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 1.0, "2001:db8::1": 0.0})
    network.values["_acme-challenge.example.com"] = {"v"}
    checker = _checker(clock, network)
    servers = [
        NameserverAddress("ns0.example.net", "192.0.2.1"),
        NameserverAddress("ns0.example.net", "2001:db8::1"),
    ]
    checker.nameservers = lambda zone: servers  # type: ignore[method-assign]
    network.unreachable.add("192.0.2.1")
    # First IPv4 fails, IPv6 answers (without the value yet is fine); then IPv6 goes away.
    network.visible_from["2001:db8::1"] = 0.5
    original = network.query

    def ipv6_breaks_later(message: dns.message.Message, address: str, port: int, timeout: float):  # type: ignore[no-untyped-def]
        if clock.now >= 0.2:
            network.unreachable.discard("192.0.2.1")
            network.unreachable.add("2001:db8::1")
        return original(message, address, port, timeout)

    checker._query = ipv6_breaks_later  # type: ignore[assignment]
    checker.wait([ExpectedRecord("_acme-challenge.example.com", "v", "example.com")])
    assert network.queries[-1][0] == "192.0.2.1", "back to IPv4 once IPv6 stopped answering"


def test_resolver_check_polls_the_resolver_with_recursion() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.53": 1.0})
    network.values["_acme-challenge.example.com"] = {"v"}
    checker = PropagationChecker(
        resolvers=[("192.0.2.53", 5353)],
        check="resolver",
        clock=clock,
        sleep=clock.sleep,
        query=network.query,
    )
    checker.wait([ExpectedRecord("_acme-challenge.example.com", "v", "example.com")])
    assert 1.0 <= clock.now < 1.3
    assert {address for address, _, _ in network.queries} == {"192.0.2.53"}
    assert all(recursion for _, _, recursion in network.queries)
    assert network.ports == {5353}


def test_no_check_waits_the_fixed_delay_and_asks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "acmecf")
    clock = FakeClock()
    network = FakeNameservers(clock, {})
    checker = PropagationChecker(
        check="none", fixed_delay=25.0, settle=5.0, clock=clock, sleep=clock.sleep,
        query=network.query,
    )  # fmt: skip
    checker.wait([ExpectedRecord("_acme-challenge.example.com", "v", "example.com")])
    assert network.queries == []
    assert sum(clock.sleeps) == 25.0 and max(clock.sleeps) <= 10.0
    assert any("left" in r.getMessage() for r in caplog.records), "progress while waiting"


def test_the_settle_time_follows_once_every_nameserver_serves() -> None:
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0})
    network.values["_acme-challenge.example.com"] = {"v"}
    checker = _checker(clock, network)
    checker.settle = 5.0
    record = ExpectedRecord("_acme-challenge.example.com", "v", "example.com")
    checker.wait([record])
    assert clock.sleeps == [5.0]
    checker.wait([record], settle=60.0)
    assert clock.sleeps == [5.0, 60.0], "a retry asks for a longer settle"


def test_a_long_wait_says_every_ten_seconds_which_nameserver_lacks_which_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "acmecf")
    clock = FakeClock()
    network = FakeNameservers(clock, {"192.0.2.1": 0.0, "192.0.2.2": 25.0})
    network.values["_acme-challenge.example.com"] = {"the-value"}
    _checker(clock, network).wait(
        [ExpectedRecord("_acme-challenge.example.com", "the-value", "example.com")]
    )
    progress = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert len(progress) == 2, progress  # at ~10 s and ~20 s
    assert "ns1.example.net (192.0.2.2) lacks TXT _acme-challenge.example.com" in progress[0]
    assert "'the-value'" in progress[0]
    assert "ns0.example.net" not in progress[0], "only the servers still behind"
