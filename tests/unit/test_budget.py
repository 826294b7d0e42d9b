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
