"""The API's global rate limit: requests per window per identity, then a block.

"The global rate limit for the Cloudflare API is 1,200 requests per five minute period per
user, and applies cumulatively regardless of whether the request is made via the dashboard,
API key, or API token. If you exceed this limit, all API calls for the next five minutes
will be blocked, receiving a HTTP 429 response."
https://developers.cloudflare.com/fundamentals/api/reference/limits/

``RateLimiter.admit`` counts one request (a batch is one request like any other) and
raises the 429 971 error with ``Retry-After`` once the identity is over its budget;
``headers`` gives the ``Ratelimit`` / ``Ratelimit-Policy`` pair the API sends with every
answer. The clock is injected, so unit tests never sleep.

Does not: know what an identity is (the server passes the user), or answer anything but
the 429 itself.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from acmecf.sandbox.emulator.envelope import ApiError

DEFAULT_LIMIT = 1200
DEFAULT_WINDOW = 300.0
# The policy name live responses carry: `ratelimit-policy: "default";q=1200;w=300`,
# `ratelimit: "default";r=1199;t=1` (measured and quoted in public project notes; the
# header format is documented at the limits page above).
POLICY_NAME = "default"


def rate_limited(retry_after: int) -> ApiError:
    """429 971 with ``Retry-After``: the seconds, rounded up, until capacity returns."""
    # 429 {"code":971,"message":"Please wait and consider throttling your request speed"}
    # quoted in https://github.com/cloudflare/terraform-provider-cloudflare/issues/5505
    # notes; retry-after "the number of seconds, rounded up, until more capacity is
    # available": https://developers.cloudflare.com/fundamentals/api/reference/limits/
    error = ApiError.single(429, 971, "Please wait and consider throttling your request speed")
    error.headers["Retry-After"] = str(max(0, retry_after))
    return error


@dataclass(frozen=True)
class Usage:
    """An identity's standing: requests left in the window and seconds until one frees."""

    remaining: int
    reset: int


class RateLimiter:
    """Sliding-window counter per identity; thread-safe."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._usage: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    @property
    def limit(self) -> tuple[int, float]:
        """(requests, window seconds)."""
        return self._limit, self._window

    def configure(self, limit: int, window: float) -> None:
        """Change the limit and forget every count and block so far."""
        with self._lock:
            self._limit, self._window = limit, window
            self._usage.clear()
            self._blocked_until.clear()

    def admit(self, identity: str) -> Usage:
        """Count one request of ``identity``; raise 429 971 when it is over its budget.

        Over ``limit`` requests within ``window`` seconds blocks every call of the
        identity for the next ``window`` seconds, refused calls not counted.
        """
        now = self._clock()
        with self._lock:
            blocked_until = self._blocked_until.get(identity, 0.0)
            if now < blocked_until:
                raise rate_limited(math.ceil(blocked_until - now))
            usage = self._usage.setdefault(identity, deque())
            self._expire(usage, now)
            if len(usage) >= self._limit:
                self._blocked_until[identity] = now + self._window
                usage.clear()
                raise rate_limited(math.ceil(self._window))
            usage.append(now)
            return self._standing(usage, now)

    def usage(self, identity: str) -> Usage:
        """The identity's standing now, without counting a request."""
        now = self._clock()
        with self._lock:
            blocked_until = self._blocked_until.get(identity, 0.0)
            if now < blocked_until:
                return Usage(remaining=0, reset=math.ceil(blocked_until - now))
            usage = self._usage.setdefault(identity, deque())
            self._expire(usage, now)
            return self._standing(usage, now)

    def headers(self, identity: str) -> dict[str, str]:
        """``Ratelimit`` and ``Ratelimit-Policy`` for an answer to ``identity``."""
        standing = self.usage(identity)
        return {
            "Ratelimit": f'"{POLICY_NAME}";r={standing.remaining};t={standing.reset}',
            "Ratelimit-Policy": f'"{POLICY_NAME}";q={self._limit};w={math.ceil(self._window)}',
        }

    def _expire(self, usage: deque[float], now: float) -> None:
        while usage and usage[0] <= now - self._window:
            usage.popleft()

    def _standing(self, usage: deque[float], now: float) -> Usage:
        remaining = max(0, self._limit - len(usage))
        reset = math.ceil(usage[0] + self._window - now) if usage else 0
        return Usage(remaining=remaining, reset=max(0, reset))
