"""The client-side request budget: at most N Cloudflare API requests in any window, shared by
every thread of a run.

Cloudflare allows 1200 requests per 5 minutes per user and then refuses every request (429) for
5 minutes; staying under the limit on our side is far cheaper than meeting it. A 429 that comes
anyway holds every thread back until its Retry-After has passed.

Does not: send requests (cloudflare.api does) or know the SDK.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping

from acmecf.errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 1200
DEFAULT_WINDOW = 300.0
# Requests are stamped when sent, Cloudflare counts them when they arrive: a second of margin
# keeps latency differences from tipping the count over the limit.
WINDOW_MARGIN = 1.0
BUDGET_VARIABLE = "ACMECF_CLOUDFLARE_BUDGET"


class RequestBudget:
    """At most `limit` requests in any `window` seconds; `block(seconds)` holds all back."""

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
        self.waited = 0.0

    def acquire(self) -> None:
        """Return when one more request may be sent, having counted it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if now >= self._blocked_until and len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                wait = max(
                    self._blocked_until - now,
                    (self._sent[0] + self.window - now) if len(self._sent) >= self.limit else 0.0,
                    0.01,
                )
                self.waited += wait
            if wait >= 1:
                log.info("Cloudflare API budget spent: waiting %.0fs", wait)
            self._sleep(wait)

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
