"""API faults for fault tests: what Cloudflare answers when things go wrong, on demand.

``FaultPlan`` decides, per request, whether to fail it and how, from a seeded random
generator (the same seed and the same requests give the same faults):

- ``throttle``: a fraction answered 429 971 with ``Retry-After``, not applied;
- ``errors``: a fraction answered 5xx before anything is done;
- ``applied_errors``: a fraction of writes (POST, PUT, PATCH, DELETE) that are applied and
  then answered 5xx, the case a client must recover from by reading back;
- ``silent``: every request is accepted and never answered;
- ``inject_rate_limit(n)``: exactly the next n requests answered 429 971;
- ``latency``: every answer is sent that many seconds after the request was handled, as the
  real API takes a few hundred milliseconds (a write is applied before the wait).

The 5xx answers have the shapes Cloudflare's edge sends: 502, 503 and 504 come as the
edge's HTML error page (``server: cloudflare``, no JSON envelope), a 500 from the API
itself as a JSON error envelope (its code is not verified).

Does not: touch state, sleep, or decide anything about DNS (``set_nameserver_reachable``
is the DNS fault).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from acmecf.sandbox.emulator.envelope import ApiError, Reply
from acmecf.sandbox.emulator.ratelimit import rate_limited

SERVER_ERRORS = (500, 502, 503, 504)

# What the edge serves for an origin it cannot reach or that timed out; the title line and
# the "cloudflare" signature are the edge's (as widely quoted in client bug reports).
_EDGE_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def server_error(status: int) -> Reply:
    """The answer Cloudflare sends with HTTP ``status`` (500, 502, 503 or 504)."""
    if status in _EDGE_TITLES:
        title = _EDGE_TITLES[status]
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return Reply(status, None, raw=page.encode(), content_type="text/html")
    return ApiError.single(status, 10001, "Internal Server Error").reply()  # not verified


@dataclass(frozen=True)
class Fault:
    """A decision for one request: ``kind`` is "throttle", "error", "applied_error" or
    "silent"; ``status`` the HTTP status to answer (0 for silent)."""

    kind: str
    status: int


class FaultPlan:
    """The faults currently switched on; thread-safe. Nothing is on at first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(0)
        self._throttle = 0.0
        self._errors = 0.0
        self._applied_errors = 0.0
        self._statuses: tuple[int, ...] = SERVER_ERRORS
        self._retry_after = 1
        self._injected_limits = 0
        self._injected_retry_after = 1
        self._audible = threading.Event()
        self._audible.set()
        self.latency = 0.0

    def configure(
        self,
        *,
        throttle: float = 0.0,
        errors: float = 0.0,
        applied_errors: float = 0.0,
        statuses: Sequence[int] = SERVER_ERRORS,
        retry_after: int = 1,
        seed: int = 0,
    ) -> None:
        """Switch the random faults to these fractions (0 to 1), reseeding the generator.

        ``throttle`` + ``errors`` must not exceed 1; ``statuses`` are the 5xx statuses to
        choose from. Raises ValueError for values out of range.
        """
        for name, fraction in (
            ("throttle", throttle),
            ("errors", errors),
            ("applied_errors", applied_errors),
        ):
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {fraction}")
        if throttle + errors > 1.0:
            raise ValueError("throttle + errors must not exceed 1")
        if not statuses or any(status not in SERVER_ERRORS for status in statuses):
            raise ValueError(f"statuses must be among {SERVER_ERRORS}")
        with self._lock:
            self._random = random.Random(seed)
            self._throttle, self._errors, self._applied_errors = throttle, errors, applied_errors
            self._statuses = tuple(statuses)
            self._retry_after = retry_after

    def inject_rate_limit(self, count: int, *, retry_after: int = 1) -> None:
        """Make the next ``count`` requests fail with 429 971 and ``Retry-After``."""
        with self._lock:
            self._injected_limits = count
            self._injected_retry_after = retry_after

    def set_silent(self, silent: bool) -> None:
        """Accept requests and never answer them (True), or answer again (False)."""
        if silent:
            self._audible.clear()
        else:
            self._audible.set()

    @property
    def silent(self) -> bool:
        return not self._audible.is_set()

    def wait_until_audible(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds while silent; True once answering again."""
        return self._audible.wait(timeout)

    def before_routing(self) -> tuple[Fault, ApiError | Reply] | None:
        """The fault that answers this request before anything is done, if any."""
        with self._lock:
            if not self._audible.is_set():
                return Fault("silent", 0), Reply(0, None)
            if self._injected_limits > 0:
                self._injected_limits -= 1
                return Fault("throttle", 429), rate_limited(self._injected_retry_after)
            draw = self._random.random()
            if draw < self._throttle:
                return Fault("throttle", 429), rate_limited(self._retry_after)
            if draw < self._throttle + self._errors:
                status = self._random.choice(self._statuses)
                return Fault("error", status), server_error(status)
        return None

    def after_write(self) -> tuple[Fault, Reply] | None:
        """The 5xx that replaces the answer to an applied write, if any."""
        with self._lock:
            if self._applied_errors and self._random.random() < self._applied_errors:
                status = self._random.choice(self._statuses)
                return Fault("applied_error", status), server_error(status)
        return None
