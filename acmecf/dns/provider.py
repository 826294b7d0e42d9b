"""The DNS provider contract, as libdns and certbot have it: two verbs, plus optional
capabilities as separate protocols.

- `present(name, value)` makes the TXT record `name` = `value` exist. It never changes or
  removes another record (other values at the same name included) and is idempotent:
  presenting a record that already exists succeeds and creates no second one.
- `cleanup(name, value)` deletes exactly the TXT record `name` = `value`. A record that is not
  there is no error; no other record is touched.

Both raise an AcmecfError subclass (CloudflareError for Cloudflare) whose message carries the
remedy. `ZoneFinder` is the optional capability to tell, before anything is created, which
zone holds a name (and that one does). Every provider must pass tests/contract/.

Does not: wait for propagation, know ACME, or keep the journal (dns.journaled does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


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
