"""Checking an origin server the way Cloudflare's edge will meet it.

`check_origin` connects straight to the origin (not through Cloudflare) with SNI set to the
host name (origin.handshake), compares it with the certificate acmecf holds and with the origin
pulls acmecf set up, and returns one finding per question (origin.findings). `origin_addresses`
finds the origin's address in the zone's DNS records, through the Cloudflare API.

Does not: change anything on the origin or at Cloudflare, or print.
"""

from __future__ import annotations

import datetime
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from acmecf.errors import OriginError
from acmecf.origin.findings import (
    ClientAuthExpectation,
    HeldCertificate,
    OriginReport,
    evaluate,
    name_matches,
)
from acmecf.origin.handshake import bracketed, handshake

if TYPE_CHECKING:
    from acmecf.cloudflare.zones import CloudflareZones
    from acmecf.storage.files import FileStore

UTC = datetime.UTC


def held_certificate(store: FileStore, name: str) -> HeldCertificate | None:
    """The live certificate acmecf holds for `name`: an exact name beats a wildcard, and a
    newer certificate an older one. None when acmecf holds none."""
    from acmecf.errors import AcmecfError

    best: tuple[int, datetime.datetime, HeldCertificate] | None = None
    certificates, _ = store.load_all()
    for stored in certificates:
        names = [n.lower() for n in stored.settings.names]
        if not name_matches(name, names):
            continue
        try:
            live = store.live(stored.name)
            if live is None:
                continue
            leaf = x509.load_pem_x509_certificate(live.material.cert)
        except (AcmecfError, ValueError):
            continue
        rank = (1 if name.lower() in names else 0, leaf.not_valid_before_utc)
        if best is None or rank > best[:2]:
            fullchain = store.live_paths(stored.name).fullchain
            best = (rank[0], rank[1], HeldCertificate(stored.name, leaf, fullchain))
    return best[2] if best else None


def check_origin(
    name: str,
    host: str,
    port: int,
    *,
    store: FileStore | None,
    ca_bundle: Path | None = None,
    timeout: float = 10.0,
    now: datetime.datetime | None = None,
) -> OriginReport:
    """Check the origin at `host`:`port` for `name`. Never raises for what the origin does
    wrong (that is the report); raises OriginError only when it cannot be reached at all."""
    from acmecf.storage.origin_pulls import OWN_CA, OriginPullFiles

    moment = now or datetime.datetime.now(UTC)
    result = handshake(host, port, name, ca_bundle=ca_bundle, timeout=timeout)
    held = held_certificate(store, name) if store is not None else None
    expectation: ClientAuthExpectation | None = None
    if store is not None:
        files = OriginPullFiles(store)
        state = files.state_for_name(name)
        if state is not None:
            mode = state.mode_for(name)
            accepted: bool | None = None
            certificate = files.read(state.zone_name, "client.pem")
            key = files.read(state.zone_name, "client-key.pem")
            if mode == OWN_CA and result.client_auth == "required" and certificate and key:
                try:
                    with_client = handshake(
                        host,
                        port,
                        name,
                        ca_bundle=ca_bundle,
                        client_certificate=(certificate, key),
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
    return OriginReport(name, f"{bracketed(host)}:{port}", findings)


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
