"""One TLS handshake with the origin, as Cloudflare's edge meets it (the I/O half of the origin
check): SNI set to the host name, the chain as sent, OpenSSL's verification of it, the client
certificate request, and a GET / afterwards.

Does not: judge what it saw (origin.findings does) or talk to the Cloudflare API.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509

from acmecf.errors import OriginError, UsageError

log = logging.getLogger(__name__)

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
ISSUER_MISSING = {2, 20, 21}


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
    client_certificate: tuple[bytes, bytes] | None = None,
    timeout: float = 10.0,
) -> Handshake:
    """Connect to `host`:`port` with SNI `server_name`, complete the handshake, send GET /.

    Validates the chain with OpenSSL against `ca_bundle` or the system trust store (no AIA
    fetching: "without help"), but never aborts on a bad chain: the chain is the finding.
    Presents `client_certificate` (certificate and key, PEM) when given. Raises OriginError when the
    origin cannot be reached or refuses the handshake.
    """
    from OpenSSL import SSL, crypto

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
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        certificate_pem, key_pem = client_certificate
        context.use_certificate(
            crypto.X509.from_cryptography(x509.load_pem_x509_certificate(certificate_pem))
        )
        context.use_privatekey(
            crypto.PKey.from_cryptography_key(load_pem_private_key(key_pem, password=None))  # type: ignore[arg-type]
        )
    where = f"{bracketed(host)}:{port}"
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


def bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
