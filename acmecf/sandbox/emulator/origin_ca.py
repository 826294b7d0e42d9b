"""The Origin CA: certificates Cloudflare signs for origin servers, listed and revoked.

``/certificates`` signs a CSR for host names of the account's zones with an emulated
"CloudFlare Origin SSL (ECC) Certificate Authority" root (one per key type, made on first
use); ``origin_root`` hands that root to tests.

Does not: use Cloudflare's real roots, support the Origin CA Key (``X-Auth-User-Service-Key``)
credential, or publish revocation anywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from acmecf.pki.authority import self_signed_ca
from acmecf.sandbox.emulator.envelope import (
    ApiError,
    Reply,
    envelope,
    first_parameter,
    json_object,
    paginate,
    timestamp,
)
from acmecf.sandbox.emulator.routes import ApiCall, Route
from acmecf.sandbox.emulator.state import (
    Credential,
    OriginCertificate,
    State,
    Zone,
    to_ascii,
    valid_hostname,
)

# https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/create/
ORIGIN_CA_VALIDITIES = (7, 30, 90, 365, 730, 1095, 5475)
ORIGIN_CA_DEFAULT_VALIDITY = 5475


def origin_root(state: State, request_type: str) -> tuple[Any, x509.Certificate]:
    """(key, root certificate) of the emulated Origin CA for ``request_type``."""
    # The real roots: "CloudFlare Origin SSL Certificate Authority" (RSA) and "CloudFlare
    # Origin SSL ECC Certificate Authority"; leaves are signed by them directly.
    # https://developers.cloudflare.com/ssl/origin-configuration/origin-ca/#cloudflare-origin-ca-root-certificate
    kind = "ecc" if request_type == "origin-ecc" else "rsa"
    roots = state.tls.origin_roots
    if kind not in roots:
        key: Any = (
            ec.generate_private_key(ec.SECP256R1())
            if kind == "ecc"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        unit = (
            "CloudFlare Origin SSL ECC Certificate Authority"
            if kind == "ecc"
            else "CloudFlare Origin SSL Certificate Authority"
        )
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CloudFlare, Inc."),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
            ]
        )
        now = datetime.now(UTC)
        root = self_signed_ca(
            key,
            name,
            now.replace(year=now.year - 1),
            now.replace(year=now.year + 20),
            path_length=2,
        )
        roots[kind] = (key, root)
    return roots[kind]


def _may_use(credential: Credential, zone: Zone) -> bool:
    token = credential.token
    return token is None or (token.covers(zone) and token.ssl_edit)


def _certificate_json(entry: OriginCertificate) -> dict[str, Any]:
    return {
        "id": entry.id,
        "certificate": entry.certificate,
        "csr": entry.csr,
        "hostnames": list(entry.hostnames),
        "expires_on": entry.expires_on,
        "request_type": entry.request_type,
        "requested_validity": entry.requested_validity,
    }


# https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/create/
def create_certificate(state: State, call: ApiCall) -> Reply:
    payload = json_object(call.body)
    csr_pem, hostnames = payload.get("csr"), payload.get("hostnames")
    request_type = payload.get("request_type")
    validity = payload.get("requested_validity", ORIGIN_CA_DEFAULT_VALIDITY)
    if isinstance(validity, float) and validity.is_integer():
        validity = int(validity)
    # Codes and wording of the request checks are not verified, except 1010 below.
    if not isinstance(csr_pem, str) or not csr_pem.strip():
        raise ApiError.single(400, 1002, "csr is required.")
    if not isinstance(hostnames, list) or not hostnames:
        raise ApiError.single(400, 1002, "hostnames is required.")
    if request_type not in ("origin-rsa", "origin-ecc"):
        raise ApiError.single(400, 1002, "request_type must be origin-rsa or origin-ecc.")
    if validity not in ORIGIN_CA_VALIDITIES:
        raise ApiError.single(
            400, 1002, "requested_validity must be one of 7, 30, 90, 365, 730, 1095, 5475."
        )
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise ApiError.single(400, 1002, "The CSR is not a valid PEM request.") from None
    if not csr.is_signature_valid:
        raise ApiError.single(400, 1002, "The CSR's signature is invalid.")
    public_key = csr.public_key()
    wanted = ec.EllipticCurvePublicKey if request_type == "origin-ecc" else rsa.RSAPublicKey
    if not isinstance(public_key, wanted):
        raise ApiError.single(
            400, 1002, f"The CSR's key type does not match request_type {request_type}."
        )
    names: list[str] = []
    zone_ids: list[str] = []
    for raw in hostnames:
        name = to_ascii(str(raw).strip()).rstrip(".").lower()
        base = name[2:] if name.startswith("*.") else name
        zone = state.zone_of_name(base) if valid_hostname(name, wildcard=True) else None
        if zone is None or not _may_use(call.credential, zone):
            # Wording as Cloudflare's Origin CA answers it (from public reports; the
            # status is not verified).
            raise ApiError.single(
                400,
                1010,
                f"Failed to validate requested hostname {name}: This zone is either not "
                "part of your account, or you do not have access to it. Please contact "
                "support if using a multi-user organization.",
            )
        names.append(name)
        if zone.id not in zone_ids:
            zone_ids.append(zone.id)
    root_key, root = origin_root(state, str(request_type))
    now = datetime.now(UTC)
    expires = now + timedelta(days=validity)
    serial = x509.random_serial_number()
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CloudFlare, Inc."),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CloudFlare Origin CA"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "CloudFlare Origin Certificate"),
                ]
            )
        )
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(expires)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    entry = OriginCertificate(
        id=str(serial),
        zone_ids=tuple(zone_ids),
        certificate=leaf.public_bytes(serialization.Encoding.PEM).decode(),
        csr=csr_pem,
        hostnames=tuple(names),
        request_type=str(request_type),
        requested_validity=int(validity),
        # Go's time format, as the Origin CA writes it ("2014-01-01 05:20:00 +0000 UTC").
        expires_on=expires.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
    )
    state.tls.origin_certificates[entry.id] = entry
    return Reply(200, envelope(_certificate_json(entry)))


# https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/list/
def list_certificates(state: State, call: ApiCall) -> Reply:
    zone_id = first_parameter(call.query, "zone_id")
    zone = state.zones.get(zone_id)
    if zone is None:
        raise ApiError.single(400, 1002, "zone_id is required.")  # not verified
    if not _may_use(call.credential, zone):
        raise ApiError.single(403, 1016, "User is not authorized to perform this action")
    items = [
        _certificate_json(entry)
        for entry in state.tls.origin_certificates.values()
        if zone_id in entry.zone_ids and entry.revoked_at is None
    ]
    page, info = paginate(items, call.query, default=20, minimum=5, maximum=50)
    return Reply(200, envelope(page, result_info=info))


def _visible_certificate(state: State, call: ApiCall) -> OriginCertificate:
    entry = state.tls.origin_certificates.get(call.params["certificate_id"])
    if (
        entry is None
        or entry.revoked_at is not None
        or not any(_may_use(call.credential, state.zones[z]) for z in entry.zone_ids)
    ):
        # Code and wording not verified.
        raise ApiError.single(404, 1001, "Certificate not found.")
    return entry


# https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/get/
def get_certificate(state: State, call: ApiCall) -> Reply:
    return Reply(200, envelope(_certificate_json(_visible_certificate(state, call))))


# https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/delete/
def revoke_certificate(state: State, call: ApiCall) -> Reply:
    entry = _visible_certificate(state, call)
    entry.revoked_at = timestamp()
    return Reply(200, envelope({"id": entry.id, "revoked_at": entry.revoked_at}))


_DOC = "https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods"
ROUTES = [
    Route("GET", "/certificates", list_certificates, doc=f"{_DOC}/list/"),
    Route("POST", "/certificates", create_certificate, doc=f"{_DOC}/create/"),
    Route("GET", "/certificates/{certificate_id}", get_certificate, doc=f"{_DOC}/get/"),
    Route("DELETE", "/certificates/{certificate_id}", revoke_certificate, doc=f"{_DOC}/delete/"),
]
