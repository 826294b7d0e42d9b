"""A tiny in-memory CA for unit tests: root -> intermediate -> leaf."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    names: list[str] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=1))
        .not_valid_after(NOW + datetime.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


class TinyCA:
    def __init__(self, root_name: str = "Root") -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = make_certificate(root_name, self.root_key, root_name, self.root_key, ca=True)
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = make_certificate(
            "Intermediate", self.intermediate_key, root_name, self.root_key, ca=True
        )

    def leaf(self, key: ec.EllipticCurvePrivateKey, names: list[str]) -> x509.Certificate:
        return make_certificate(
            names[0], key, "Intermediate", self.intermediate_key, ca=False, names=names
        )

    def leaf_for_public_key(self, public_key: object, names: list[str]) -> x509.Certificate:
        """A leaf for a public key only (what a CA gets from a CSR)."""

        class _Holder:
            def public_key(self) -> object:
                return public_key

        return make_certificate(
            names[0],
            _Holder(),
            "Intermediate",
            self.intermediate_key,
            ca=False,
            names=names,  # type: ignore[arg-type]
        )
