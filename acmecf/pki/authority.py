"""Small certificate authorities: self-signed CA certificates for origin pulls and test beds.

Does not: write files or keep keys.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes


def ca_key_usage() -> x509.KeyUsage:
    """Certificate and CRL signing (and digital signatures), nothing else."""
    return key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True)


def key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """A KeyUsage extension with only the named bits set."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


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
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
