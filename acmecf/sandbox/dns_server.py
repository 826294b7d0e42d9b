"""The DNS side of the Cloudflare emulator: authoritative nameservers and a lagging resolver.

Every emulated nameserver listens on UDP and TCP on its own loopback address, all on one
shared port, and answers authoritatively (AA set) from the view of the zones that a view
provider hands it at the moment of each query. The resolver listens on the same port at
``127.0.53.53`` and answers like a recursive resolver (RA set, AA clear) from the view the
provider gives for it, following CNAME chains through the emulated zones. ``::1`` can be
served too, for a nameserver reachable only over IPv6. A provider that hands no view makes
that address silent: queries are read and never answered. Views build each zone only when
a query reaches it.

Answers follow RFC 1034/1035/2308: NXDOMAIN versus NODATA (an empty non-terminal exists),
the zone's SOA in the authority section of every negative answer, REFUSED for names
outside every zone, the TC bit over UDP when an answer does not fit (512 bytes without
EDNS, the client's advertised size with it) and the full answer over TCP.

Does not: keep any record state, know about the HTTP API, credentials or propagation
delays. The emulator decides what each nameserver sees; this module only serves it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

logger = logging.getLogger(__name__)

RESOLVER_ADDRESS = "127.0.53.53"
"""Loopback address of the emulated recursive resolver (Linux routes all of 127/8 to lo)."""

# Cloudflare's SOA: `<assigned ns> dns.cloudflare.com <serial> 10000 2400 604800 1800`.
SOA_RNAME = "dns.cloudflare.com"
SOA_REFRESH = 10000
SOA_RETRY = 2400
SOA_EXPIRE = 604800
SOA_MINIMUM = 1800
SOA_TTL = 3600
NS_TTL = 86400
NAMESERVER_ADDRESS_TTL = 86400

# The answer size a UDP client gets without EDNS (RFC 1035 section 4.2.1) and the size we
# advertise with EDNS (the DNS flag day 2020 recommendation).
PLAIN_UDP_LIMIT = 512
OUR_EDNS_PAYLOAD = 1232

TCP_IDLE_TIMEOUT = 10.0
MAXIMUM_CNAME_CHAIN = 16
TXT_STRING_LIMIT = 255


@dataclass(frozen=True)
class DnsQuery:
    """One query as a nameserver or the resolver saw it; ``time`` is ``time.monotonic()``.

    ``answers`` holds the answer section in ``dig +short`` form: one presentation-format
    rdata per record, in order (TXT values keep their quotes, names their final dot).
    """

    server: str
    qname: str
    qtype: str
    time: float
    answers: tuple[str, ...]
    rcode: str = "NOERROR"


@dataclass(frozen=True)
class ServedRecord:
    """One record as DNS serves it; ``name`` is absolute, lowercase, without the final dot."""

    name: str
    rdtype: str
    ttl: int
    rdata: dns.rdata.Rdata


@dataclass(frozen=True)
class ZoneView:
    """What one server serves for one zone at one moment (SOA and NS are added here). The
    serial must change whenever the records do: a server builds each version once."""

    name: str
    serial: int
    records: tuple[ServedRecord, ...]


@dataclass(frozen=True)
class DnsView:
    """Everything one server serves at one moment.

    ``zones`` maps each zone name (lowercase, no final dot) to a function that builds its
    ``ZoneView``; a query builds only the zones it touches, so an account of thousands of
    zones costs what one zone costs. ``nameservers`` are ``(host name, address)`` pairs:
    they become the NS set of every zone, the SOA mname (the first one) and the A (or, for
    an IPv6 address, AAAA) records served by every server.
    """

    zones: Mapping[str, Callable[[], ZoneView]]
    nameservers: tuple[tuple[str, str], ...]


ZoneCache = dict[tuple[str, str, int, tuple[tuple[str, str], ...]], "_BuiltZone"]
"""Built zones by (server, zone, SOA serial, nameservers): a zone's serial counts every change
a server has seen, so one serial is one version of the zone for that server."""
ZONE_CACHE_SIZE = 256

ViewProvider = Callable[[str], DnsView | None]
"""Returns the view of the server listening at local address ``address`` (a nameserver's,
the resolver's, or the IPv6 one) right now; None makes that server silent: it reads the
query and never answers, like a server that cannot be reached."""


def txt_strings(content: str) -> tuple[bytes, ...]:
    """Return the character-strings DNS serves for a Cloudflare TXT ``content``.

    Cloudflare asks for TXT content as quoted RFC 1035 character-strings (``"a" "b"``)
    and still accepts bare text, which it serves as one string. Either way a string over
    255 bytes is split into 255-byte pieces, as Cloudflare documents. Content that starts
    with a quote but does not parse as quoted strings is served as bare text.
    https://developers.cloudflare.com/api/resources/dns/subresources/records/models/txt_record/
    """
    quoted = _parse_quoted_strings(content)
    pieces = quoted if quoted is not None else [content.encode()]
    strings: list[bytes] = []
    for piece in pieces:
        if not piece:
            strings.append(b"")
        for start in range(0, len(piece), TXT_STRING_LIMIT):
            strings.append(piece[start : start + TXT_STRING_LIMIT])
    return tuple(strings) or (b"",)


def _parse_quoted_strings(content: str) -> list[bytes] | None:
    """Parse ``"..." "..."`` with RFC 1035 escapes; ``None`` when it is not that shape."""
    text = content.strip()
    if not text.startswith('"'):
        return None
    strings: list[bytes] = []
    data = text.encode()
    position = 0
    while position < len(data):
        if data[position : position + 1] in (b" ", b"\t"):
            position += 1
            continue
        if data[position : position + 1] != b'"':
            return None
        position += 1
        current = bytearray()
        while True:
            if position >= len(data):
                return None
            byte = data[position : position + 1]
            if byte == b'"':
                position += 1
                break
            if byte == b"\\":
                digits = data[position + 1 : position + 4]
                if len(digits) == 3 and digits.isdigit() and int(digits) < 256:
                    current.append(int(digits))
                    position += 4
                    continue
                if position + 1 >= len(data):
                    return None
                current.extend(data[position + 1 : position + 2])
                position += 2
                continue
            current.extend(byte)
            position += 1
        strings.append(bytes(current))
    return strings


def rdata_for(rdtype: str, content: str) -> dns.rdata.Rdata:
    """Build the rdata DNS serves for a record of ``rdtype`` with API ``content``.

    Supports A, AAAA, CNAME (content is a host name, final dot optional) and TXT (see
    ``txt_strings``). Raises ValueError when the content is not valid for the type.
    """
    if rdtype in ("A", "AAAA"):
        text = content
    elif rdtype == "CNAME":
        text = content.rstrip(".") + "."
    elif rdtype == "TXT":
        text = " ".join(_quote(string) for string in txt_strings(content))
    else:
        raise ValueError(f"unsupported record type {rdtype!r}")
    try:
        return _rdata(rdtype, text)
    except (dns.exception.DNSException, ValueError) as error:
        raise ValueError(f"invalid {rdtype} content {content!r}: {error}") from error


@functools.lru_cache(maxsize=4096)
def _rdata(rdtype: str, text: str) -> dns.rdata.Rdata:
    # Cached: the same NS, SOA and address rdata are built for every query.
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


def _quote(string: bytes) -> str:
    """One RFC 1035 character-string in presentation format, escaping what must be."""
    characters = []
    for byte in string:
        if byte in (0x22, 0x5C):
            characters.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            characters.append(chr(byte))
        else:
            characters.append(f"\\{byte:03d}")
    return '"' + "".join(characters) + '"'


@functools.lru_cache(maxsize=4096)
def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)  # names are immutable: one parse per text will do


class _Node:
    """The records at one owner name, by type."""

    def __init__(self) -> None:
        self.rrsets: dict[dns.rdatatype.RdataType, dns.rrset.RRset] = {}

    def add(self, owner: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> None:
        rrset = self.rrsets.get(rdata.rdtype)
        if rrset is None:
            rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, rdata.rdtype)
            self.rrsets[rdata.rdtype] = rrset
        # The lowest TTL wins inside one RRset, as RFC 2181 section 5.2 asks.
        rrset.add(rdata, ttl)


@dataclass(frozen=True)
class _BuiltZone:
    """One zone's owner nodes, and every name that exists in it (owners and the empty
    non-terminals above them, RFC 8020). Read-only once built: queries share it."""

    nodes: dict[dns.name.Name, _Node]
    names: frozenset[dns.name.Name]


class _Index:
    """A view turned into owner names and zones, ready to answer queries.

    Zones are built on first use (``zone_for``), so only the zones a query touches are built.
    With a ``cache``, a zone is built once per server (``scope``) and SOA serial and shared,
    read-only, by the queries that see that version of it; this index keeps its own nodes
    (the nameservers' addresses, zones that overlap) apart and looks there first.
    """

    def __init__(self, view: DnsView, cache: ZoneCache | None = None, scope: str = "") -> None:
        self.own: dict[dns.name.Name, _Node] = {}
        self.zones: dict[dns.name.Name, dns.rrset.RRset] = {}
        self._layers: list[_BuiltZone] = []
        self._view = view
        self._cache = cache
        self._scope = scope
        self._nameserver_names = [_name(host) for host, _ in view.nameservers]
        if cache is not None and not self._nameservers_in_emulated_zones():
            # The nameservers' own names and zones are the same for every query: build once.
            base_key = ("", "", -1, view.nameservers)
            base = cache.get(base_key)
            if base is None:
                self._add_nameservers()
                names = {above for owner in self.own for above in _ancestors(owner)}
                base = cache[base_key] = _BuiltZone(dict(self.own), frozenset(names))
                self.own.clear()
            self._layers.append(base)
            for owner, node in base.nodes.items():
                if dns.rdatatype.SOA in node.rrsets:
                    self.zones[owner] = node.rrsets[dns.rdatatype.SOA]
        else:
            self._add_nameservers()

    def _nameservers_in_emulated_zones(self) -> bool:
        for host, _ in self._view.nameservers:
            labels = host.lower().rstrip(".").split(".")
            if any(".".join(labels[i:]) in self._view.zones for i in range(len(labels))):
                return True
        return False

    def _add_nameservers(self) -> None:
        # Nameserver host names resolve everywhere; their parent becomes a zone of its own
        # when no emulated zone contains them (ada.ns.cloudflare.com lives in ns.cloudflare.com).
        for host, address in self._view.nameservers:
            owner = _name(host)
            if self.zone_for(owner) is None:
                parent = owner.parent() if len(owner) > 2 else owner
                self._add_zone(parent, 1)
            rdtype = "AAAA" if ":" in address else "A"
            self._node(owner).add(owner, NAMESERVER_ADDRESS_TTL, _rdata(rdtype, address))

    def node(self, owner: dns.name.Name) -> _Node | None:
        node = self.own.get(owner)
        if node is not None:
            return node
        for layer in self._layers:
            node = layer.nodes.get(owner)
            if node is not None:
                return node
        return None

    def _node(self, owner: dns.name.Name) -> _Node:
        """The node at `owner` to add to: this index's own (a shared one is copied first)."""
        node = self.own.get(owner)
        if node is None:
            node = self.own[owner] = _Node()
            for layer in self._layers:
                shared = layer.nodes.get(owner)
                if shared is not None:
                    for rrset in shared.rrsets.values():
                        for rdata in rrset:
                            node.add(owner, rrset.ttl, rdata)
            if dns.rdatatype.SOA in node.rrsets:
                self.zones[owner] = node.rrsets[dns.rdatatype.SOA]
        return node

    def _add_zone(self, apex: dns.name.Name, serial: int) -> None:
        nameservers = self._nameserver_names
        mname = nameservers[0] if nameservers else apex
        soa = _rdata(
            "SOA",
            f"{mname} {SOA_RNAME}. {serial} {SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {SOA_MINIMUM}",
        )
        node = self._node(apex)
        node.add(apex, SOA_TTL, soa)
        for nameserver in nameservers:
            node.add(apex, NS_TTL, _rdata("NS", nameserver.to_text()))
        self.zones[apex] = node.rrsets[dns.rdatatype.SOA]

    def _materialize(self, apex: dns.name.Name, zone: ZoneView) -> None:
        key = (self._scope, zone.name, zone.serial, self._view.nameservers)
        built = self._cache.get(key) if self._cache is not None else None
        if built is None:
            built = _build_zone(apex, zone, self._nameserver_names)
            if self._cache is not None:
                if len(self._cache) >= ZONE_CACHE_SIZE:
                    self._cache.clear()
                self._cache[key] = built
        overlaps = any(owner in built.nodes for owner in self.own) or any(
            owner in built.nodes for layer in self._layers for owner in layer.nodes
        )
        if overlaps:  # names another zone (or a nameserver host) also has: merge them
            for owner, node in built.nodes.items():
                mine = self._node(owner)
                for rrset in node.rrsets.values():
                    for rdata in rrset:
                        mine.add(owner, rrset.ttl, rdata)
            self._layers.append(_BuiltZone({}, built.names))
        else:  # the usual case: the built zone is used as it is
            self._layers.append(built)
        found = self.node(apex)
        assert found is not None
        self.zones[apex] = found.rrsets[dns.rdatatype.SOA]

    def zone_for(self, name: dns.name.Name) -> dns.name.Name | None:
        """The closest enclosing zone apex of ``name``, if any (built on first use)."""
        candidate = name
        while True:
            if candidate in self.zones:
                return candidate
            build = self._view.zones.get(candidate.to_text(omit_final_dot=True).lower())
            if build is not None:
                self._materialize(candidate, build())
                return candidate
            if candidate == dns.name.root:
                return None
            candidate = candidate.parent()

    def exists(self, name: dns.name.Name) -> bool:
        """Whether ``name`` owns records or is an empty non-terminal (RFC 8020)."""
        if any(name in layer.names for layer in self._layers):
            return True
        return any(owner.is_subdomain(name) for owner in self.own)

    def rrsets_at(
        self, name: dns.name.Name, zone: dns.name.Name
    ) -> dict[dns.rdatatype.RdataType, dns.rrset.RRset]:
        """The RRsets owned by ``name``, or synthesized from a wildcard (RFC 4592).

        A wildcard ``*.<closest encloser>`` answers only for names that do not exist.
        """
        node = self.node(name)
        if node is not None:
            return node.rrsets
        if self.exists(name):
            return {}
        encloser = name.parent()
        while encloser != zone and not self.exists(encloser):
            encloser = encloser.parent()
        wildcard = self.node(dns.name.Name((b"*", *encloser.labels)))
        if wildcard is None:
            return {}
        synthesized: dict[dns.rdatatype.RdataType, dns.rrset.RRset] = {}
        for rdtype, rrset in wildcard.rrsets.items():
            copy = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
            for rdata in rrset:
                copy.add(rdata, rrset.ttl)
            synthesized[rdtype] = copy
        return synthesized

    def negative_soa(self, zone: dns.name.Name) -> dns.rrset.RRset:
        """The zone's SOA for an authority section, TTL capped by its minimum (RFC 2308)."""
        soa = self.zones[zone]
        rrset = dns.rrset.RRset(zone, dns.rdataclass.IN, dns.rdatatype.SOA)
        for rdata in soa:
            rrset.add(rdata, min(soa.ttl, SOA_MINIMUM))
        return rrset


def _ancestors(name: dns.name.Name) -> list[dns.name.Name]:
    """`name` and every name above it, the root excepted."""
    found = []
    while len(name) > 1:
        found.append(name)
        name = name.parent()
    return found


def _build_zone(
    apex: dns.name.Name, zone: ZoneView, nameservers: Sequence[dns.name.Name]
) -> _BuiltZone:
    """One zone's nodes: its records, and at the apex its SOA and NS; and its names."""
    nodes: dict[dns.name.Name, _Node] = {}
    mname = nameservers[0] if nameservers else apex
    soa = _rdata(
        "SOA",
        f"{mname} {SOA_RNAME}. {zone.serial} {SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {SOA_MINIMUM}",
    )
    top = nodes[apex] = _Node()
    top.add(apex, SOA_TTL, soa)
    for nameserver in nameservers:
        top.add(apex, NS_TTL, _rdata("NS", nameserver.to_text()))
    names: set[dns.name.Name] = {apex}
    for record in zone.records:
        owner = _name(record.name)
        node = nodes.get(owner)
        if node is None:
            node = nodes[owner] = _Node()
            above = owner
            while above not in names and len(above) > len(apex):
                names.add(above)
                above = above.parent()
        node.add(owner, record.ttl, record.rdata)
    return _BuiltZone(nodes, frozenset(names))


def build_response(
    query: dns.message.Message,
    view: DnsView,
    *,
    recursive: bool,
    cache: ZoneCache | None = None,
    scope: str = "",
) -> dns.message.Message:
    """Answer ``query`` from ``view``, as an authoritative server or as the resolver.

    Follows CNAME chains inside the view (both roles), puts the zone SOA into the
    authority section of NXDOMAIN and NODATA answers, answers REFUSED for names outside
    every zone, and adds the nameservers' addresses as additional data for NS answers.
    """
    response = dns.message.make_response(
        query, recursion_available=recursive, our_payload=OUR_EDNS_PAYLOAD
    )
    if not recursive:
        response.flags |= dns.flags.AA
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
        return response
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    if question.rdclass != dns.rdataclass.IN:
        response.set_rcode(dns.rcode.REFUSED)
        return response
    index = _Index(view, cache, scope)
    qtype = question.rdtype
    name = question.name.canonicalize()
    if index.zone_for(name) is None:
        response.flags &= ~dns.flags.AA
        response.set_rcode(dns.rcode.REFUSED)
        return response
    visited: set[dns.name.Name] = set()
    while len(visited) < MAXIMUM_CNAME_CHAIN:
        visited.add(name)
        zone = index.zone_for(name)
        if zone is None:
            # The chain left the emulated zones; a real resolver would go on to the
            # internet, which the sandbox cannot reach, so the chain is the answer.
            break
        rrsets = index.rrsets_at(name, zone)
        if qtype == dns.rdatatype.ANY and rrsets:
            response.answer.extend(rrsets.values())
            break
        if qtype in rrsets:
            response.answer.append(rrsets[qtype])
            if qtype == dns.rdatatype.NS:
                _add_nameserver_addresses(response, index, rrsets[qtype])
            break
        cname = rrsets.get(dns.rdatatype.CNAME)
        if cname is not None:
            response.answer.append(cname)
            target = next(iter(cname)).target
            assert isinstance(target, dns.name.Name)
            name = target.canonicalize()
            if name in visited:
                break
            continue
        if not rrsets and not index.exists(name):
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(index.negative_soa(zone))
        break
    return response


def _add_nameserver_addresses(
    response: dns.message.Message, index: _Index, rrset: dns.rrset.RRset
) -> None:
    for rdata in rrset:
        target = rdata.target
        node = index.node(target)
        if node is None:
            continue
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            if rdtype in node.rrsets:
                response.additional.append(node.rrsets[rdtype])


def _answers_text(response: dns.message.Message) -> tuple[str, ...]:
    return tuple(rdata.to_text() for rrset in response.answer for rdata in rrset)


def _formerr(wire: bytes) -> bytes | None:
    """A bare FORMERR reply for a query too broken to parse, if it has an id at all."""
    if len(wire) < 2:
        return None
    flags = dns.flags.QR | dns.rcode.FORMERR
    return wire[:2] + flags.to_bytes(2, "big") + bytes(8)


IPV6_LOOPBACK = "::1"


@functools.cache
def ipv6_loopback_available() -> bool:
    """Whether this machine can listen on ``::1`` (some containers have no IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind((IPV6_LOOPBACK, 0))
    except OSError:
        return False
    return True


SILENCE = b""
"""What ``_reply`` returns for a silent server: nothing is sent back."""


class DnsServer:
    """UDP and TCP listeners for every nameserver address and the resolver, on one port.

    ``start`` binds port 0 on the first address and reuses that port for every other
    address; when a later bind fails it closes everything and tries a fresh port. With
    ``ipv6_address`` it also listens there, on the same port, when this machine allows it
    (``ipv6_available`` says whether it did). ``stop`` closes every socket and ends the
    serving threads. Not restartable: make a new instance.
    """

    def __init__(
        self,
        *,
        nameserver_addresses: Sequence[str],
        resolver_address: str,
        view: ViewProvider,
        on_query: Callable[[DnsQuery], None],
        ipv6_address: str | None = None,
        bind_attempts: int = 20,
    ) -> None:
        self._ipv6_address = ipv6_address
        self._ipv6_bound = False
        self._nameserver_addresses = tuple(nameserver_addresses)
        self._resolver_address = resolver_address
        self._view = view
        self._on_query = on_query
        self._bind_attempts = bind_attempts
        self._port = 0
        self._udp: list[socket.socket] = []
        self._tcp: list[socket.socket] = []
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._wakeup_reader, self._wakeup_writer = socket.socketpair()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._zone_cache: ZoneCache = {}

    @property
    def port(self) -> int:
        """The port every address listens on; 0 before ``start``."""
        return self._port

    @property
    def ipv6_available(self) -> bool:
        """Whether ``start`` could listen on ``ipv6_address`` too."""
        return self._ipv6_bound

    def start(self) -> int:
        """Bind every socket, start serving in a daemon thread and return the port.

        Raises OSError when no common free port was found after ``bind_attempts`` tries.
        """
        addresses = [*self._nameserver_addresses, self._resolver_address]
        last_error: OSError | None = None
        for _ in range(self._bind_attempts):
            try:
                self._bind_all(addresses)
                break
            except OSError as error:
                last_error = error
                self._close_listeners()
        else:
            raise OSError(f"no free port shared by {addresses}: {last_error}")
        if self._ipv6_address is not None:
            self._bind_ipv6(self._ipv6_address)
        for sock in self._udp:
            self._selector.register(sock, selectors.EVENT_READ, self._serve_udp)
        for sock in self._tcp:
            self._selector.register(sock, selectors.EVENT_READ, self._accept_tcp)
        self._selector.register(self._wakeup_reader, selectors.EVENT_READ, None)
        self._thread = threading.Thread(
            target=self._serve, name=f"dns-emulator-{self._port}", daemon=True
        )
        self._thread.start()
        return self._port

    def _bind_all(self, addresses: Sequence[str]) -> None:
        port = 0
        for address in addresses:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.append(udp)
            udp.bind((address, port))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._tcp.append(tcp)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((address, port))
            tcp.listen(socket.SOMAXCONN)
        for sock in [*self._udp, *self._tcp]:
            sock.setblocking(False)
        self._port = port

    def _bind_ipv6(self, address: str) -> None:
        """Listen on ``address`` at the shared port if the machine lets us; never raise."""
        udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            udp.bind((address, self._port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((address, self._port))
            tcp.listen(socket.SOMAXCONN)
        except OSError as error:
            logger.debug("no IPv6 listener at [%s]:%d: %s", address, self._port, error)
            udp.close()
            tcp.close()
            return
        for sock in (udp, tcp):
            sock.setblocking(False)
        self._udp.append(udp)
        self._tcp.append(tcp)
        self._ipv6_bound = True

    def _close_listeners(self) -> None:
        for sock in [*self._udp, *self._tcp]:
            sock.close()
        self._udp.clear()
        self._tcp.clear()
        self._port = 0

    def stop(self) -> None:
        """Stop serving and close every socket; safe to call more than once."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wakeup_writer.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self._close_listeners()
        self._selector.close()
        self._wakeup_reader.close()
        self._wakeup_writer.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=1.0):
                callback = key.data
                if callback is None:
                    return
                try:
                    callback(key.fileobj)
                except OSError:
                    if self._stopping.is_set():
                        return
                    logger.debug("DNS socket error", exc_info=True)

    def _serve_udp(self, sock: socket.socket) -> None:
        try:
            wire, client = sock.recvfrom(65535)
        except BlockingIOError:
            return
        local = sock.getsockname()[0]
        reply = self._reply(wire, local, transport="udp")
        if reply is not None and reply != SILENCE:
            sock.sendto(reply, client)

    def _accept_tcp(self, sock: socket.socket) -> None:
        """Accept every connection waiting (Pebble opens one per lookup, many at once)."""
        while True:
            try:
                connection, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            connection.setblocking(True)
            connection.settimeout(TCP_IDLE_TIMEOUT)
            with self._connections_lock:
                self._connections.add(connection)
            threading.Thread(
                target=self._serve_tcp,
                args=(connection, sock.getsockname()[0]),
                name="dns-emulator-tcp",
                daemon=True,
            ).start()

    def _serve_tcp(self, connection: socket.socket, local: str) -> None:
        try:
            while not self._stopping.is_set():
                header = _receive_exactly(connection, 2)
                if header is None:
                    return
                wire = _receive_exactly(connection, int.from_bytes(header, "big"))
                if wire is None:
                    return
                reply = self._reply(wire, local, transport="tcp")
                if reply is None:
                    return
                if reply == SILENCE:
                    continue  # a dead server reads and never answers
                connection.sendall(len(reply).to_bytes(2, "big") + reply)
        except OSError:
            return
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            connection.close()

    def _reply(self, wire: bytes, local: str, *, transport: str) -> bytes | None:
        """The reply's wire form, None to hang up, or ``SILENCE`` to answer nothing."""
        received = time.monotonic()
        view = self._view(local)
        if view is None:
            return SILENCE
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _formerr(wire)
        recursive = local == self._resolver_address
        response = build_response(
            query, view, recursive=recursive, cache=self._zone_cache, scope=local
        )
        if transport == "udp":
            limit = max(PLAIN_UDP_LIMIT, query.payload) if query.edns >= 0 else PLAIN_UDP_LIMIT
            reply = response.to_wire(max_size=limit, prefer_truncation=True)
        else:
            reply = response.to_wire(max_size=65535)
        if query.question:
            question = query.question[0]
            self._on_query(
                DnsQuery(
                    server=local,
                    qname=question.name.to_text(omit_final_dot=True),
                    qtype=dns.rdatatype.to_text(question.rdtype),
                    time=received,
                    answers=_answers_text(response),
                    rcode=dns.rcode.to_text(response.rcode()),
                )
            )
        return reply


def _receive_exactly(connection: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data.extend(chunk)
    return bytes(data)
