from __future__ import annotations

import threading

from acmecf.cloudflare.budget import RequestBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_requests_within_the_limit_go_at_once() -> None:
    clock = Clock()
    budget = RequestBudget(5, 10.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        budget.acquire()
    assert clock.now == 0.0


def test_a_request_past_the_limit_waits_for_the_window_to_slide() -> None:
    clock = Clock()
    budget = RequestBudget(5, 10.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(12):
        budget.acquire()
        sent.append(clock.now)
    # never more than 5 in any 10 s (the budget keeps a second of margin on top)
    assert all(sum(1 for t in sent if start <= t < start + 11.0) <= 5 for start in sent)
    assert 22.0 <= clock.now < 22.1


def test_a_429_holds_every_request_back_until_retry_after() -> None:
    clock = Clock()
    budget = RequestBudget(1000, 300.0, clock=clock, sleep=clock.sleep)
    budget.acquire()
    budget.block(30.0)
    budget.acquire()
    assert 30.0 <= clock.now < 30.1


def test_the_apis_remaining_count_holds_requests_back_until_its_reset() -> None:
    clock = Clock()
    budget = RequestBudget(1200, 300.0, clock=clock, sleep=clock.sleep)
    budget.acquire("user-a")
    budget.observe("user-a", '"default";r=2;t=40', '"default";q=1200;w=300')
    budget.release()
    budget.acquire("user-a")
    budget.release()
    budget.acquire("user-a")
    budget.release()
    assert clock.now == 0.0, "two left: both go at once"
    budget.acquire("user-a")
    assert 40.0 <= clock.now < 40.1, "the third waits for the window the API named"


def test_a_spent_count_of_one_token_holds_back_the_other_tokens_of_the_run() -> None:
    clock = Clock()
    budget = RequestBudget(1200, 300.0, clock=clock, sleep=clock.sleep)
    budget.acquire("token-a")
    budget.observe("token-a", '"default";r=0;t=12', None)
    budget.release()
    budget.acquire("token-b")  # maybe the same user: the API counts per user
    assert 12.0 <= clock.now < 12.1


def test_a_stricter_policy_becomes_the_budget() -> None:
    clock = Clock()
    budget = RequestBudget(1200, 300.0, clock=clock, sleep=clock.sleep)
    budget.acquire()
    budget.observe("", None, '"default";q=3;w=10')
    budget.release()
    for _ in range(3):
        budget.acquire()
        budget.release()
    assert 10.0 <= clock.now < 11.1, "three per ten seconds, as the policy says"


def test_requests_in_flight_are_not_yet_in_the_apis_count() -> None:
    clock = Clock()
    budget = RequestBudget(1200, 300.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        budget.acquire("a")  # three sent, none answered
    budget.observe("a", '"default";r=2;t=30', None)  # the first answer: 2 left, 2 in flight
    budget.acquire("a")
    assert 30.0 <= clock.now < 30.1


def test_unreadable_headers_are_ignored() -> None:
    clock = Clock()
    budget = RequestBudget(5, 10.0, clock=clock, sleep=clock.sleep)
    budget.acquire()
    budget.observe("", "garbage", "q=;w=x, ;;")
    budget.release()
    budget.acquire()
    assert clock.now == 0.0 and budget.limit == 5
