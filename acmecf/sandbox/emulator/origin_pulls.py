"""Authenticated Origin Pulls: client certificates at zone and host name level.

Upload, list, read and delete zone-level and hostname-level client certificates, switch
zone-level pulls on and off, associate certificates with host names; ``edge_certificate``
says which certificate Cloudflare's edge would present to an origin.
https://developers.cloudflare.com/ssl/origin-configuration/authenticated-origin-pull/

Deployment takes time, as on Cloudflare: an upload is ``pending_deployment`` for
``DEFAULT_DEPLOY_DELAY`` seconds (``CloudflareEmulator.set_origin_pull_deploy_delay``), then
``active``; a deleted certificate stays deployed for as long again. The edge presents
only a deployed certificate, so a client that deletes the old certificate before the new
one is active leaves the edge with the old one, then with whatever comes next.

Does not: open TLS connections, or check a certificate's chain (the API does not either).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from acmecf.sandbox.emulator.auth import permitted_zone
from acmecf.sandbox.emulator.envelope import ApiError, Reply, envelope, json_object, timestamp
from acmecf.sandbox.emulator.routes import ApiCall, Route
from acmecf.sandbox.emulator.state import HostnamePull, PullCertificate, State, Zone
from acmecf.sandbox.emulator.zone_settings import setting

# "10 hostname certificates per zone are allowed" (hostname_certificates.create docs).
HOSTNAME_CERTIFICATES_PER_ZONE = 10
# Small, so tests that do not care wait little and a client that does not yet wait for
# `active` still passes its end-to-end tests; the real deployment takes longer (its
# duration is not documented). Raise it with set_origin_pull_deploy_delay to test waiting.
DEFAULT_DEPLOY_DELAY = 0.05


@dataclass(frozen=True)
class EdgeClientCertificate:
    """What Cloudflare's edge presents to an origin when it pulls a host name.

    ``kind`` is "shared" (Cloudflare's certificate, signed by the public origin-pull CA;
    the emulator has no key for it, so ``certificate`` and ``private_key`` are None),
    "zone" (the zone's uploaded certificate) or "hostname" (the host name's own).
    """

    kind: str
    certificate: str | None
    private_key: str | None


def edge_certificate(state: State, hostname: str) -> EdgeClientCertificate | None:
    """What the edge would present when pulling ``hostname`` from its origin right now.

    None when no client certificate is sent: the zone's ``tls_client_auth`` is off, its
    SSL mode is off or flexible (origin pulls do not apply there), or the host name's
    association is disabled. A host name's own certificate takes precedence over the
    zone's, and the zone's (the most recently uploaded active one, once enabled) over
    Cloudflare's shared certificate. Raises ValueError when no zone holds ``hostname``.
    https://developers.cloudflare.com/ssl/origin-configuration/authenticated-origin-pull/set-up/
    """
    name = hostname.strip().rstrip(".").lower()
    zone = state.zone_of_name(name)
    if zone is None:
        raise ValueError(f"no zone holds {hostname!r}")
    if setting(state, zone.id, "tls_client_auth")[0] != "on":
        return None
    if setting(state, zone.id, "ssl")[0] in ("off", "flexible"):
        return None
    tls = state.tls
    now = time.monotonic()
    association = tls.hostnames.get((zone.id, name))
    if association is not None:
        if not association.enabled:
            return None
        certificate = tls.hostname_certificates.get(association.cert_id)
        if certificate is not None and certificate.status(now) == "active":
            return EdgeClientCertificate(
                "hostname", certificate.certificate, certificate.private_key
            )
    if tls.zone_pull_enabled.get(zone.id, False):
        retiring = [c for c, until in tls.retiring if now < until]
        deployed = [
            c
            for c in (*tls.zone_certificates.values(), *retiring)
            if c.zone_id == zone.id and c.status(now) == "active"
        ]
        if deployed:
            latest = max(deployed, key=lambda c: c.uploaded_on)
            return EdgeClientCertificate("zone", latest.certificate, latest.private_key)
    return EdgeClientCertificate("shared", None, None)


def _zone(state: State, call: ApiCall) -> Zone:
    return permitted_zone(state, call, "ssl_edit")


def _certificate_json(entry: PullCertificate) -> dict[str, Any]:
    # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/get/
    return {
        "id": entry.id,
        "certificate": entry.certificate,
        "issuer": entry.issuer,
        "serial_number": entry.serial_number,
        "signature": entry.signature,
        "status": entry.status(time.monotonic()),
        "expires_on": entry.expires_on,
        "uploaded_on": entry.uploaded_on,
    }


def _hostname_json(
    association: HostnamePull, certificate: PullCertificate | None, *, voided: bool = False
) -> dict[str, Any]:
    return {
        "hostname": association.hostname,
        "cert_id": association.cert_id,
        "enabled": None if voided else association.enabled,
        "status": "pending_deletion" if voided else "active",
        "created_at": association.created_at,
        "updated_at": association.updated_at,
        "cert_status": certificate.status(time.monotonic()) if certificate else None,
        "cert_uploaded_on": certificate.uploaded_on if certificate else None,
        "cert_updated_at": certificate.uploaded_on if certificate else None,
        "certificate": certificate.certificate if certificate else None,
        "issuer": certificate.issuer if certificate else None,
        "serial_number": certificate.serial_number if certificate else None,
        "signature": certificate.signature if certificate else None,
        "expires_on": certificate.expires_on if certificate else None,
    }


def _upload(state: State, zone: Zone, body: bytes, *, hostname_level: bool) -> Reply:
    store = state.tls.hostname_certificates if hostname_level else state.tls.zone_certificates
    payload = json_object(body)
    certificate_pem, key_pem = payload.get("certificate"), payload.get("private_key")
    if not isinstance(certificate_pem, str) or not isinstance(key_pem, str):
        # Codes and wording of the certificate checks below are not verified.
        raise ApiError.single(400, 1400, "certificate and private_key are required.")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        raise ApiError.single(
            400, 1401, "The certificate is not a valid PEM certificate."
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ApiError.single(400, 1402, "The private key is not a valid PEM key.") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != (
        certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    ):
        raise ApiError.single(400, 1403, "The private key does not match the certificate.")
    if certificate.not_valid_after_utc <= datetime.now(UTC):
        raise ApiError.single(400, 1404, "The certificate has expired.")
    if hostname_level and (
        sum(1 for c in store.values() if c.zone_id == zone.id) >= HOSTNAME_CERTIFICATES_PER_ZONE
    ):
        raise ApiError.single(400, 1405, "10 hostname certificates per zone are allowed.")
    signature = certificate.signature_hash_algorithm
    algorithm = "ECDSA" if isinstance(key, ec.EllipticCurvePrivateKey) else "RSA"
    entry = PullCertificate(
        id=uuid.uuid4().hex,
        zone_id=zone.id,
        certificate=certificate_pem,
        private_key=key_pem,
        issuer=certificate.issuer.rfc4514_string(),
        serial_number=str(certificate.serial_number),
        signature=f"{algorithm}WithSHA{signature.digest_size * 8 if signature else 256}",
        expires_on=certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        uploaded_on=timestamp(),
        deployed_from=time.monotonic() + state.tls.deploy_delay,
    )
    store[entry.id] = entry
    # Deployment is asynchronous: the upload always answers pending_deployment.
    result = _certificate_json(entry)
    result["status"] = "pending_deployment"
    return Reply(200, envelope(result))


def _list(state: State, zone: Zone, *, hostname_level: bool) -> Reply:
    store = state.tls.hostname_certificates if hostname_level else state.tls.zone_certificates
    items = [_certificate_json(c) for c in store.values() if c.zone_id == zone.id]
    info = {"page": 1, "per_page": 50, "count": len(items), "total_count": len(items)}
    return Reply(200, envelope(items, result_info=info))


def _stored(
    state: State, zone: Zone, certificate_id: str, *, hostname_level: bool
) -> PullCertificate:
    store = state.tls.hostname_certificates if hostname_level else state.tls.zone_certificates
    entry = store.get(certificate_id)
    if entry is None or entry.zone_id != zone.id:
        # Code and wording not verified.
        raise ApiError.single(404, 1407, "Certificate not found.")
    return entry


def _delete(state: State, zone: Zone, certificate_id: str, *, hostname_level: bool) -> Reply:
    entry = _stored(state, zone, certificate_id, hostname_level=hostname_level)
    if hostname_level and any(a.cert_id == certificate_id for a in state.tls.hostnames.values()):
        # "Before deleting the certificate, you must first invalidate the hostname ...
        # by sending a PUT request with enabled set to null" (hostname_certificates docs).
        raise ApiError.single(
            400,
            1406,
            "The certificate is in use by a hostname; invalidate the association first.",
        )
    store = state.tls.hostname_certificates if hostname_level else state.tls.zone_certificates
    del store[certificate_id]
    now = time.monotonic()
    state.tls.retiring = [(c, until) for c, until in state.tls.retiring if now < until]
    state.tls.retiring.append((entry, now + state.tls.deploy_delay))
    result = _certificate_json(entry)
    result["status"] = "pending_deletion"
    return Reply(200, envelope(result))


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/create/
def upload_zone_certificate(state: State, call: ApiCall) -> Reply:
    return _upload(state, _zone(state, call), call.body, hostname_level=False)


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/list/
def list_zone_certificates(state: State, call: ApiCall) -> Reply:
    return _list(state, _zone(state, call), hostname_level=False)


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/get/
def get_zone_certificate(state: State, call: ApiCall) -> Reply:
    zone = _zone(state, call)
    entry = _stored(state, zone, call.params["certificate_id"], hostname_level=False)
    return Reply(200, envelope(_certificate_json(entry)))


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/delete/
def delete_zone_certificate(state: State, call: ApiCall) -> Reply:
    zone = _zone(state, call)
    return _delete(state, zone, call.params["certificate_id"], hostname_level=False)


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/create/
def upload_hostname_certificate(state: State, call: ApiCall) -> Reply:
    return _upload(state, _zone(state, call), call.body, hostname_level=True)


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/list/
def list_hostname_certificates(state: State, call: ApiCall) -> Reply:
    return _list(state, _zone(state, call), hostname_level=True)


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/get/
def get_hostname_certificate(state: State, call: ApiCall) -> Reply:
    zone = _zone(state, call)
    entry = _stored(state, zone, call.params["certificate_id"], hostname_level=True)
    return Reply(200, envelope(_certificate_json(entry)))


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/delete/
def delete_hostname_certificate(state: State, call: ApiCall) -> Reply:
    zone = _zone(state, call)
    return _delete(state, zone, call.params["certificate_id"], hostname_level=True)


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/settings/methods/get/
def get_pull_setting(state: State, call: ApiCall) -> Reply:
    zone = _zone(state, call)
    return Reply(200, envelope({"enabled": state.tls.zone_pull_enabled.get(zone.id, False)}))


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/settings/methods/update/
def update_pull_setting(state: State, call: ApiCall) -> Reply:
    zone = _zone(state, call)
    enabled = json_object(call.body).get("enabled")
    if not isinstance(enabled, bool):
        # Wording not verified.
        raise ApiError.single(400, 1004, "enabled must be a boolean.")
    state.tls.zone_pull_enabled[zone.id] = enabled
    return Reply(200, envelope({"enabled": enabled}))


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostnames/methods/update/
def update_hostnames(state: State, call: ApiCall) -> Reply:
    zone = _zone(state, call)
    config = json_object(call.body).get("config")
    if not isinstance(config, list) or not config:
        raise ApiError.single(400, 1004, "config is required.")  # wording not verified
    results: list[dict[str, Any]] = []
    for item in config:
        if not isinstance(item, dict):
            raise ApiError.single(400, 1004, "config items must be objects.")
        hostname = str(item.get("hostname") or "").strip().rstrip(".").lower()
        cert_id = str(item.get("cert_id") or "")
        enabled = item.get("enabled")
        if not hostname or not (hostname == zone.name or hostname.endswith("." + zone.name)):
            raise ApiError.single(400, 1408, f"{hostname} is not a hostname of this zone.")
        certificate = state.tls.hostname_certificates.get(cert_id)
        if certificate is None or certificate.zone_id != zone.id:
            raise ApiError.single(400, 1407, "Certificate not found.")
        key = (zone.id, hostname)
        if enabled is None:
            # "A null value voids the association."
            state.tls.hostnames.pop(key, None)
            association = HostnamePull(hostname, cert_id, False, timestamp(), timestamp())
            results.append(_hostname_json(association, certificate, voided=True))
            continue
        if not isinstance(enabled, bool):
            raise ApiError.single(400, 1004, "enabled must be a boolean or null.")
        previous = state.tls.hostnames.get(key)
        created = previous.created_at if previous else timestamp()
        association = HostnamePull(hostname, cert_id, enabled, created, timestamp())
        state.tls.hostnames[key] = association
        results.append(_hostname_json(association, certificate))
    info = {"page": 1, "per_page": 50, "count": len(results), "total_count": len(results)}
    return Reply(200, envelope(results, result_info=info))


# https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostnames/methods/get/
def get_hostname(state: State, call: ApiCall) -> Reply:
    zone = _zone(state, call)
    association = state.tls.hostnames.get((zone.id, call.params["hostname"].lower()))
    if association is None:
        raise ApiError.single(404, 1409, "Hostname association not found.")  # not verified
    certificate = state.tls.hostname_certificates.get(association.cert_id)
    return Reply(200, envelope(_hostname_json(association, certificate)))


_BASE = "/zones/{zone_id:id}/origin_tls_client_auth"
_DOC = "https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources"
ROUTES = [
    Route("GET", _BASE, list_zone_certificates, doc=f"{_DOC}/zone_certificates/methods/list/"),
    Route("POST", _BASE, upload_zone_certificate, doc=f"{_DOC}/zone_certificates/methods/create/"),
    Route(
        "GET",
        f"{_BASE}/{{certificate_id}}",
        get_zone_certificate,
        doc=f"{_DOC}/zone_certificates/methods/get/",
    ),
    Route(
        "DELETE",
        f"{_BASE}/{{certificate_id}}",
        delete_zone_certificate,
        doc=f"{_DOC}/zone_certificates/methods/delete/",
    ),
    Route("GET", f"{_BASE}/settings", get_pull_setting, doc=f"{_DOC}/settings/methods/get/"),
    Route("PUT", f"{_BASE}/settings", update_pull_setting, doc=f"{_DOC}/settings/methods/update/"),
    Route("PUT", f"{_BASE}/hostnames", update_hostnames, doc=f"{_DOC}/hostnames/methods/update/"),
    Route(
        "GET",
        f"{_BASE}/hostnames/{{hostname}}",
        get_hostname,
        doc=f"{_DOC}/hostnames/methods/get/",
    ),
    Route(
        "GET",
        f"{_BASE}/hostnames/certificates",
        list_hostname_certificates,
        doc=f"{_DOC}/hostname_certificates/methods/list/",
    ),
    Route(
        "POST",
        f"{_BASE}/hostnames/certificates",
        upload_hostname_certificate,
        doc=f"{_DOC}/hostname_certificates/methods/create/",
    ),
    Route(
        "GET",
        f"{_BASE}/hostnames/certificates/{{certificate_id}}",
        get_hostname_certificate,
        doc=f"{_DOC}/hostname_certificates/methods/get/",
    ),
    Route(
        "DELETE",
        f"{_BASE}/hostnames/certificates/{{certificate_id}}",
        delete_hostname_certificate,
        doc=f"{_DOC}/hostname_certificates/methods/delete/",
    ),
]
