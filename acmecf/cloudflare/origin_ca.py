"""Cloudflare's Origin CA API: certificates that only Cloudflare's edge trusts.

`create` is not idempotent: each call issues a new certificate. Does not: make keys, check
what came back or store it (issuers.origin_ca does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.hints import SSL_PERMISSION
from acmecf.errors import CloudflareError, RecordMissing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OriginCACertificate:
    """What the Origin CA returned: the certificate (PEM, leaf only) and its id (serial)."""

    id: str
    certificate: str
    expires_on: str | None


class CloudflareOriginCA:
    """Cloudflare's Origin CA: certificates that only Cloudflare's edge trusts.

    `create` is not idempotent: each call issues a new certificate.
    """

    def __init__(self, api: CloudflareApi) -> None:
        self._api = api

    def create(
        self, csr_pem: str, hostnames: list[str], request_type: str, validity_days: int
    ) -> OriginCACertificate:
        """Sign `csr_pem` for `hostnames`; `request_type` is "origin-rsa" or "origin-ecc"."""
        action = f"ordering an Origin CA certificate for {', '.join(hostnames)}"
        # https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/create/
        result = self._api.call(
            lambda client: client.origin_ca_certificates.create(
                csr=csr_pem,
                hostnames=hostnames,
                request_type=request_type,  # type: ignore[arg-type]
                requested_validity=validity_days,  # type: ignore[arg-type]
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=None,
        )
        certificate = str(getattr(result, "certificate", "") or "")
        identifier = str(getattr(result, "id", "") or "")
        if not certificate or not identifier:
            raise CloudflareError(f"the Origin CA answered {action} without a certificate")
        return OriginCACertificate(identifier, certificate, getattr(result, "expires_on", None))

    def revoke(self, certificate_id: str) -> None:
        """Revoke an Origin CA certificate; one already revoked or unknown counts as done."""
        action = f"deleting (revoking) Origin CA certificate {certificate_id}"
        try:
            # https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/delete/
            self._api.call(
                lambda client: client.origin_ca_certificates.delete(certificate_id),
                action=action,
                deleting=True,
                zone=None,
                permission=SSL_PERMISSION,
            )
        except RecordMissing:
            log.debug("Origin CA certificate %s was already revoked", certificate_id)
