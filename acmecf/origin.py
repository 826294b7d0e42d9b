"""Checking an origin server the way Cloudflare's edge will meet it: one TLS handshake.

`check_origin` connects straight to the origin (not through Cloudflare) with SNI set to the host
name, looks at what it sends and reports one finding per question: the chain (and its
intermediates), whether it validates without help against the system trust store or a given
bundle, the host name, days to expiry, whether it is the certificate acmecf holds for the name
(a renewal that was never reloaded shows up here), the TLS version, and whether the origin
demands a client certificate (and, with origin pulls on, the right one). Each problem carries
its fix. `evaluate` is the pure half (no sockets), `handshake` the I/O half.

Does not: talk to the Cloudflare API (callers find the origin's address), change anything on
the origin, or print.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import select
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acmecf.certificate import certificate_names
from acmecf.errors import AcmecfError, UsageError

if TYPE_CHECKING:
    from acmecf.cloudflare import CloudflareZones
    from acmecf.store import Store

log = logging.getLogger(__name__)

UTC = datetime.UTC
T = TypeVar("T")

DEFAULT_PORT = 443
EXPIRY_WARNING_DAYS = 7
GOOD_TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
# The issuers of Cloudflare Origin CA certificates: only Cloudflare's edge trusts them.
ORIGIN_CA_UNITS = (
    "CloudFlare Origin SSL Certificate Authority",
    "CloudFlare Origin SSL ECC Certificate Authority",
)
CLOUDFLARE_PULL_CA_NAME = "origin-pull.cloudflare.net"

# OpenSSL's X509_V_ERR_* codes we explain (X509_verify_cert_error_string wording).
VERIFY_ERRORS = {
    2: "unable to get issuer certificate",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    24: "invalid CA certificate",
    26: "unsupported certificate purpose",
}
_ISSUER_MISSING = {2, 20, 21}


class OriginError(AcmecfError):
    """The origin cannot be reached, or does not pass the check; the message says why."""


# --- the I/O half ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Handshake:
    """What one TLS handshake with the origin showed.

    `chain` is what the server sent, in order. `verify_errors` are OpenSSL's complaints,
    (depth, code), when it validated that chain against the trust store; empty means valid.
    `client_ca_names` are the CAs named in the server's certificate request (empty when it asked
    for none or named none). `client_auth` is "required", "optional" or "not requested";
    `http_status` the status of a GET / sent afterwards (None when refused or none came).
    """

    chain: tuple[x509.Certificate, ...]
    tls_version: str
    verify_errors: tuple[tuple[int, int], ...]
    client_ca_names: tuple[str, ...]
    client_auth: str
    http_status: int | None


def parse_origin(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """HOST, HOST:PORT, IPv6, or [IPv6]:PORT as (host, port). Raises UsageError."""
    value = text.strip()
    host, port_text = value, ""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        port = -1
    if not host or not 0 < port < 65536:
        raise UsageError(f"invalid --origin {text!r}: expected HOST, HOST:PORT or [IPv6]:PORT")
    return host, port


def handshake(
    host: str,
    port: int,
    server_name: str,
    *,
    ca_bundle: Path | None = None,
    client_certificate: tuple[Path, Path] | None = None,
    timeout: float = 10.0,
) -> Handshake:
    """Connect to `host`:`port` with SNI `server_name`, complete the handshake, send GET /.

    Validates the chain with OpenSSL against `ca_bundle` or the system trust store (no AIA
    fetching: "without help"), but never aborts on a bad chain: the chain is the finding.
    Presents `client_certificate` (certificate, key) when given. Raises OriginError when the
    origin cannot be reached or refuses the handshake.
    """
    from OpenSSL import SSL

    errors: list[tuple[int, int]] = []

    def record(_c: Any, _cert: Any, code: int, depth: int, ok: int) -> bool:
        if not ok:
            errors.append((depth, code))
        return True  # go on: we report, the server is not refused

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_min_proto_version(SSL.TLS1_VERSION)
    context.set_verify(SSL.VERIFY_PEER, record)
    if ca_bundle is not None:
        context.load_verify_locations(str(ca_bundle))
    else:
        context.set_default_verify_paths()
    if client_certificate is not None:
        context.use_certificate_file(str(client_certificate[0]))
        context.use_privatekey_file(str(client_certificate[1]))
    where = f"{_bracketed(host)}:{port}"
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as err:
        raise OriginError(
            f"cannot connect to the origin {where} ({err.strerror or err}): is the web server "
            "running and listening there, and does the firewall let you in?"
        ) from err
    connection = SSL.Connection(context, sock)
    connection.set_tlsext_host_name(server_name.encode("idna"))
    connection.set_connect_state()
    try:
        try:
            _until_done(connection.do_handshake, sock, deadline)
        except (SSL.Error, OSError) as err:
            raise OriginError(
                f"the origin {where} refused the TLS handshake for {server_name} "
                f"({_ssl_reason(err)}): it has no certificate for this name (an unknown name "
                "hits the default server), or demands a client certificate"
            ) from err
        # The pyOpenSSL objects, converted: the as_cryptography variants are too recent.
        chain = tuple(c.to_cryptography() for c in connection.get_peer_cert_chain() or ())
        version = connection.get_protocol_version_name()
        ca_names = tuple(_name_text(n.get_components()) for n in connection.get_client_ca_list())
        status, refused = _head(connection, sock, server_name, deadline)
    finally:
        sock.close()
    requested = bool(ca_names) or refused
    if requested and (refused or status == 400):
        client_auth = "required"
    elif requested:
        client_auth = "optional"
    else:
        client_auth = "not requested"
    return Handshake(
        chain=chain,
        tls_version=version,
        verify_errors=tuple(errors),
        client_ca_names=ca_names,
        client_auth=client_auth,
        http_status=status,
    )


def _head(
    connection: Any, sock: socket.socket, server_name: str, deadline: float
) -> tuple[int | None, bool]:
    """Send GET / and read the status line: (status, refused). Refused: an alert or a close."""
    from OpenSSL import SSL

    request = (
        f"GET / HTTP/1.1\r\nHost: {server_name}\r\nUser-Agent: acmecf-origin-check\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        _until_done(lambda: connection.sendall(request), sock, deadline)
        data = b""
        while b"\r\n" not in data and len(data) < 4096:
            chunk = _until_done(lambda: connection.recv(4096), sock, deadline)
            if not chunk:
                break
            data += chunk
    except SSL.ZeroReturnError:
        return None, True
    except OriginError:
        return None, False  # no answer in time: nothing learned
    except (SSL.Error, OSError) as err:
        log.debug("GET / failed: %s", _ssl_reason(err))
        return None, True
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return int(parts[1]), False
    return None, not data


def _until_done(operation: Callable[[], T], sock: socket.socket, deadline: float) -> T:
    """Run a pyOpenSSL operation on a socket with a timeout, waiting while it wants I/O."""
    from OpenSSL import SSL

    while True:
        try:
            return operation()
        except SSL.WantReadError:
            readable, writable = [sock], []
        except SSL.WantWriteError:
            readable, writable = [], [sock]
        left = deadline - time.monotonic()
        if left <= 0:
            raise OriginError("the origin did not answer in time: is something else listening?")
        select.select(readable, writable, [], left)


def _name_text(components: list[tuple[bytes, bytes]]) -> str:
    """An X.509 name as RFC 4514 writes it (most specific first): CN=...,O=..."""
    return ",".join(
        f"{key.decode(errors='replace')}={value.decode(errors='replace')}"
        for key, value in reversed(components)
    )


def _ssl_reason(err: BaseException) -> str:
    args = getattr(err, "args", ())
    if args and isinstance(args[0], list) and args[0]:
        last = args[0][-1]
        if isinstance(last, tuple) and len(last) >= 3:
            return str(last[2])
    return str(err) or type(err).__name__


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- the pure half ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One line of the report. `ok` is True (fine), False (a problem) or None (for your
    information). `fix` says what to do when it is a problem."""

    check: str
    ok: bool | None
    message: str
    fix: str | None = None

    def line(self) -> str:
        label = {True: "ok", False: "FAIL", None: "info"}[self.ok]
        text = f"{self.check}: {self.message}"
        if self.fix:
            text += f": {self.fix}"
        return f"{label:<5} {text}"


@dataclass(frozen=True)
class HeldCertificate:
    """The certificate acmecf holds (live) for a name."""

    cert_name: str
    leaf: x509.Certificate
    fullchain: Path


@dataclass(frozen=True)
class ClientAuthExpectation:
    """What origin pulls, as acmecf set them up, expect of the origin for a name.

    `mode` is "shared", "own-ca" or None (origin pulls off); `ca_file` is the CA the web server
    must trust; `accepted` is whether the origin let acmecf's own client certificate through
    (None when not tried).
    """

    mode: str | None
    zone_name: str
    ca_file: Path | None = None
    accepted: bool | None = None


@dataclass(frozen=True)
class OriginReport:
    name: str
    origin: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok is not False for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
        }


def evaluate(
    name: str,
    result: Handshake,
    *,
    now: datetime.datetime,
    trust: str,
    held: HeldCertificate | None,
    expectation: ClientAuthExpectation | None,
) -> list[Finding]:
    """The findings for what `result` showed when asked for `name`. `trust` names the trust
    store in messages ("the system trust store" or the bundle's path)."""
    if not result.chain:
        return [Finding("chain", False, "the server sent no certificate")]
    leaf = result.chain[0]
    return [
        _chain_finding(result),
        _trust_finding(result, trust),
        _name_finding(name, leaf),
        _expiry_finding(leaf, now),
        _held_finding(name, leaf, held),
        _tls_finding(result.tls_version),
        _client_auth_finding(result, expectation),
    ]


def _subject(certificate: x509.Certificate) -> str:
    for attribute in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        return str(attribute.value)
    return certificate.subject.rfc4514_string() or "(empty subject)"


def _is_self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _is_origin_ca(certificate: x509.Certificate) -> bool:
    units = certificate.issuer.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    return any(str(unit.value) in ORIGIN_CA_UNITS for unit in units)


def _chain_finding(result: Handshake) -> Finding:
    chain = result.chain
    intermediates = [c for c in chain[1:] if not _is_self_signed(c)]
    sent_root = any(_is_self_signed(c) for c in chain[1:])
    subjects = " <- ".join(_subject(c) for c in chain)
    count = f"{len(intermediates)} intermediate{'s' * (len(intermediates) != 1)}"
    message = f"{subjects} ({count}{', and the root' if sent_root else ''})"
    for child, issuer in itertools.pairwise(chain):
        if child.issuer != issuer.subject:
            return Finding(
                "chain",
                False,
                f"{message}; {_subject(issuer)} did not issue {_subject(child)}",
                "the certificates are out of order or from different chains: serve "
                "fullchain.pem exactly as acmecf writes it",
            )
    missing_issuer = any(code in _ISSUER_MISSING for _, code in result.verify_errors)
    if not intermediates and not _is_self_signed(chain[0]) and missing_issuer:
        if _is_origin_ca(chain[0]):
            return Finding("chain", True, f"{message}; Origin CA certificates need none")
        return Finding(
            "chain",
            False,
            f"{message}; the server sends no intermediates",
            "point ssl_certificate at fullchain.pem, not cert.pem (Apache: SSLCertificateFile)",
        )
    return Finding("chain", True, message)


def _trust_finding(result: Handshake, trust: str) -> Finding:
    if not result.verify_errors:
        return Finding("trust", True, f"validates against {trust} without help")
    depth, code = result.verify_errors[0]
    reason = VERIFY_ERRORS.get(code, f"OpenSSL verify error {code}")
    leaf = result.chain[0]
    if code in _ISSUER_MISSING and _is_origin_ca(leaf):
        return Finding(
            "trust",
            None,
            f"signed by Cloudflare's Origin CA ({reason} in {trust}): only Cloudflare trusts "
            "it, fine behind its proxy in Full (strict), refused by anyone reaching the origin "
            "directly (pass --ca-bundle with the Origin CA root to check it fully)",
        )
    if code in (18, 19):
        fix = (
            "Cloudflare's Full (strict) mode refuses a self-signed certificate (error 526): "
            "issue one with `acmecf issue`"
        )
    elif code in _ISSUER_MISSING and len(result.chain) == 1:
        fix = "serve fullchain.pem; until then Full (strict) fails with error 526"
    elif code in _ISSUER_MISSING:
        fix = (
            f"the chain does not lead to a root in {trust}: serve fullchain.pem, or pass "
            "--ca-bundle if a private or test CA issued it"
        )
    elif code == 10:
        fix = "renew it (acmecf renew) and reload the web server"
    else:
        fix = "serve fullchain.pem as acmecf writes it"
    return Finding(
        "trust", False, f"does not validate against {trust}: {reason} at depth {depth}", fix
    )


def name_matches(name: str, patterns: list[str]) -> bool:
    """Whether `name` is covered by a certificate for `patterns` (RFC 6125: a wildcard
    stands for exactly one leftmost label)."""
    name = name.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def _name_finding(name: str, leaf: x509.Certificate) -> Finding:
    names = certificate_names(leaf)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if name_matches(name, names):
        return Finding("name", True, f"{name} is in the certificate ({shown})")
    return Finding(
        "name",
        False,
        f"{name} is not in the certificate ({shown or 'no DNS names'})",
        f"issue one for it (`acmecf issue -d {name}`) and point this server block at it",
    )


def _expiry_finding(leaf: x509.Certificate, now: datetime.datetime) -> Finding:
    left = leaf.not_valid_after_utc - now
    days = left.total_seconds() / 86400
    until = f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if days <= 0:
        return Finding(
            "expiry",
            False,
            f"expired on {until}",
            "run `acmecf renew` and reload the web server; Full (strict) fails with error 526",
        )
    if leaf.not_valid_before_utc > now:
        return Finding("expiry", False, f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d}")
    if days < EXPIRY_WARNING_DAYS:
        return Finding(
            "expiry",
            False,
            f"{days:.1f} days left (until {until})",
            "renewal is not happening: run `acmecf renew`, check `acmecf list` and the timer",
        )
    return Finding("expiry", True, f"{days:.0f} days left (until {until})")


def _held_finding(name: str, leaf: x509.Certificate, held: HeldCertificate | None) -> Finding:
    if held is None:
        return Finding("acmecf", None, f"acmecf holds no certificate for {name} here")
    if leaf.public_bytes(serialization.Encoding.DER) == held.leaf.public_bytes(
        serialization.Encoding.DER
    ):
        return Finding("acmecf", True, f"serves the certificate acmecf holds ({held.cert_name})")
    same_names = set(certificate_names(leaf)) & set(certificate_names(held.leaf))
    # Not after the held one (CAs round validity to the second: a quick renewal can tie).
    if same_names and leaf.not_valid_before_utc <= held.leaf.not_valid_before_utc:
        return Finding(
            "acmecf",
            False,
            f"serves an older certificate (issued {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S}) "
            f"than the one acmecf holds for {name} ({held.cert_name}, issued "
            f"{held.leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S}); the web server was not "
            "reloaded after the renewal",
            "reload it (systemctl reload nginx) and make that automatic: "
            f"acmecf issue --cert-name {held.cert_name} ... --deploy-hook "
            "'systemctl reload nginx'",
        )
    return Finding(
        "acmecf",
        False,
        f"serves a certificate acmecf does not hold (serial {leaf.serial_number:x}, issued by "
        f"{_subject_of_issuer(leaf)})",
        f"point ssl_certificate at {held.fullchain} and reload the web server",
    )


def _subject_of_issuer(certificate: x509.Certificate) -> str:
    for attribute in certificate.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        return str(attribute.value)
    return certificate.issuer.rfc4514_string()


def _tls_finding(version: str) -> Finding:
    if version in GOOD_TLS_VERSIONS:
        return Finding("tls", True, version)
    return Finding(
        "tls",
        False,
        f"negotiated {version}",
        "allow only TLS 1.2 and 1.3 (nginx: ssl_protocols TLSv1.2 TLSv1.3;)",
    )


def _client_auth_finding(result: Handshake, expectation: ClientAuthExpectation | None) -> Finding:
    state = result.client_auth
    names = "; ".join(result.client_ca_names) or "no CA named"
    described = {
        "required": f"the origin demands a client certificate ({names})",
        "optional": f"the origin asks for a client certificate but lets requests in without "
        f"one ({names})",
        "not requested": "the origin does not ask for a client certificate",
    }[state]
    if expectation is None:
        return Finding("client certificate", None, described)
    if expectation.mode is None:
        if state == "required":
            return Finding(
                "client certificate",
                False,
                f"{described}, but origin pulls are off for {expectation.zone_name}",
                'every request through Cloudflare fails with 400 "No required SSL certificate '
                'was sent": run `acmecf cloudflare origin-pulls enable`, or remove '
                "ssl_verify_client",
            )
        return Finding("client certificate", None, described)
    where = f" ({expectation.ca_file})" if expectation.ca_file else ""
    if state != "required":
        return Finding(
            "client certificate",
            False,
            f"origin pulls are on for {expectation.zone_name}, but "
            f"{described.removeprefix('the ')}",
            f"demand Cloudflare's certificate: ssl_client_certificate{where} and "
            "ssl_verify_client on (see `acmecf nginx-config`); anyone who finds the origin's "
            "address can bypass Cloudflare until then",
        )
    if expectation.mode == "shared" and not any(
        CLOUDFLARE_PULL_CA_NAME in n for n in result.client_ca_names
    ):
        return Finding(
            "client certificate",
            False,
            f"{described}, but not from Cloudflare's origin-pull CA",
            f"point ssl_client_certificate at {expectation.ca_file} (Cloudflare's shared CA)",
        )
    if expectation.mode == "own-ca" and expectation.accepted is False:
        return Finding(
            "client certificate",
            False,
            f"{described}, and refuses the client certificate acmecf uploaded to Cloudflare",
            f"point ssl_client_certificate at {expectation.ca_file}",
        )
    accepted = ", and accepts acmecf's client certificate" if expectation.accepted else ""
    return Finding("client certificate", True, f"{described}{accepted}")


# --- putting it together ----------------------------------------------------------------------


def held_certificate(store: Store, name: str) -> HeldCertificate | None:
    """The live certificate acmecf holds for `name`: an exact name beats a wildcard, and a
    newer certificate an older one. None when acmecf holds none."""
    best: tuple[int, datetime.datetime, HeldCertificate] | None = None
    for stored in store.load_certificates():
        names = [n.lower() for n in stored.config.names]
        if not name_matches(name, names):
            continue
        live = store.live(stored.name)
        try:
            leaf = x509.load_pem_x509_certificate(live.cert.read_bytes())
        except (OSError, ValueError):
            continue
        rank = (1 if name.lower() in names else 0, leaf.not_valid_before_utc)
        if best is None or rank > best[:2]:
            best = (rank[0], rank[1], HeldCertificate(stored.name, leaf, live.fullchain))
    return best[2] if best else None


def check_origin(
    name: str,
    host: str,
    port: int,
    *,
    store: Store | None,
    ca_bundle: Path | None = None,
    timeout: float = 10.0,
    now: datetime.datetime | None = None,
) -> OriginReport:
    """Check the origin at `host`:`port` for `name`. Never raises for what the origin does
    wrong (that is the report); raises OriginError only when it cannot be reached at all."""
    from acmecf.origin_pull import OWN_CA, OriginPullFiles

    moment = now or datetime.datetime.now(UTC)
    result = handshake(host, port, name, ca_bundle=ca_bundle, timeout=timeout)
    held = held_certificate(store, name) if store is not None else None
    expectation: ClientAuthExpectation | None = None
    if store is not None:
        files = OriginPullFiles(store.config_dir)
        state = files.state_for_name(name)
        if state is not None:
            mode = state.mode_for(name)
            accepted: bool | None = None
            client = (files.client(state.zone_name), files.client_key(state.zone_name))
            if mode == OWN_CA and result.client_auth == "required" and client[0].exists():
                try:
                    with_client = handshake(
                        host,
                        port,
                        name,
                        ca_bundle=ca_bundle,
                        client_certificate=client,
                        timeout=timeout,
                    )
                    accepted = with_client.http_status not in (None, 400)
                except OriginError:
                    accepted = False
            expectation = ClientAuthExpectation(
                mode, state.zone_name, files.ca_file_for(state, name), accepted
            )
    trust = str(ca_bundle) if ca_bundle else "the system trust store"
    findings = evaluate(name, result, now=moment, trust=trust, held=held, expectation=expectation)
    return OriginReport(name, f"{_bracketed(host)}:{port}", findings)


def origin_addresses(zones: CloudflareZones, name: str) -> list[str]:
    """The origin addresses of `name` as its Cloudflare zone holds them (behind the proxy):
    its A and AAAA records, following CNAMEs through the zones the token sees (and through
    DNS for a target outside them), or the zone's wildcard. Raises OriginError when it has
    none."""
    from acmecf.errors import ZoneNotFoundError

    current = name.lower().rstrip(".")
    for _ in range(8):
        zone = zones.find(current)
        records = zones.address_records(zone)
        matching = [r for r in records if r.name == current]
        if not matching:
            wildcard = "*." + current.split(".", 1)[1] if "." in current else ""
            matching = [r for r in records if r.name == wildcard]
        addresses = [r.content for r in matching if r.type in ("A", "AAAA")]
        if addresses:
            return addresses
        targets = [r.content for r in matching if r.type == "CNAME"]
        if not targets:
            raise OriginError(
                f"{name} has no A, AAAA or CNAME record in the Cloudflare zone "
                f"{zone.name or zone.id}: pass --origin HOST[:PORT]"
            )
        current = targets[0].lower().rstrip(".")
        try:
            zones.find(current)
        except ZoneNotFoundError:
            return _resolve(current, name)
    raise OriginError(f"{name}: CNAME chain too long; pass --origin HOST[:PORT]")


def _resolve(target: str, name: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(target, None, type=socket.SOCK_STREAM)
    except OSError as err:
        raise OriginError(
            f"{name} is a CNAME to {target}, which does not resolve ({err}): pass --origin"
        ) from err
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen
