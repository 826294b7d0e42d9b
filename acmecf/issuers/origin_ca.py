"""Issuing from Cloudflare's Origin CA instead of an ACME CA.

A new key and CSR, one API call (`POST /certificates`), and the same chain check as an ACME
certificate, so nginx, `acmecf renew` and deploy hooks treat both alike. An Origin CA
certificate is trusted only by Cloudflare's edge: fine behind the proxy in Full (strict) mode,
refused by browsers and anything else that reaches the origin directly. It is signed by the
Origin CA root directly, so chain.pem is empty and fullchain.pem is the leaf.

Does not: know ACME, DNS or click; write anything.
"""

from __future__ import annotations

import logging

from acmecf.cloudflare.origin_ca import CloudflareOriginCA
from acmecf.errors import CloudflareError, UsageError
from acmecf.issuers.base import CertificateRequest, IssuedCertificate
from acmecf.pki.chain import verify_chain
from acmecf.pki.keys import generate_key, key_pem
from acmecf.pki.requests import make_csr
from acmecf.settings.table import ISSUER_ORIGIN_CA, ORIGIN_CA_VALIDITIES

log = logging.getLogger(__name__)

# The Origin CA signs RSA 2048 and ECDSA P-256 keys.
# https://developers.cloudflare.com/ssl/origin-configuration/origin-ca/
REQUEST_TYPES = {"ecdsa-p256": "origin-ecc", "rsa-2048": "origin-rsa"}
VALIDITY_DAYS = (
    365  # the default of --origin-ca-validity (ORIGIN_CA_VALIDITIES); renewed at a third left
)
TRUST_NOTE = (
    "Only Cloudflare trusts this Cloudflare Origin CA certificate: use it only behind "
    "Cloudflare's proxy (orange cloud) with SSL mode Full (strict); browsers and anything else "
    "that connects to the origin directly will refuse it."
)
_NAME_NOT_IN_ACCOUNT = 1010


def request_type_for(key_type: str) -> str:
    """The Origin CA request type for `key_type`; UsageError for a type it cannot sign."""
    try:
        return REQUEST_TYPES[key_type]
    except KeyError:
        raise UsageError(
            f"the Cloudflare Origin CA does not sign {key_type} keys: use --key-type "
            "ecdsa-p256 or rsa-2048"
        ) from None


class OriginCaIssuer:
    """Certificates from Cloudflare's Origin CA. With `dry_run`, the certificate is ordered,
    checked and then revoked (it must not stay valid unused)."""

    name = ISSUER_ORIGIN_CA

    def __init__(
        self,
        origin_ca: CloudflareOriginCA,
        *,
        dry_run: bool = False,
        validity_days: int = VALIDITY_DAYS,
    ) -> None:
        if validity_days not in ORIGIN_CA_VALIDITIES:
            raise UsageError(
                f"the Cloudflare Origin CA signs for {', '.join(map(str, ORIGIN_CA_VALIDITIES))} "
                f"days, not {validity_days}: use one of those with --origin-ca-validity"
            )
        self._origin_ca = origin_ca
        self._dry_run = dry_run
        self._validity_days = validity_days

    def issue(self, request: CertificateRequest) -> IssuedCertificate:
        request_type = request_type_for(request.key_type)
        key = generate_key(request.key_type)
        names = list(request.names)
        csr = make_csr(key, names).decode()
        log.info(
            "ordering a Cloudflare Origin CA certificate for %s, valid %d days",
            ", ".join(names),
            self._validity_days,
        )
        try:
            ordered = self._origin_ca.create(csr, names, request_type, self._validity_days)
        except CloudflareError as err:
            if _NAME_NOT_IN_ACCOUNT in err.codes:
                raise CloudflareError(
                    f"{err}; each name must be in a zone of this account, and the token needs "
                    "Zone > SSL and Certificates > Edit on it",
                    status=err.status,
                    codes=err.codes,
                    action=err.action,
                ) from err
            raise
        chain = verify_chain(
            ordered.certificate,
            key,
            names,
            require_intermediate=False,
            issuer="the Cloudflare Origin CA",
        )
        if self._dry_run:
            self._origin_ca.revoke(ordered.id)
            log.info("dry run: the Origin CA certificate checks out and was revoked")
        return IssuedCertificate(key_pem(key), chain, serial=ordered.id)
