"""Gathering DNS changes into batch calls (dns.batching), against a fake batch provider.

Threads meet on events and on a clock that tells when a caller has queued: nothing sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest

from acmecf.dns.batching import (
    BatchingProvider,
    BatchOptions,
    _Ticket,
    _ZoneQueue,
    batch_options_from_environment,
)
from acmecf.dns.provider import BatchProvider, Change, Zone
from acmecf.errors import AcmecfError, CloudflareError, UsageError

WAIT = 10.0  # a generous bound on waits for another thread: a hang fails instead of blocking


class FakeBatchDns:
    """A BatchProvider: records in a set, every apply() logged; `hold` keeps the next call in
    flight until `release` is set; `refuse` names values it refuses."""

    def __init__(self) -> None:
        self.records: set[tuple[str, str]] = set()
        self.calls: list[list[Change]] = []
        self.refuse: set[str] = set()
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.broken = False

    def zone_for(self, name: str) -> Zone:
        zone = ".".join(name.split(".")[-2:])
        return Zone(f"id-{zone}", zone)

    def apply(self, zone: Zone, changes: Sequence[Change]) -> list[AcmecfError | None]:
        self.calls.append(list(changes))
        if self.hold:
            self.hold = False
            self.entered.set()
            assert self.release.wait(WAIT)
        if self.broken:
            raise RuntimeError("a bug")
        outcomes: list[AcmecfError | None] = []
        for change in changes:
            if change.value in self.refuse:
                outcomes.append(CloudflareError(f"refused {change.value}", status=400))
            elif change.action == "present":
                self.records.add((change.name, change.value))
                outcomes.append(None)
            else:
                self.records.discard((change.name, change.value))
                outcomes.append(None)
        return outcomes


class QueueingClock:
    """A clock that stands still and lets a test wait until a thread has asked it the time:
    a caller asks as it queues its change, holding the lock it appends under."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._asked: dict[int, int] = {}
        self._condition = threading.Condition()

    def __call__(self) -> float:
        with self._condition:
            me = threading.get_ident()
            self._asked[me] = self._asked.get(me, 0) + 1
            self._condition.notify_all()
        return self.now

    def wait_until_queued(self, thread: threading.Thread) -> None:
        with self._condition:
            assert self._condition.wait_for(lambda: self._asked.get(thread.ident or 0, 0), WAIT)


def in_thread(action: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_a_fake_batch_dns_is_a_batch_provider() -> None:
    assert isinstance(FakeBatchDns(), BatchProvider)


def test_a_change_alone_goes_at_once_in_a_call_of_its_own() -> None:
    dns = FakeBatchDns()
    batching = BatchingProvider(dns, run_size=lambda: 1000)
    batching.present("_acme-challenge.example.com", "one")
    batching.present("_acme-challenge.example.com", "two")
    batching.cleanup("_acme-challenge.example.com", "one")
    assert [len(call) for call in dns.calls] == [1, 1, 1]
    assert dns.records == {("_acme-challenge.example.com", "two")}


def test_changes_that_arrive_during_a_call_go_together_in_the_next() -> None:
    dns = FakeBatchDns()
    clock = QueueingClock()
    batching = BatchingProvider(dns, clock=clock)
    dns.hold = True
    first, first_errors = in_thread(lambda: batching.present("_acme-challenge.a.example.com", "a"))
    assert dns.entered.wait(WAIT)  # the first call is in flight
    later = [
        in_thread(lambda v=value: batching.present(f"_acme-challenge.{v}.example.com", v))
        for value in ("b", "c")
    ]
    for thread, _ in later:
        clock.wait_until_queued(thread)
    dns.release.set()
    for thread, errors in [(first, first_errors), *later]:
        thread.join(WAIT)
        assert not errors
    assert [sorted(c.value for c in call) for call in dns.calls] == [["a"], ["b", "c"]]
    assert batching.calls == 2


def test_each_caller_gets_its_own_outcome() -> None:
    dns = FakeBatchDns()
    clock = QueueingClock()
    dns.refuse = {"bad"}
    batching = BatchingProvider(dns, clock=clock)
    dns.hold = True
    first, _ = in_thread(lambda: batching.present("_acme-challenge.a.example.com", "a"))
    assert dns.entered.wait(WAIT)
    good, good_errors = in_thread(lambda: batching.present("_acme-challenge.b.example.com", "b"))
    bad, bad_errors = in_thread(lambda: batching.present("_acme-challenge.c.example.com", "bad"))
    clock.wait_until_queued(good)
    clock.wait_until_queued(bad)
    dns.release.set()
    for thread in (first, good, bad):
        thread.join(WAIT)
    assert len(dns.calls[1]) == 2, "both went in one call"
    assert good_errors == []
    assert len(bad_errors) == 1 and isinstance(bad_errors[0], CloudflareError)
    assert bad_errors[0].status == 400
    assert ("_acme-challenge.b.example.com", "b") in dns.records


def test_a_provider_bug_fails_every_change_of_its_call_and_hangs_none() -> None:
    dns = FakeBatchDns()
    clock = QueueingClock()
    batching = BatchingProvider(dns, clock=clock)
    dns.hold = True
    first, first_errors = in_thread(lambda: batching.present("_acme-challenge.a.example.com", "a"))
    assert dns.entered.wait(WAIT)
    dns.broken = True
    second, second_errors = in_thread(
        lambda: batching.present("_acme-challenge.b.example.com", "b")
    )
    clock.wait_until_queued(second)
    dns.release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert not first.is_alive() and not second.is_alive()
    assert [type(e) for e in first_errors] == [RuntimeError]  # the caller that sent it
    assert len(second_errors) == 1  # the one whose change rode along


def test_zones_are_batched_apart() -> None:
    dns = FakeBatchDns()
    batching = BatchingProvider(dns)
    batching.present("_acme-challenge.example.com", "one")
    batching.present("_acme-challenge.example.net", "two")
    assert [call[0].name for call in dns.calls] == [
        "_acme-challenge.example.com",
        "_acme-challenge.example.net",
    ]
    assert batching.zone_for("_acme-challenge.example.net") == Zone("id-example.net", "example.net")


def zone_at_work(batching: BatchingProvider, zone: str, others: int) -> _ZoneQueue:
    """`zone`'s queue, with `others` other certificates at work in it (records presented,
    not yet cleaned up)."""
    queue = batching._queues.setdefault(f"id-{zone}", _ZoneQueue(Zone(f"id-{zone}", zone)))
    for thread in range(others):
        queue.holders[-1 - thread] = 1
    return queue


def waiting_time(queue: _ZoneQueue, batching: BatchingProvider, waited: float) -> float | None:
    """How long more a change queued alone, `waited` seconds ago, would wait."""
    queue.pending = [_Ticket(Change("present", "_acme-challenge.x", "v"), 1000.0 - waited)]
    return batching._wait_before_sending(queue, caller=0)


@pytest.mark.parametrize(
    ("others", "run_size", "waited", "expected"),
    [
        (0, 1000, 0.0, 0.0),  # nobody else at work: at once
        (30, 100, 0.0, 0.0),  # a run the API budget absorbs: at once
        (30, 1000, 0.0, 3.0),  # 0.1 s per other certificate
        (30, 1000, 1.0, 2.0),  # minus what it has waited
        (30, 1000, 3.5, 0.0),
        (200, 1000, 0.0, 8.0),  # at most 8 s
    ],
)
def test_a_change_of_a_large_run_waits_for_the_certificates_at_work_in_its_zone(
    others: int, run_size: int, waited: float, expected: float
) -> None:
    batching = BatchingProvider(FakeBatchDns(), run_size=lambda: run_size, clock=lambda: 1000.0)
    queue = zone_at_work(batching, "example.com", others)
    assert waiting_time(queue, batching, waited) == pytest.approx(expected)


def test_a_wait_given_applies_to_small_runs_too_and_bounds_the_wait() -> None:
    batching = BatchingProvider(FakeBatchDns(), linger=2.0, clock=lambda: 1000.0)
    queue = zone_at_work(batching, "example.com", 30)
    assert waiting_time(queue, batching, 0.0) == pytest.approx(2.0)


def test_a_cancelled_run_waits_for_nobody() -> None:
    cancelled = False
    batching = BatchingProvider(
        FakeBatchDns(), run_size=lambda: 1000, hurry=lambda: cancelled, clock=lambda: 1000.0
    )
    queue = zone_at_work(batching, "example.com", 30)
    assert waiting_time(queue, batching, 0.0) == pytest.approx(3.0)
    cancelled = True
    assert waiting_time(queue, batching, 0.0) == 0.0


def test_a_certificate_stops_counting_once_it_cleaned_up_what_it_presented() -> None:
    dns = FakeBatchDns()
    batching = BatchingProvider(dns)
    batching.present("_acme-challenge.example.com", "one")
    batching.present("_acme-challenge.example.com", "two")
    queue = batching._queues["id-example.com"]
    assert queue.holders == {threading.get_ident(): 2}
    batching.cleanup("_acme-challenge.example.com", "one")
    batching.cleanup("_acme-challenge.example.com", "two")
    assert queue.holders == {}


def test_a_refused_present_is_not_counted_as_a_record_to_clean_up() -> None:
    dns = FakeBatchDns()
    dns.refuse = {"bad"}
    batching = BatchingProvider(dns)
    with pytest.raises(CloudflareError):
        batching.present("_acme-challenge.example.com", "bad")
    assert batching._queues["id-example.com"].holders == {}


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, BatchOptions()),
        ({"ACMECF_DNS_BATCH": "off"}, BatchOptions(enabled=False)),
        ({"ACMECF_DNS_BATCH": "On"}, BatchOptions()),
        ({"ACMECF_DNS_BATCH": "150"}, BatchOptions(limit=150)),
        ({"ACMECF_DNS_BATCH_WAIT": "2.5"}, BatchOptions(linger=2.5)),
    ],
)
def test_batching_options_come_from_the_environment(
    environment: dict[str, str], expected: BatchOptions
) -> None:
    assert batch_options_from_environment(environment) == expected


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"ACMECF_DNS_BATCH": "sometimes"}, "invalid ACMECF_DNS_BATCH 'sometimes': expected on"),
        ({"ACMECF_DNS_BATCH_WAIT": "soon"}, "invalid ACMECF_DNS_BATCH_WAIT 'soon': expected"),
        ({"ACMECF_DNS_BATCH_WAIT": "600"}, "from 0 to 60"),
    ],
)
def test_a_bad_batching_option_says_what_is_expected(
    environment: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        batch_options_from_environment(environment)


def test_records_given_together_go_in_one_call() -> None:
    dns = FakeBatchDns()
    batching = BatchingProvider(dns)
    records = [("_acme-challenge.example.com", "one"), ("_acme-challenge.example.com", "two")]
    assert batching.present_many(records) == [None, None]
    assert batching.cleanup_many(records) == [None, None]
    assert [len(call) for call in dns.calls] == [2, 2]
    assert dns.records == set()


def test_records_of_two_zones_given_together_go_in_a_call_each() -> None:
    dns = FakeBatchDns()
    dns.refuse = {"two"}
    batching = BatchingProvider(dns)
    outcomes = batching.present_many(
        [("_acme-challenge.example.com", "one"), ("_acme-challenge.example.net", "two")]
    )
    assert outcomes[0] is None and isinstance(outcomes[1], CloudflareError)
    assert sorted(call[0].name for call in dns.calls) == [
        "_acme-challenge.example.com",
        "_acme-challenge.example.net",
    ]


def test_a_caller_whose_call_failed_leaves_none_of_its_changes_queued() -> None:
    # Its records of another zone were queued; it gave up on them (its first zone's call
    # raised), so they must never go out later, least of all in one call with its cleanup
    # (the API deletes before it creates: the record would outlive the run, journal forgotten).
    dns = FakeBatchDns()
    dns.broken = True
    batching = BatchingProvider(dns)
    records = [("_acme-challenge.example.com", "one"), ("_acme-challenge.example.net", "two")]
    with pytest.raises(RuntimeError):
        batching.present_many(records)
    dns.broken = False
    batching.cleanup_many(records)
    presented = [c.value for call in dns.calls for c in call if c.action == "present"]
    assert presented == ["one"]  # the call that raised, and nothing after it
    assert all(len({change.action for change in call}) == 1 for call in dns.calls)
    assert all(queue.pending == [] for queue in batching._queues.values())


def test_a_cancelled_run_wakes_the_changes_waiting_for_company() -> None:
    cancelled = False
    dns = FakeBatchDns()
    clock = QueueingClock()
    batching = BatchingProvider(dns, linger=60.0, hurry=lambda: cancelled, clock=clock)
    zone_at_work(batching, "example.com", 1000)  # so it would wait the whole 60 s
    waiting, errors = in_thread(lambda: batching.present("_acme-challenge.example.com", "v"))
    clock.wait_until_queued(waiting)
    cancelled = True
    batching.wake()  # what the run's cancel() does: from a signal handler, so it never blocks
    waiting.join(WAIT)
    assert not waiting.is_alive(), "it still waits for company in a cancelled run"
    assert errors == [] and dns.records == {("_acme-challenge.example.com", "v")}
