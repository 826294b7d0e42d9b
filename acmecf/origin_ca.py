"""Issuing from Cloudflare's Origin CA instead of an ACME CA.

A new key and CSR, one API call (`POST /certificates`), a check of what came back, and the same
atomic save as an ACME certificate, so nginx, `acmecf renew` and deploy hooks treat both alike.
An Origin CA certificate is trusted only by Cloudflare's edge: fine behind the proxy in Full
(strict) mode, refused by browsers and anything else that reaches the origin directly. It is
signed by the Origin CA root directly, so chain.pem is empty and fullchain.pem is the leaf.

Does not know ACME, DNS or click.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acmecf.certificate import Chain, certificate_names, generate_key, key_pem, make_csr
from acmecf.cloudflare import CloudflareOriginCA
from acmecf.errors import CertificateError, CloudflareError, UsageError
from acmecf.issue import IssuedCertificate, IssueRequest
from acmecf.store import Store

if TYPE_CHECKING:
    from acmecf.cloudflare import CloudflareApi
    from acmecf.renewal import CertificateConfig

log = logging.getLogger(__name__)

ISSUER_ACME = "acme"
ISSUER_ORIGIN_CA = "cloudflare-origin-ca"
ISSUERS = (ISSUER_ACME, ISSUER_ORIGIN_CA)
# The Origin CA signs RSA 2048 and ECDSA P-256 keys.
# https://developers.cloudflare.com/ssl/origin-configuration/origin-ca/
REQUEST_TYPES = {"ecdsa-p256": "origin-ecc", "rsa-2048": "origin-rsa"}
VALIDITY_DAYS = 365  # one of 7, 30, 90, 365, 730, 1095, 5475; renewed at a third left
TRUST_NOTE = (
    "Only Cloudflare trusts this Cloudflare Origin CA certificate: use it only behind "
    "Cloudflare's proxy (orange cloud) with SSL mode Full (strict); browsers and anything else "
    "that connects to the origin directly will refuse it."
)


def request_type_for(key_type: str) -> str:
    """The Origin CA request type for `key_type`; UsageError for a type it cannot sign."""
    try:
        return REQUEST_TYPES[key_type]
    except KeyError:
        raise UsageError(
            f"the Cloudflare Origin CA does not sign {key_type} keys: use --key-type "
            "ecdsa-p256 or rsa-2048"
        ) from None


def issue_origin_ca_certificate(
    request: IssueRequest,
    *,
    origin_ca: CloudflareOriginCA,
    store: Store,
    save: bool = True,
    validity_days: int = VALIDITY_DAYS,
) -> IssuedCertificate:
    """Obtain an Origin CA certificate for `request.names` and make it live under
    `request.cert_name`, like `issue_certificate` does for ACME.

    With `save` false (a dry run) the certificate is ordered and checked, then revoked, and
    nothing is written. Raises UsageError (a key type the Origin CA cannot sign),
    CloudflareError (with the remedy), CertificateError (an answer that does not match the
    request); the live files are then unchanged.
    """
    request_type = request_type_for(request.key_type)
    key = generate_key(request.key_type)
    csr = make_csr(key, list(request.names)).decode()
    log.info("ordering a Cloudflare Origin CA certificate for %s", ", ".join(request.names))
    try:
        ordered = origin_ca.create(csr, list(request.names), request_type, validity_days)
    except CloudflareError as err:
        if "1010" in str(err):
            raise CloudflareError(
                f"{err}; each name must be in a zone of this account, and the token needs "
                "Zone > SSL and Certificates > Edit on it"
            ) from err
        raise
    try:
        leaf = x509.load_pem_x509_certificate(ordered.certificate.encode())
    except ValueError as err:
        raise CertificateError(f"the Origin CA returned an unreadable certificate: {err}") from err
    _check(leaf, key, list(request.names))
    chain = Chain(leaf, ())
    live = store.live(request.cert_name)
    if not save:
        origin_ca.revoke(ordered.id)
        log.info("dry run: the Origin CA certificate checks out and was revoked; nothing written")
        return IssuedCertificate(request.cert_name, list(request.names), chain, None, live)
    version = store.save_certificate(
        request.cert_name,
        cert=chain.cert_pem,
        chain=b"",
        fullchain=chain.fullchain_pem,
        privkey=key_pem(key),
    )
    return IssuedCertificate(request.cert_name, list(request.names), chain, version, live)


def obtain_from_origin_ca(
    config: CertificateConfig, api: CloudflareApi, store: Store, *, save: bool = True
) -> IssuedCertificate:
    """`issue_origin_ca_certificate` for a stored certificate's settings: what `acmecf renew`
    (renew.obtain) runs for a certificate whose issuer is "cloudflare-origin-ca"."""
    request = IssueRequest(
        names=list(config.names), cert_name=config.cert_name, key_type=config.key_type
    )
    return issue_origin_ca_certificate(
        request, origin_ca=CloudflareOriginCA(api), store=store, save=save
    )


def _check(
    leaf: x509.Certificate,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    names: list[str],
) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if leaf.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise CertificateError(
            "the Origin CA certificate does not match the private key; not saved"
        )
    covered = set(certificate_names(leaf))
    missing = [n for n in names if n not in covered]
    if missing:
        raise CertificateError(
            f"the Origin CA certificate does not cover {', '.join(missing)}; not saved"
        )
