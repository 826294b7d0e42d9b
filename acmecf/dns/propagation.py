"""Waiting until DNS serves the expected TXT values, as the CA will look for them.

Three ways (`check`):

- `authoritative` (the default): find each zone's nameservers through a resolver, then ask
  every nameserver directly (no recursion) until each one serves every expected value. A
  nameserver is asked over IPv4, or over IPv6 when it has no IPv4 address or its IPv4
  addresses do not answer (and the reverse); the queries of one round go out together.
- `resolver`: ask the resolvers (`--dns-resolver`, else the system's) with recursion, for
  hosts that may not send DNS queries anywhere else.
- `none`: wait a fixed delay and check nothing.

After every server serves every value, a short settle time lets the rest of the world catch
up: the CA validates from several places at once, and an anycast nameserver seen from here is
only the nearest site. When no server answers at all in the first round, the wait fails at
once, naming what it tried (port 53 may be blocked) and the option that helps. Progress is
logged every ~10 s: which server still lacks which value. Also follows `_acme-challenge`
CNAMEs for delegated validation. Knows nothing of Cloudflare or ACME.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

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

CHECK_AUTHORITATIVE = "authoritative"
CHECK_RESOLVER = "resolver"
CHECK_NONE = "none"
CHECKS = (CHECK_AUTHORITATIVE, CHECK_RESOLVER, CHECK_NONE)

DEFAULT_TIMEOUT = 180.0
FIRST_INTERVAL = 0.05
BACKOFF = 1.5
# Most zones catch up within seconds: poll a few times a second at first (a handful of UDP
# queries per round), then back off, so the CA is answered within a poll of the last nameserver.
POLL_STEPS = ((30.0, 0.2), (120.0, 1.0), (float("inf"), 3.0))  # (until elapsed, longest pause)
QUERY_TIMEOUT = 2.0
MAX_CNAME_HOPS = 8
PROGRESS_EVERY = 10.0  # seconds between progress lines during a wait
PARALLEL_QUERIES = 16  # queries of one round in flight at once (per checker)
SHOWN_IN_PROGRESS = 3  # servers named in one progress line


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


def _family(address: str) -> str:
    return "IPv6" if ":" in address else "IPv4"


@dataclass
class _Server:
    """One server asked during a wait: a nameserver (by name, with its addresses by family,
    the family in use first) or a resolver (recursive)."""

    name: str
    families: list[list[str]]
    recursive: bool = False
    active: int = 0
    switches: int = 0

    @property
    def addresses(self) -> list[str]:
        return self.families[self.active]

    def label(self) -> str:
        shown = ", ".join(self.addresses)
        return self.name if self.recursive else f"{self.name} ({shown})"

    def switch_family(self) -> bool:
        """Use the other address family (IPv4 <-> IPv6); False when it has only one."""
        if len(self.families) < 2:
            return False
        self.active = (self.active + 1) % len(self.families)
        self.switches += 1
        return True


@dataclass
class _Answer:
    values: set[str] = field(default_factory=set)
    error: str | None = None
    answered: bool = False  # a DNS reply came (even REFUSED): the path is open


class PropagationChecker:
    """Asks DNS whether challenge records are live everywhere that matters.

    `resolvers` (host, port) pairs replace the system resolver for finding zones and
    nameservers (and are what `check="resolver"` polls); `nameserver_port` is where
    nameservers are asked directly (53 on the Internet). `settle` is the pause after every
    server serves every value, `fixed_delay` the whole wait with `check="none"`. Clock, sleep
    and the query function are injectable so unit tests neither sleep nor open sockets.
    """

    def __init__(
        self,
        *,
        resolvers: Sequence[tuple[str, int]] = (),
        nameserver_port: int = 53,
        check: str = CHECK_AUTHORITATIVE,
        settle: float = 0.0,
        fixed_delay: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        query: Query = _query_udp_then_tcp,
    ) -> None:
        if check not in CHECKS:
            raise ValueError(f"unknown DNS check {check!r}")
        self._resolver = dns.resolver.Resolver(configure=not resolvers)
        if resolvers:
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in resolvers
            ]
        self._resolver.lifetime = 10.0
        self._resolver.cache = dns.resolver.LRUCache()
        self._resolver_addresses = list(resolvers)
        self._nameserver_port = nameserver_port
        self.check = check
        self.settle = settle
        self.fixed_delay = fixed_delay
        self._clock = clock
        self._sleep = sleep
        self._query = query
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

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
        """Every address of every nameserver of `zone`, IPv4 and IPv6."""
        try:
            ns_answer = self._resolver.resolve(zone, "NS")
        except dns.exception.DNSException as err:
            raise PropagationError(
                f"cannot find the nameservers of {zone} ({err}): check that the domain is "
                "delegated to Cloudflare at its registrar"
            ) from err
        result: list[NameserverAddress] = []
        for ns_name in sorted(str(r.target).rstrip(".").lower() for r in ns_answer):
            addresses = self._addresses(ns_name, "A") + self._addresses(ns_name, "AAAA")
            if not addresses:
                log.warning("nameserver %s of %s has no address; skipping it", ns_name, zone)
            result.extend(NameserverAddress(ns_name, a) for a in addresses)
        if not result:
            raise PropagationError(f"no nameserver of {zone} has an address")
        return result

    def wait(
        self,
        records: Iterable[ExpectedRecord],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        settle: float | None = None,
    ) -> None:
        """Return once every server (as `check` says) serves every expected value and the
        settle time (`settle`, else the checker's) has passed; with `check="none"`, after the
        fixed delay (plus `settle` when given).

        Raises PropagationError after `timeout` seconds naming a server and the value it
        still lacks, or after the first round when no server answered at all.
        """
        wanted = list(records)
        if not wanted:
            return
        if self.check == CHECK_NONE:
            # The fixed delay is the whole guess; only a retry's longer settle adds to it.
            self._wait_fixed(self.fixed_delay + (settle or 0.0))
            return
        pause = self.settle if settle is None else settle
        servers = self._servers(wanted)
        self._poll(wanted, servers, timeout)
        if pause > 0:
            log.info(
                "DNS: waiting %.0fs more so that the CA's resolvers see it too "
                "(--propagation-settle)",
                pause,
            )
            self._sleep(pause)

    # --- the ways of waiting -----------------------------------------------------------------

    def _wait_fixed(self, seconds: float) -> None:
        log.info("DNS: waiting a fixed %.0fs (--dns-check none, --propagation-delay)", seconds)
        left = seconds
        while left > 0:
            step = min(left, PROGRESS_EVERY)
            self._sleep(step)
            left -= step
            if left > 0:
                log.info("DNS: %.0fs of the fixed delay left", left)

    def _servers(self, wanted: list[ExpectedRecord]) -> dict[str, list[_Server]]:
        """The servers to ask, by record name."""
        if self.check == CHECK_RESOLVER:
            resolvers = [
                _Server(f"resolver {host}:{port}", [[host]], recursive=True)
                for host, port in self._resolver_targets()
            ]
            return {record.name: resolvers for record in wanted}
        by_zone: dict[str, list[_Server]] = {}
        result: dict[str, list[_Server]] = {}
        for record in wanted:
            zone = record.zone or self.find_zone(record.name)
            if zone not in by_zone:
                by_zone[zone] = _group(self.nameservers(zone))
                log.debug("nameservers of %s: %s", zone, [s.label() for s in by_zone[zone]])
            result[record.name] = by_zone[zone]
        return result

    def _resolver_targets(self) -> list[tuple[str, int]]:
        if self._resolver_addresses:
            return self._resolver_addresses
        return [(str(address), 53) for address in self._resolver.nameservers]

    def _poll(
        self, wanted: list[ExpectedRecord], servers: dict[str, list[_Server]], timeout: float
    ) -> None:
        start = self._clock()
        # (server, record name) -> values still missing there
        pending: dict[tuple[int, str], set[str]] = {}
        by_id: dict[int, _Server] = {}
        for record in wanted:
            for server in servers[record.name]:
                by_id[id(server)] = server
                pending.setdefault((id(server), record.name), set()).add(record.value)
        errors: dict[tuple[int, str], str] = {}
        interval = FIRST_INTERVAL
        next_progress = start + PROGRESS_EVERY
        first_round = True
        while True:
            answers = self._round(by_id, list(pending))
            if first_round and not any(a.answered for a in answers.values()):
                raise self._unreachable(list(by_id.values()))
            first_round = False
            for key, answer in answers.items():
                if answer.error:
                    errors[key] = answer.error
                pending[key] -= answer.values
                if not pending[key]:
                    del pending[key]
                    errors.pop(key, None)
            now = self._clock()
            elapsed = now - start
            if not pending:
                what = "resolver" if self.check == CHECK_RESOLVER else "nameserver"
                log.info("DNS: every %s serves the challenge records (%.1fs)", what, elapsed)
                return
            if elapsed >= timeout:
                (server_id, name), values = next(iter(pending.items()))
                reason = errors.get((server_id, name))
                raise PropagationError(
                    f"after {timeout:.0f}s {by_id[server_id].label()} still "
                    f"lacks TXT {name} = {sorted(values)[0]!r}"
                    + (f" ({reason})" if reason else "")
                    + f" and {len(pending) - 1} more: {self._timeout_remedy()}"
                )
            if now >= next_progress:
                log.info("DNS: %s", _progress(elapsed, pending, errors, by_id))
                next_progress = now + PROGRESS_EVERY
            self._sleep(min(interval, max(0.0, timeout - elapsed)))
            interval = min(_longest_pause(elapsed), interval * BACKOFF)

    def served(self, name: str, zone: str | None = None) -> dict[NameserverAddress, set[str]]:
        """The TXT values each server (as `check` says: the zone's nameservers, or the
        resolvers) serves at `name` now, each asked once (read-only: for checking records
        that stay, such as dns-persist-01's). A server that does not answer is left out;
        PropagationError when none does."""
        servers = self._servers([ExpectedRecord(name, "", zone)])[name]
        by_id = {id(server): server for server in servers}
        answers = self._round(by_id, [(id(server), name) for server in servers])
        result: dict[NameserverAddress, set[str]] = {}
        for server in servers:
            answer = answers[(id(server), name)]
            if answer.answered and answer.error is None:
                result[NameserverAddress(server.name, ", ".join(server.addresses))] = answer.values
        if not result:
            raise self._unreachable(servers)
        return result

    def _round(
        self, by_id: dict[int, _Server], keys: list[tuple[int, str]]
    ) -> dict[tuple[int, str], _Answer]:
        """Ask every address of each pending (server, name) once, all at once. A nameserver
        none of whose addresses of one family answer is asked over the other family at once
        (and from then on)."""
        answers = self._ask(by_id, keys)
        fallback: list[tuple[int, str]] = []
        for server_id in {server_id for server_id, _ in keys}:
            server = by_id[server_id]
            mine = [key for key in keys if key[0] == server_id]
            if any(answers[key].answered for key in mine):
                continue
            tried = _family(server.addresses[0])
            if server.switch_family():
                log.log(
                    logging.INFO if server.switches == 1 else logging.DEBUG,
                    "DNS: %s does not answer over %s; asking it over %s",
                    server.name,
                    tried,
                    _family(server.addresses[0]),
                )
                fallback.extend(mine)
        if fallback:
            answers.update(self._ask(by_id, fallback))
        return answers

    def _ask(
        self, by_id: dict[int, _Server], keys: list[tuple[int, str]]
    ) -> dict[tuple[int, str], _Answer]:
        jobs = [
            (key, address, by_id[key[0]].recursive)
            for key in keys
            for address in by_id[key[0]].addresses
        ]
        port = {id_: self._port_of(server) for id_, server in by_id.items()}
        if len(jobs) == 1:
            results = [self._served(jobs[0][1], port[jobs[0][0][0]], jobs[0][0][1], jobs[0][2])]
        else:
            pool = self._executor()
            futures = [
                pool.submit(self._served, address, port[key[0]], key[1], recursive)
                for key, address, recursive in jobs
            ]
            results = [future.result() for future in futures]
        merged: dict[tuple[int, str], _Answer] = {}
        for (key, _, _), result in zip(jobs, results, strict=True):
            if key not in merged:
                merged[key] = _Answer(set(result.values), result.error, result.answered)
                continue
            # Every address of a nameserver must serve a value before it counts as served.
            current = merged[key]
            current.values &= result.values
            current.error = current.error or result.error
            current.answered = current.answered or result.answered
        return merged

    def _port_of(self, server: _Server) -> int:
        if not server.recursive:
            return self._nameserver_port
        host = server.addresses[0]
        return next((p for h, p in self._resolver_targets() if h == host), 53)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(PARALLEL_QUERIES, thread_name_prefix="dns-query")
            return self._pool

    def _served(self, address: str, port: int, name: str, recursive: bool) -> _Answer:
        message = dns.message.make_query(name, dns.rdatatype.TXT)
        if not recursive:
            message.flags &= ~dns.flags.RD  # ask the nameserver itself, never its resolver
        try:
            response = self._query(message, address, port, QUERY_TIMEOUT)
        except (dns.exception.DNSException, OSError) as err:
            return _Answer(error=f"no answer: {err.__class__.__name__}")
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return _Answer(error=f"answered {dns.rcode.to_text(rcode)}", answered=True)
        values: set[str] = set()
        qname = dns.name.from_text(name)
        for rrset in response.answer:
            if rrset.name == qname and rrset.rdtype == dns.rdatatype.TXT:
                for rdata in rrset:
                    values.add(b"".join(rdata.strings).decode("utf-8", "replace"))
        return _Answer(values, answered=True)

    def _unreachable(self, servers: list[_Server]) -> PropagationError:
        tried = "; ".join(
            f"{s.name} at {', '.join(a for family in s.families for a in family)}"
            for s in servers[:4]
        ) + (f" and {len(servers) - 4} more" if len(servers) > 4 else "")
        if self.check == CHECK_RESOLVER:
            return PropagationError(
                f"no resolver answered a DNS query ({tried}): check --dns-resolver and the "
                "network, or use --dns-check none with --propagation-delay"
            )
        return PropagationError(
            f"no nameserver answered a DNS query (asked {tried}, port "
            f"{self._nameserver_port}, over UDP): outbound DNS (port 53) may be blocked on this "
            "host; use --dns-check resolver (asks the system's resolver, or --dns-resolver "
            "HOST), or --dns-check none with --propagation-delay"
        )

    def _timeout_remedy(self) -> str:
        if self.check == CHECK_RESOLVER:
            return "the resolver may cache an old answer; raise --propagation-timeout"
        return "check the zone's nameservers, or raise --propagation-timeout"

    def _addresses(self, host: str, rdtype: str) -> list[str]:
        try:
            answer = self._resolver.resolve(host, rdtype)
        except dns.exception.DNSException:
            return []
        return sorted(r.address for r in answer)


def _group(addresses: list[NameserverAddress]) -> list[_Server]:
    """Nameservers by name, IPv4 addresses first (IPv6 when a name has no IPv4)."""
    names: dict[str, list[str]] = {}
    for entry in addresses:
        names.setdefault(entry.name, []).append(entry.address)
    servers = []
    for name, found in names.items():
        families = [
            family
            for family in (
                [a for a in found if ":" not in a],
                [a for a in found if ":" in a],
            )
            if family
        ]
        servers.append(_Server(name, families))
    return servers


def _progress(
    elapsed: float,
    pending: dict[tuple[int, str], set[str]],
    errors: dict[tuple[int, str], str],
    by_id: dict[int, _Server],
) -> str:
    """One line: how long, and which server lacks which value (the first few)."""
    servers = sorted({server_id for server_id, _ in pending}, key=lambda i: by_id[i].name)
    parts = []
    for server_id in servers[:SHOWN_IN_PROGRESS]:
        name, values = next((k[1], v) for k, v in pending.items() if k[0] == server_id)
        reason = errors.get((server_id, name))
        parts.append(
            f"{by_id[server_id].label()} lacks TXT {name} = {sorted(values)[0]!r}"
            + (f" ({reason})" if reason else "")
        )
    more = len(servers) - SHOWN_IN_PROGRESS
    return (
        f"still waiting after {elapsed:.0f}s: "
        + "; ".join(parts)
        + (f"; and {more} more server(s)" if more > 0 else "")
    )
