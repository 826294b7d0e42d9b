"""Private keys: generating one of the asked type, reading one, writing one as PKCS#8 PEM.

Does not: write files or know where keys live.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acmecf.errors import CertificateError, UsageError
from acmecf.settings.table import KEY_TYPES

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
    """`key` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes, source: str = "the private key") -> PrivateKey:
    """The ECDSA or RSA private key in `pem`. Raises CertificateError naming `source` when it is
    not a readable, unencrypted PEM private key of those types."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        reason = (
            "it is encrypted" if "encrypted" in str(err).lower() else "no PEM private key in it"
        )
        raise CertificateError(f"cannot read {source}: {reason}") from None
    except Exception:  # the backend's own errors (unsupported algorithms)
        raise CertificateError(f"cannot read {source}: not a key acmecf can use") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError(f"{source} is neither an ECDSA nor an RSA key")
    return key


def same_public_key(key: PrivateKey, public_der: bytes) -> bool:
    """Whether `public_der` (SubjectPublicKeyInfo DER) is `key`'s public key."""
    return public_key_der(key) == public_der


def public_key_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
