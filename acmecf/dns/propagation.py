"""Waiting until a zone's authoritative nameservers serve the expected TXT values.

Finds each zone's nameservers through a resolver, then asks every nameserver address directly
(no recursion) until each one serves every expected value; polls fast at first and backs off.
Also follows `_acme-challenge` CNAMEs for delegated validation. Knows nothing of Cloudflare or
ACME.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from acmecf.errors import PropagationError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 180.0
FIRST_INTERVAL = 0.05
BACKOFF = 1.5
# Most zones catch up within seconds: poll a few times a second at first (a handful of UDP
# queries per round), then back off, so the CA is answered within a poll of the last nameserver.
POLL_STEPS = ((30.0, 0.2), (120.0, 1.0), (float("inf"), 3.0))  # (until elapsed, longest pause)
QUERY_TIMEOUT = 2.0
MAX_CNAME_HOPS = 8


@dataclass(frozen=True)
class ExpectedRecord:
    """A TXT value that must be served at `name`, in `zone` when the caller knows the zone."""

    name: str
    value: str
    zone: str | None = None


@dataclass(frozen=True)
class NameserverAddress:
    name: str
    address: str


Query = Callable[[dns.message.Message, str, int, float], dns.message.Message]


def _query_udp_then_tcp(
    message: dns.message.Message, address: str, port: int, timeout: float
) -> dns.message.Message:
    response, _ = dns.query.udp_with_fallback(message, address, timeout=timeout, port=port)
    return response


def _longest_pause(elapsed: float) -> float:
    return next(pause for until, pause in POLL_STEPS if elapsed < until)


class PropagationChecker:
    """Asks DNS whether challenge records are live everywhere that matters.

    `resolvers` (host, port) pairs replace the system resolver for finding zones and
    nameservers; `nameserver_port` is where nameservers are asked directly (53 on the Internet).
    Clock, sleep and the query function are injectable so unit tests neither sleep nor open
    sockets.
    """

    def __init__(
        self,
        *,
        resolvers: Sequence[tuple[str, int]] = (),
        nameserver_port: int = 53,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        query: Query = _query_udp_then_tcp,
    ) -> None:
        self._resolver = dns.resolver.Resolver(configure=not resolvers)
        if resolvers:
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in resolvers
            ]
        self._resolver.lifetime = 10.0
        self._resolver.cache = dns.resolver.LRUCache()
        self._nameserver_port = nameserver_port
        self._clock = clock
        self._sleep = sleep
        self._query = query

    def follow_cname(self, name: str) -> str:
        """The name at the end of `name`'s CNAME chain, or `name` itself when it has none.

        This is where a delegated `_acme-challenge` record must be published.
        """
        current = dns.name.from_text(name)
        for _ in range(MAX_CNAME_HOPS):
            try:
                answer = self._resolver.resolve(current, "CNAME", raise_on_no_answer=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
                break
            except dns.exception.Timeout as err:
                raise PropagationError(
                    f"DNS lookup of {current.to_text(omit_final_dot=True)} timed out: check the "
                    "resolver (--dns-resolver) and the network"
                ) from err
            if answer.rrset is None:
                break
            current = answer.rrset[0].target
        return current.to_text(omit_final_dot=True).lower()

    def find_zone(self, name: str) -> str:
        """The apex of the zone holding `name`: the nearest enclosing name with an SOA record."""
        candidate = dns.name.from_text(name)
        while len(candidate.labels) > 1:
            try:
                answer = self._resolver.resolve(candidate, "SOA", raise_on_no_answer=False)
                if answer.rrset is not None:
                    return candidate.to_text(omit_final_dot=True).lower()
            except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
                pass
            except dns.exception.Timeout as err:
                raise PropagationError(
                    f"DNS lookup of SOA {candidate} timed out: check the resolver "
                    "(--dns-resolver) and the network"
                ) from err
            candidate = candidate.parent()
        raise PropagationError(f"no DNS zone found above {name}: is the domain registered?")

    def nameservers(self, zone: str) -> list[NameserverAddress]:
        """Every address of every nameserver of `zone`: IPv4, or IPv6 for a name without IPv4."""
        try:
            ns_answer = self._resolver.resolve(zone, "NS")
        except dns.exception.DNSException as err:
            raise PropagationError(
                f"cannot find the nameservers of {zone} ({err}): check that the domain is "
                "delegated to Cloudflare at its registrar"
            ) from err
        result: list[NameserverAddress] = []
        for ns_name in sorted(str(r.target).rstrip(".").lower() for r in ns_answer):
            addresses = self._addresses(ns_name, "A") or self._addresses(ns_name, "AAAA")
            if not addresses:
                log.warning("nameserver %s of %s has no address; skipping it", ns_name, zone)
            result.extend(NameserverAddress(ns_name, a) for a in addresses)
        if not result:
            raise PropagationError(f"no nameserver of {zone} has an address")
        return result

    def wait(self, records: Iterable[ExpectedRecord], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Return once every nameserver of each record's zone serves every expected value.

        Raises PropagationError after `timeout` seconds naming a nameserver and the value it
        still lacks.
        """
        wanted = list(records)
        if not wanted:
            return
        start = self._clock()
        # (nameserver address, record name) -> values still missing there
        pending: dict[tuple[NameserverAddress, str], set[str]] = {}
        zones: dict[str, list[NameserverAddress]] = {}
        for record in wanted:
            zone = record.zone or self.find_zone(record.name)
            if zone not in zones:
                zones[zone] = self.nameservers(zone)
                log.debug("nameservers of %s: %s", zone, zones[zone])
            for server in zones[zone]:
                pending.setdefault((server, record.name), set()).add(record.value)
        interval = FIRST_INTERVAL
        errors: dict[tuple[NameserverAddress, str], str] = {}
        while True:
            for key in list(pending):
                server, name = key
                served, error = self._served(server, name)
                if error:
                    errors[key] = error
                pending[key] -= served
                if not pending[key]:
                    del pending[key]
                    errors.pop(key, None)
            elapsed = self._clock() - start
            if not pending:
                log.info("DNS: every nameserver serves the challenge records (%.1fs)", elapsed)
                return
            if elapsed >= timeout:
                (server, name), values = next(iter(pending.items()))
                reason = errors.get((server, name))
                raise PropagationError(
                    f"after {timeout:.0f}s nameserver {server.name} ({server.address}) still "
                    f"lacks TXT {name} = {sorted(values)[0]!r}"
                    + (f" ({reason})" if reason else "")
                    + f" and {len(pending) - 1} more: check the zone's nameservers, or raise "
                    "--propagation-timeout"
                )
            self._sleep(min(interval, max(0.0, timeout - elapsed)))
            interval = min(_longest_pause(elapsed), interval * BACKOFF)

    def served(self, name: str, zone: str | None = None) -> dict[NameserverAddress, set[str]]:
        """The TXT values each nameserver of `name`'s zone serves at `name` now, asked once and
        directly (read-only: for checking records that stay, such as dns-persist-01's). A
        nameserver that does not answer is left out; PropagationError when none does."""
        found = zone or self.find_zone(name)
        result: dict[NameserverAddress, set[str]] = {}
        problems: list[str] = []
        for server in self.nameservers(found):
            values, error = self._served(server, name)
            if error:
                problems.append(f"{server.name} ({server.address}): {error}")
                continue
            result[server] = values
        if not result:
            raise PropagationError(
                f"no nameserver of {found} answered for TXT {name}: {'; '.join(problems)}"
            )
        return result

    def _served(self, server: NameserverAddress, name: str) -> tuple[set[str], str | None]:
        message = dns.message.make_query(name, dns.rdatatype.TXT)
        message.flags &= ~dns.flags.RD  # ask the nameserver itself, never its resolver
        try:
            response = self._query(message, server.address, self._nameserver_port, QUERY_TIMEOUT)
        except (dns.exception.DNSException, OSError) as err:
            return set(), f"no answer: {err.__class__.__name__}"
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return set(), f"answered {dns.rcode.to_text(rcode)}"
        values: set[str] = set()
        qname = dns.name.from_text(name)
        for rrset in response.answer:
            if rrset.name == qname and rrset.rdtype == dns.rdatatype.TXT:
                for rdata in rrset:
                    values.add(b"".join(rdata.strings).decode("utf-8", "replace"))
        return values, None

    def _addresses(self, host: str, rdtype: str) -> list[str]:
        try:
            answer = self._resolver.resolve(host, rdtype)
        except dns.exception.DNSException:
            return []
        return sorted(r.address for r in answer)
