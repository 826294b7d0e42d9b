"""Key and chain in one file for the tools that want them so: PKCS#12 (Java keystores, Windows,
appliances).

Does not: write files (storage does) or read the password file (the caller does).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from acmecf.pki.chain import split_pem
from acmecf.pki.keys import load_key


def pkcs12_bundle(
    name: str, key_pem: bytes, cert_pem: bytes, chain_pem: bytes, password: str | None
) -> bytes:
    """A PKCS#12 file holding the key, the leaf and the intermediates, under the friendly
    name `name`. With `password`, the key and certificates are encrypted (AES-256-CBC with
    PBKDF2, as OpenSSL 3 writes by default, which Java 8u301+ and Windows Server 2019+ read);
    without, nothing is (anyone who can read the file has the key)."""
    key = load_key(key_pem, f"the key of {name}")
    leaf = split_pem(cert_pem, f"the certificate of {name}")[0]
    intermediates = split_pem(chain_pem, f"the chain of {name}") if chain_pem.strip() else []
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, leaf, intermediates or None, encryption
    )
