"""The Issuer contract, as certmagic has it: a request in, a verified key and chain out.

`issue` raises an AcmecfError subclass saying what to do; when it returns, the chain has been
checked against the key and every name. It never writes files or state: the caller stores what
it returns. Does not: know where certificates live.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # cryptography is imported only where a certificate is handled
    from acmecf.pki.chain import Chain


@dataclass(frozen=True)
class CertificateRequest:
    """What to issue. `reuse_key_pem` keeps that private key instead of making a new one;
    `replaces` is the ARI id of the certificate this one renews (RFC 9773 §5); `challenge`
    how the CA checks the names (dns-01, or dns-persist-01 with records published
    beforehand)."""

    cert_name: str
    names: tuple[str, ...]
    key_type: str = "ecdsa-p256"
    reuse_key_pem: bytes | None = field(default=None, repr=False)
    replaces: str | None = None
    profile: str | None = None
    preferred_profile: str | None = None
    preferred_chain: str | None = None
    must_staple: bool = False
    propagation_timeout: float = 180.0
    validation_timeout: float = 300.0
    challenge: str = "dns-01"


@dataclass(frozen=True)
class IssuedCertificate:
    """A verified certificate and its key. `renewal_info_url` is the CA's ARI resource (None
    when it has none); `serial` the issuer's id of it where revocation needs one; `profile`
    the ACME profile the CA issued it under, when it says."""

    key_pem: bytes = field(repr=False)
    chain: Chain
    renewal_info_url: str | None = None
    serial: str | None = None
    # The CA's renewalInfo reply for it and its Retry-After (RFC 9773), asked right after
    # issuance so the first `renew` need not ask; None when the CA has no ARI or did not answer.
    renewal_info: tuple[Mapping[str, Any], datetime.timedelta] | None = None
    profile: str | None = None


class Issuer(Protocol):
    name: str  # "acme" or "cloudflare-origin-ca", as stored in the settings

    def issue(self, request: CertificateRequest) -> IssuedCertificate: ...
