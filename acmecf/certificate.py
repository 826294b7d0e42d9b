"""Keys, certificate signing requests and the checks a downloaded chain must pass.

Owns the X.509 side: generating a private key of the asked type, building the CSR, and
splitting and verifying what the CA returns. Does not talk to the network or write files.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from typing import Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtensionOID, NameOID

from acmecf.errors import CertificateError, UsageError

KeyType = Literal["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"]
KEY_TYPES: tuple[str, ...] = get_args(KeyType)
DEFAULT_KEY_TYPE: KeyType = "ecdsa-p256"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_key(key_type: str) -> PrivateKey:
    """A fresh private key of `key_type` (one of KEY_TYPES)."""
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise UsageError(f"unknown key type {key_type!r}: use one of {', '.join(KEY_TYPES)}")


def key_type_of(key: PrivateKey) -> str:
    """The KEY_TYPES name of `key` (e.g. "ecdsa-p256", "rsa-2048")."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"ecdsa-p{key.curve.key_size}"
    return f"rsa-{key.key_size}"


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError("the private key is neither ECDSA nor RSA")
    return key


def make_csr(key: PrivateKey, names: list[str], *, must_staple: bool = False) -> bytes:
    """A PEM CSR for `names` (all in the SAN; the first also as CN when it fits in 64 chars),
    asking for the OCSP Must-Staple TLS feature (RFC 7633) when `must_staple`."""
    subject = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        if len(names[0]) <= 64
        else x509.Name([])
    )
    signer: CertificateIssuerPrivateKeyTypes = key
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    )
    if must_staple:
        builder = builder.add_extension(
            x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False
        )
    csr = builder.sign(signer, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


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


def split_pem(pem: bytes | str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, in order."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise CertificateError(f"the CA returned an unreadable certificate chain: {err}") from err


def verify_chain(fullchain_pem: bytes | str, key: PrivateKey, names: list[str]) -> Chain:
    """Check what the CA sent before anything is written, and return it as a Chain.

    Promises: the leaf's public key is `key`'s, the leaf covers every name in `names`, each
    certificate is signed by the next one, and there is at least one intermediate. A self-signed
    root at the end is dropped (servers must not send it). Raises CertificateError otherwise.
    """
    certificates = split_pem(fullchain_pem)
    if not certificates:
        raise CertificateError("the CA returned no certificate")
    while len(certificates) > 1 and _self_signed(certificates[-1]):
        certificates.pop()
    leaf, intermediates = certificates[0], certificates[1:]
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise CertificateError("the issued certificate does not match the private key; not saved")
    covered = set(certificate_names(leaf))
    missing = [n for n in names if n not in covered]
    if missing:
        raise CertificateError(
            f"the issued certificate does not cover {', '.join(missing)}; not saved"
        )
    if not intermediates:
        raise CertificateError(
            "the CA sent the certificate without its intermediates; not saved (web servers "
            "must send the full chain)"
        )
    for child, issuer in itertools.pairwise(certificates):
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError) as err:
            raise CertificateError(
                f"the chain is broken: {child.subject.rfc4514_string()} is not signed by "
                f"{issuer.subject.rfc4514_string()}; not saved"
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


def self_signed_ca(
    key: CertificateIssuerPrivateKeyTypes,
    name: x509.Name,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    *,
    path_length: int | None = 0,
) -> x509.Certificate:
    """A self-signed CA certificate for `key`: CA basic constraints, certificate and CRL
    signing only, and a subject key identifier."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def ari_certificate_id(certificate: x509.Certificate) -> str | None:
    """The certificate's identifier for ACME Renewal Information (RFC 9773 §4.1):
    base64url(authorityKeyIdentifier) "." base64url(serial number as DER integer content)."""
    import base64

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
