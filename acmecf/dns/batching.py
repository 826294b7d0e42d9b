"""Gathering the record changes of many certificates into few provider calls.

`BatchingProvider` follows the provider contract (`present`, `cleanup`, `zone_for`) over a
BatchProvider, and sends the changes that certificates of one zone ask for at about the same
time in one call. It is group commit, as databases do it, without a background thread:

- A change goes out at once, in the caller's thread, when no other certificate is at work in
  its zone: one certificate issued alone costs what it costs without batching, and waits no
  longer.
- While a zone's call is in flight, changes for it queue up; when the call returns, one of the
  waiting callers sends everything queued as the next call, and hands each caller its outcome.
- In a large run (`run_size()` above 100 certificates: more changes than a DNS API's budget
  absorbs one per call; Cloudflare's is 1,200 requests per 5 minutes), a queued change also
  waits for company while other certificates are at work in its zone (they presented records
  they have not cleaned up yet, so they will ask again soon): 0.1 s for each of them, at most
  8 s. A thousand certificates then share a call every few seconds per zone instead of
  making four calls each. A smaller run does not wait: its changes go as soon as the zone's
  call in flight returns, unless a `linger` is given (ACMECF_DNS_BATCH_WAIT), which then
  bounds the wait in every run. `hurry()` (the run was cancelled) ends every wait.

Each caller gets its own outcome: a change the provider refuses fails only its caller. The
journal is untouched: entries are written by dns.journaled before `present` is called.

Does not: know Cloudflare, retry (the provider does), or wait for propagation.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from acmecf.dns.provider import BatchProvider, Change, Zone
from acmecf.errors import AcmecfError, UsageError

log = logging.getLogger(__name__)

# How long a change of a large run waits for company: this much for each other certificate
# at work in its zone, at most the linger.
WAIT_PER_CERTIFICATE = 0.1
DEFAULT_LINGER = 8.0
LARGE_RUN = 100
MAX_LINGER = 60.0
BATCH_VARIABLE = "ACMECF_DNS_BATCH"
LINGER_VARIABLE = "ACMECF_DNS_BATCH_WAIT"


@dataclass(frozen=True)
class BatchOptions:
    """Whether DNS changes are gathered, at most how many go in one call (None: as many as
    the provider allows), and how long a change may wait for company."""

    enabled: bool = True
    limit: int | None = None
    linger: float | None = None  # None: DEFAULT_LINGER, in large runs only


def batch_options_from_environment(env: Mapping[str, str]) -> BatchOptions:
    """ACMECF_DNS_BATCH: `on` (the default), `off`, or N (at most N changes per call);
    ACMECF_DNS_BATCH_WAIT: the most seconds a change may wait for company, in any run (by
    default 8, in runs of more than 100 certificates). UsageError with the remedy for
    anything else."""
    text = env.get(BATCH_VARIABLE, "").strip().lower()
    enabled, limit = True, None
    if text in ("off", "0", "false", "no"):
        enabled = False
    elif text.isdigit():
        limit = int(text)
    elif text not in ("", "on", "true", "yes"):
        raise UsageError(
            f"invalid {BATCH_VARIABLE} {text!r}: expected on, off, or the most changes per "
            "call (e.g. 200)"
        )
    linger_text = env.get(LINGER_VARIABLE, "").strip()
    if not linger_text:
        return BatchOptions(enabled=enabled, limit=limit)
    try:
        linger = float(linger_text)
    except ValueError:
        linger = -1.0
    if not 0 <= linger <= MAX_LINGER:
        raise UsageError(
            f"invalid {LINGER_VARIABLE} {linger_text!r}: expected seconds from 0 to "
            f"{MAX_LINGER:g}, e.g. 8"
        )
    return BatchOptions(enabled=enabled, limit=limit, linger=linger)


@dataclass
class _Ticket:
    change: Change
    since: float
    done: bool = False
    outcome: Exception | None = None


@dataclass
class _ZoneQueue:
    zone: Zone
    pending: list[_Ticket] = field(default_factory=list)
    sending: bool = False
    # Threads with records presented here and not cleaned up yet: certificates at work.
    holders: dict[int, int] = field(default_factory=dict)


class BatchingProvider:
    """`provider`'s changes, gathered per zone (module doc). Safe to share between threads."""

    def __init__(
        self,
        provider: BatchProvider,
        *,
        linger: float | None = None,
        wait_per_certificate: float = WAIT_PER_CERTIFICATE,
        run_size: Callable[[], int] = lambda: 0,
        hurry: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self._linger = DEFAULT_LINGER if linger is None else max(0.0, linger)
        self._large_runs_only = linger is None
        self._wait_per_certificate = wait_per_certificate
        self._run_size = run_size
        self._hurry = hurry
        self._clock = clock
        self._condition = threading.Condition(threading.Lock())
        self._queues: dict[str, _ZoneQueue] = {}
        self.calls = 0  # provider calls made, for tests and benchmarks

    def zone_for(self, name: str) -> Zone:
        return self.provider.zone_for(name)

    def present(self, name: str, value: str) -> None:
        self._raise(self._submit([Change("present", name, value)])[0])

    def cleanup(self, name: str, value: str) -> None:
        self._raise(self._submit([Change("cleanup", name, value)])[0])

    def present_many(self, records: Sequence[tuple[str, str]]) -> list[AcmecfError | None]:
        """Every record at once (dns.provider.ManyRecords): they may go in one call."""
        return self._submit([Change("present", name, value) for name, value in records])

    def cleanup_many(self, records: Sequence[tuple[str, str]]) -> list[AcmecfError | None]:
        return self._submit([Change("cleanup", name, value) for name, value in records])

    def wake(self) -> None:
        """Make every caller waiting for company look again at once (the run was cancelled:
        `hurry()` now says so). Never blocks, so a signal handler may call it: a thread of its
        own takes the lock, which the handler's thread may hold."""
        threading.Thread(target=self._notify, name="acmecf-batch-wake", daemon=True).start()

    def _notify(self) -> None:
        with self._condition:
            self._condition.notify_all()

    @staticmethod
    def _raise(outcome: AcmecfError | None) -> None:
        if outcome is not None:
            raise outcome

    def _submit(self, changes: list[Change]) -> list[AcmecfError | None]:
        """Queue `changes` with their zones' others and return once all were applied: what
        the provider said about each, a copy for this caller (one exception object raised in
        several threads would share, and garble, one traceback)."""
        caller = threading.get_ident()
        outcomes: list[AcmecfError | None] = [None] * len(changes)
        mine: list[tuple[int, _ZoneQueue, _Ticket]] = []
        zones: dict[int, Zone] = {}
        for index, change in enumerate(changes):
            try:
                zones[index] = self.provider.zone_for(change.name)
            except AcmecfError as err:
                outcomes[index] = err
        with self._condition:
            for index, zone in zones.items():
                change = changes[index]
                queue = self._queues.setdefault(zone.id, _ZoneQueue(zone))
                if change.action == "present":
                    queue.holders[caller] = queue.holders.get(caller, 0) + 1
                ticket = _Ticket(change, self._clock())
                queue.pending.append(ticket)
                mine.append((index, queue, ticket))
            try:
                self._wait_for(mine, caller)
            finally:
                for _, queue, ticket in mine:
                    if any(other is ticket for other in queue.pending):
                        # Leaving early (its own call raised): a change its caller gave up on
                        # must never go out later (after, or with, that caller's cleanup).
                        queue.pending = [other for other in queue.pending if other is not ticket]
                        ticket.outcome = AcmecfError("not sent: another change failed first")
                        ticket.done = True
                    if ticket.change.action == "cleanup" or ticket.outcome is not None:
                        self._release(queue, caller)
        for index, _, ticket in mine:
            if ticket.outcome is not None:
                problem = copy.copy(ticket.outcome)
                if not isinstance(problem, AcmecfError):  # a provider's bug, not a refusal
                    problem = AcmecfError(f"unexpected error from the DNS provider: {problem!r}")
                outcomes[index] = problem
        return outcomes

    def _wait_for(self, mine: list[tuple[int, _ZoneQueue, _Ticket]], caller: int) -> None:
        """Until every ticket is done: send a queue that is ready, else wait for the first to
        be. Called with the lock held."""
        while True:
            waiting = {id(queue): queue for _, queue, ticket in mine if not ticket.done}
            if not waiting:
                return
            waits = [self._wait_before_sending(queue, caller) for queue in waiting.values()]
            ready = [
                queue for queue, wait in zip(waiting.values(), waits, strict=True) if wait == 0
            ]
            if ready:
                self._send(ready[0])
                continue
            timed = [wait for wait in waits if wait is not None]
            self._condition.wait(min(timed) if timed else None)

    @staticmethod
    def _release(queue: _ZoneQueue, caller: int) -> None:
        """One record fewer that `caller` will clean up (it did, or it was never created)."""
        left = queue.holders.get(caller, 0) - 1
        if left > 0:
            queue.holders[caller] = left
        else:
            queue.holders.pop(caller, None)

    def _wait_before_sending(self, queue: _ZoneQueue, caller: int) -> float | None:
        """0 to send the queue now; else how long to wait (None: until the call in flight
        returns). Called with the lock held."""
        if queue.sending or not queue.pending:
            return None
        others = len(queue.holders) - (caller in queue.holders)
        small = self._large_runs_only and self._run_size() <= LARGE_RUN
        if others <= 0 or small or self._hurry():
            return 0.0  # no one to wait for, or no need to
        linger = min(self._linger, self._wait_per_certificate * others)
        waited = self._clock() - queue.pending[0].since
        return 0.0 if waited >= linger else linger - waited

    def _send(self, queue: _ZoneQueue) -> None:
        """Send everything queued for the zone as one provider call, the lock released while
        it is in flight; record each ticket's outcome and wake the waiters."""
        batch, queue.pending = queue.pending, []
        queue.sending = True
        self.calls += 1
        outcomes: list[Exception | None] = [None] * len(batch)
        self._condition.release()
        try:
            returned: list[Exception | None] = list(
                self.provider.apply(queue.zone, [ticket.change for ticket in batch])
            )
            if len(returned) != len(batch):  # a provider's bug: fail every change, hang none
                raise AcmecfError(f"{len(returned)} outcomes for {len(batch)} DNS changes")
            outcomes = returned
        except BaseException as err:
            problem = err if isinstance(err, Exception) else AcmecfError(f"interrupted ({err!r})")
            outcomes = [problem] * len(batch)
            raise
        finally:
            self._condition.acquire()
            for ticket, outcome in zip(batch, outcomes, strict=False):
                ticket.outcome = outcome
                ticket.done = True
            queue.sending = False
            self._condition.notify_all()
        if len(batch) > 1:
            log.debug(
                "%d DNS changes in %s in one call", len(batch), queue.zone.name or queue.zone.id
            )
