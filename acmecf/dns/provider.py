"""The DNS provider contract, as libdns and certbot have it: two verbs, plus optional
capabilities as separate protocols.

- `present(name, value)` makes the TXT record `name` = `value` exist. It never changes or
  removes another record (other values at the same name included) and is idempotent:
  presenting a record that already exists succeeds and creates no second one.
- `cleanup(name, value)` deletes exactly the TXT record `name` = `value`. A record that is not
  there is no error; no other record is touched.

Both raise an AcmecfError subclass (CloudflareError for Cloudflare) whose message carries the
remedy. `ZoneFinder` is the optional capability to tell, before anything is created, which
zone holds a name (and that one does). `BatchProvider` is the optional capability to make many
changes of one zone in few calls (dns.batching gathers them); `ManyRecords` takes several
records of one caller at once, so they can share a call. Every provider must pass
tests/contract/.

Does not: wait for propagation, know ACME, or keep the journal (dns.journaled does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from acmecf.errors import AcmecfError


@dataclass(frozen=True)
class Zone:
    """A DNS zone at the provider; `name` is None when only its id is known (a token that may
    edit records but not read zones)."""

    id: str
    name: str | None


@runtime_checkable
class DnsProvider(Protocol):
    def present(self, name: str, value: str) -> None: ...

    def cleanup(self, name: str, value: str) -> None: ...


@runtime_checkable
class ZoneFinder(Protocol):
    def zone_for(self, name: str) -> Zone:
        """The zone that holds `name`; ZoneNotFoundError when the provider has none."""
        ...


@runtime_checkable
class ManyRecords(Protocol):
    """Several records at once: `present_many` and `cleanup_many` do what `present` and
    `cleanup` do to each (same contract), and return each record's outcome in order: None, or
    the AcmecfError it met. Every record is tried whatever the others' outcomes; neither
    raises for a refusal."""

    def present_many(self, records: Sequence[tuple[str, str]]) -> list[AcmecfError | None]: ...

    def cleanup_many(self, records: Sequence[tuple[str, str]]) -> list[AcmecfError | None]: ...


@dataclass(frozen=True)
class Change:
    """One record change of a batch: `present` or `cleanup` the TXT record `name` = `value`."""

    action: Literal["present", "cleanup"]
    name: str
    value: str


@runtime_checkable
class BatchProvider(ZoneFinder, Protocol):
    """Many changes of one zone in few calls, for a provider that is also a ZoneFinder.

    `apply` makes each change as `present` or `cleanup` would (same contract: exact records,
    idempotent; removals may run before creations) and returns, in order, each change's
    outcome: None, or the AcmecfError that change met. A change the provider refuses never
    fails the others (a provider whose batches are all-or-nothing retries the rest in smaller
    batches), and it sends as few calls as its per-call limit allows. `apply` raises only for a
    bug, never for a refusal. The caller never puts a present and a cleanup of the same
    record in one `apply`.
    """

    def apply(self, zone: Zone, changes: Sequence[Change]) -> list[AcmecfError | None]: ...
