"""The client-side request budget: at most N Cloudflare API requests in any window, shared by
every thread and every set of credentials of a run.

Cloudflare allows 1200 requests per 5 minutes per user, across all of that user's tokens and
keys, and then refuses every request (429) for 5 minutes; staying under the limit on our side
is far cheaper than meeting it. A token does not say whose it is (finding out costs a request
and a permission a DNS token does not have), so one budget serves the whole run: tokens of
one user then never add up past the limit, and tokens of different users are merely held to
one user's pace, which a run of certificates (a few requests each) never feels.

The API's own count is followed when it sends one: `Ratelimit: "default";r=R;t=T` (R requests
left, the window resets in T s) and `Ratelimit-Policy: "default";q=Q;w=W` (Q per W s), as
https://developers.cloudflare.com/fundamentals/api/reference/limits/ documents them. A policy
stricter than the budget becomes the budget; once any credentials' R is spent, every request
waits for its reset. A 429 that comes anyway holds every thread back until its Retry-After has
passed.

Does not: send requests (cloudflare.api does) or know the SDK.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from acmecf.errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 1200
DEFAULT_WINDOW = 300.0
# Requests are stamped when sent, Cloudflare counts them when they arrive: a second of margin
# keeps latency differences from tipping the count over the limit.
WINDOW_MARGIN = 1.0
BUDGET_VARIABLE = "ACMECF_CLOUDFLARE_BUDGET"


@dataclass
class _Standing:
    """What the API last said of one set of credentials: requests left until `until`."""

    remaining: int
    until: float


class RequestBudget:
    """At most `limit` requests in any `window` seconds; `block(seconds)` holds all back;
    `observe` follows the API's Ratelimit headers. Thread-safe."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window + WINDOW_MARGIN
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: collections.deque[float] = collections.deque()
        self._blocked_until = 0.0
        self._standings: dict[str, _Standing] = {}
        self._in_flight = 0
        self.waited = 0.0

    def acquire(self, key: str = "") -> None:
        """Return when one more request of the credentials `key` may be sent, having counted
        it; `release` must follow once its answer is in."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                for name in [n for n, s in self._standings.items() if s.until <= now]:
                    del self._standings[name]
                spent = [s.until for s in self._standings.values() if s.remaining <= 0]
                if now >= self._blocked_until and len(self._sent) < self.limit and not spent:
                    self._sent.append(now)
                    self._in_flight += 1
                    if key in self._standings:
                        self._standings[key].remaining -= 1
                    return
                wait = max(
                    self._blocked_until - now,
                    (self._sent[0] + self.window - now) if len(self._sent) >= self.limit else 0.0,
                    (min(spent) - now) if spent else 0.0,
                    0.01,
                )
                self.waited += wait
            if wait >= 1:
                log.info("Cloudflare API budget spent: waiting %.0fs", wait)
            self._sleep(wait)

    def release(self) -> None:
        """One request acquired earlier has its answer (or failed)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def block(self, seconds: float) -> None:
        """Hold every request back for `seconds` (after a 429)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def wait_unblocked(self) -> None:
        """Return once no 429 holds requests back (called right before each request goes on
        the wire, so one counted before a 429 arrived still waits out its Retry-After)."""
        while True:
            with self._lock:
                wait = self._blocked_until - self._clock()
            if wait <= 0:
                return
            self._sleep(wait)

    def observe(self, key: str, ratelimit: str | None, policy: str | None) -> None:
        """Follow the `Ratelimit` and `Ratelimit-Policy` headers of an answer to the
        credentials `key` (called before `release` of its request). Unreadable headers are
        ignored."""
        limits = [item for item in parse_rate_items(ratelimit) if "r" in item and "t" in item]
        policies = [item for item in parse_rate_items(policy) if "q" in item and "w" in item]
        with self._lock:
            now = self._clock()
            for item in policies:
                if 0 < item["q"] < self.limit:
                    log.info(
                        "Cloudflare allows these credentials %d requests per %ds: keeping to it",
                        item["q"],
                        item["w"],
                    )
                    self.limit = item["q"]
                    self.window = max(float(item["w"]), 1.0) + WINDOW_MARGIN
            if limits:
                # Requests sent but not answered yet are not in the API's count.
                others = max(0, self._in_flight - 1)
                tightest = min(limits, key=lambda item: item["r"])
                self._standings[key] = _Standing(
                    remaining=tightest["r"] - others,
                    until=now + max(float(tightest["t"]), 1.0),
                )


def parse_rate_items(header: str | None) -> list[dict[str, int]]:
    """The items of a Ratelimit or Ratelimit-Policy header (a structured-field list such as
    `"default";r=50;t=30, "burst";q=100;w=60`) as their integer parameters."""
    items: list[dict[str, int]] = []
    for text in (header or "").split(","):
        parameters: dict[str, int] = {}
        for part in text.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            try:
                parameters[name.strip().lower()] = int(value.strip())
            except ValueError:
                continue
        if parameters:
            items.append(parameters)
    return items


def budget_from_environment(env: Mapping[str, str]) -> tuple[int, float]:
    """Requests allowed per window: Cloudflare's 1200 per 300 s, unless
    ACMECF_CLOUDFLARE_BUDGET ("N/SECONDS") says otherwise (accounts with other limits)."""
    text = env.get(BUDGET_VARIABLE, "").strip()
    if not text:
        return DEFAULT_LIMIT, DEFAULT_WINDOW
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)", text)
    if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
        raise UsageError(
            f"invalid {BUDGET_VARIABLE} {text!r}: expected REQUESTS/SECONDS, e.g. 1200/300"
        )
    return int(match.group(1)), float(match.group(2))
