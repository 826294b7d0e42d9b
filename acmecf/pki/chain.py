"""Certificate chains: splitting what a CA sends, checking it before anything is written,
choosing among alternate chains, and the certificate's ACME Renewal Information id.

Does not: talk to the network or write files.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from acmecf.errors import CertificateError
from acmecf.pki.keys import PrivateKey, public_key_der

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chain:
    """A verified certificate chain: the leaf and the intermediates, never a root."""

    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]

    @property
    def cert_pem(self) -> bytes:
        return self.leaf.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.intermediates)

    @property
    def fullchain_pem(self) -> bytes:
        return self.cert_pem + self.chain_pem

    @property
    def not_after(self) -> datetime.datetime:
        return self.leaf.not_valid_after_utc

    @property
    def not_before(self) -> datetime.datetime:
        return self.leaf.not_valid_before_utc


def split_pem(pem: bytes | str, source: str = "the CA's answer") -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, in order. Raises CertificateError naming `source`."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(f"cannot read {source}: no PEM certificate in it") from None


def load_certificate(pem: bytes, source: str) -> x509.Certificate:
    """The first certificate in `pem`; CertificateError naming `source` when there is none."""
    return split_pem(pem, source)[0]


def verify_chain(
    fullchain_pem: bytes | str,
    key: PrivateKey,
    names: list[str],
    *,
    require_intermediate: bool = True,
    issuer: str = "the CA",
) -> Chain:
    """Check what the CA sent before anything is written, and return it as a Chain.

    Promises: the leaf's public key is `key`'s, the leaf covers every name in `names`, each
    certificate is signed by the next one, and (unless `require_intermediate` is false: a CA
    whose root signs leaves directly) there is at least one intermediate. A self-signed root
    at the end is dropped (servers must not send it). Raises CertificateError otherwise.
    """
    certificates = split_pem(fullchain_pem, f"the certificate from {issuer}")
    if not certificates:
        raise CertificateError(f"{issuer} returned no certificate")
    while len(certificates) > 1 and _self_signed(certificates[-1]):
        certificates.pop()
    leaf, intermediates = certificates[0], certificates[1:]
    if public_key_der(key) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise CertificateError(
            f"the certificate from {issuer} does not match the private key; not saved"
        )
    covered = set(certificate_names(leaf))
    missing = [n for n in names if n not in covered]
    if missing:
        raise CertificateError(
            f"the certificate from {issuer} does not cover {', '.join(missing)}; not saved"
        )
    if require_intermediate and not intermediates:
        raise CertificateError(
            f"{issuer} sent the certificate without its intermediates; not saved (web servers "
            "must send the full chain)"
        )
    for child, parent in itertools.pairwise(certificates):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError) as err:
            raise CertificateError(
                f"the chain is broken: {child.subject.rfc4514_string()} is not signed by "
                f"{parent.subject.rfc4514_string()}; not saved"
            ) from err
        except Exception as err:  # InvalidSignature carries no message
            raise CertificateError(
                f"the chain is broken: bad signature on {child.subject.rfc4514_string()}; not saved"
            ) from err
    return Chain(leaf, tuple(intermediates))


def certificate_names(certificate: x509.Certificate) -> list[str]:
    """The DNS names in the certificate's subjectAltName, lower case."""
    try:
        san = certificate.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        ).value
    except x509.ExtensionNotFound:
        return []
    assert isinstance(san, x509.SubjectAlternativeName)
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def choose_chain(chains: list[str], issuer_name: str) -> str:
    """The first chain whose topmost certificate was issued by a CA named `issuer_name`
    (the common name, as certbot's --preferred-chain matches it); else the first chain."""
    for chain in chains:
        top = split_pem(chain)[-1]
        names = top.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        if any(str(n.value) == issuer_name for n in names):
            return chain
    log.warning(
        "no chain offered by the CA ends at an issuer named %r; using the default chain",
        issuer_name,
    )
    return chains[0]


def ari_certificate_id(certificate: x509.Certificate) -> str | None:
    """The certificate's identifier for ACME Renewal Information (RFC 9773 §4.1):
    base64url(authorityKeyIdentifier) "." base64url(serial number as DER integer content)."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    if aki.key_identifier is None:
        return None
    serial = certificate.serial_number
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # keeps the sign bit 0

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(aki.key_identifier)}.{b64(serial_bytes)}"


def _self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except Exception:
        return False
    return True
