"""The CA's Retry-After holds back every worker of a run: sessions share one Pacer per CA.

Each Network is one worker's session; their HTTP is faked (no sockets) and the pacer's clock
and sleep are injected (no sleeping).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from acme import messages
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWKEC

from acmecf.acme.network import Network, Pacer

DIRECTORY = "https://ca.test/directory"


class FakeTime:
    """A clock and a sleep; `meanwhile` runs once, inside the first sleep, as another worker
    would while this one waits."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.meanwhile: Any = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        until = self.now + seconds
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        self.now = max(self.now, until)


def reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers.update(headers or {})
    response.headers.setdefault(
        "Content-Type", "application/problem+json" if status >= 400 else "application/json"
    )
    response.url = DIRECTORY
    return response


def rate_limited(seconds: int) -> Any:
    return reply(
        429,
        {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many new orders"},
        {"Retry-After": str(seconds)},
    )


class Worker:
    """One worker's session: its Network, and what the CA answered it, in turn."""

    def __init__(self, pacer: Pacer, time: FakeTime, answers: list[Any]) -> None:
        key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        self.network = Network(key, pacer=pacer)
        self.answers = answers
        self.sent_at: list[float] = []

        def send(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            self.sent_at.append(time.now)
            return self.answers.pop(0)

        self.network._send_request = send  # type: ignore[method-assign]


def test_a_retry_after_from_the_ca_holds_back_every_worker_of_the_run() -> None:
    time = FakeTime()
    pacer = Pacer(clock=time.clock, sleep=time.sleep)
    first = Worker(pacer, time, [rate_limited(3), reply(200, {})])
    second = Worker(pacer, time, [reply(200, {})])

    def second_worker_asks_a_second_later() -> None:
        time.now += 1
        second.network.get(DIRECTORY)

    time.meanwhile = second_worker_asks_a_second_later
    first.network.get(DIRECTORY)  # rate limited at 100 with Retry-After: 3

    assert second.sent_at == [103.0], "the other worker waited out the same pause"
    assert first.sent_at == [100.0, 103.0]


def test_a_worker_asks_again_once_the_pause_is_over() -> None:
    time = FakeTime()
    pacer = Pacer(clock=time.clock, sleep=time.sleep)
    first = Worker(pacer, time, [rate_limited(2), reply(200, {})])
    second = Worker(pacer, time, [reply(200, {})])
    first.network.get(DIRECTORY)
    time.now += 10  # long after
    second.network.get(DIRECTORY)
    assert second.sent_at == [112.0]
    assert time.slept == [2.0], "no second wait: the pause had passed"


def test_a_long_retry_after_is_not_waited_out() -> None:
    time = FakeTime()
    pacer = Pacer(clock=time.clock, sleep=time.sleep)
    worker = Worker(pacer, time, [rate_limited(3600)])
    with pytest.raises(messages.Error) as raised:
        worker.network.get(DIRECTORY)
    assert raised.value.code == "rateLimited"
    assert time.slept == []
