"""Faults for fault tests: API answers that Cloudflare sends when things go wrong.

Today: ``inject_rate_limit`` makes the next N requests fail with 429 971.

Does not: touch state; the server asks it, per request, whether to fail.
"""

from __future__ import annotations

import threading

from acmecf.sandbox.emulator.envelope import ApiError
from acmecf.sandbox.emulator.ratelimit import rate_limited


class FaultPlan:
    """The faults currently switched on; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._injected_limits = 0
        self._injected_retry_after = 1

    def inject_rate_limit(self, count: int, *, retry_after: int = 1) -> None:
        """Make the next ``count`` requests fail with 429 971 and ``Retry-After``."""
        with self._lock:
            self._injected_limits = count
            self._injected_retry_after = retry_after

    def before_routing(self) -> ApiError | None:
        """The error to answer this request with before it is routed, if any."""
        with self._lock:
            if self._injected_limits > 0:
                self._injected_limits -= 1
                return rate_limited(self._injected_retry_after)
        return None
