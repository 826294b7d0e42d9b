"""Certificate signing requests. Does not: talk to the network or write files."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from acmecf.pki.keys import PrivateKey


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


def csr_names(csr_pem: bytes) -> list[str]:
    """The DNS names a PEM CSR asks for, in order."""
    csr = x509.load_pem_x509_csr(csr_pem)
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.DNSName))
