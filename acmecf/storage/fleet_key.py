"""The fleet key: private keys are encrypted with it before they leave this machine.

Every origin of a fleet holds the same 256-bit key in a file: 32 random bytes as
`head -c 32 /dev/urandom` makes them, or their base64 on one line. A shared store keeps each
private key (a certificate's, an account's) as an AES-256-GCM ciphertext whose authenticated
data is the name of the place it is stored under, so a blob copied or swapped to another place
(another certificate's key, another version) fails to decrypt instead of being served. Each
blob names the key it was made with by a key id (a hash of the key, safe to show), so a wrong
key is told apart from a damaged blob and said in one line.

    {"alg": "A256GCM", "kid": "3f9a1c0e5b7d2a64", "nonce": "<base64>", "data": "<base64>"}

Does not: decide where the key file is (settings.store does), or store anything; it imports
`cryptography` only when it encrypts or decrypts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from acmecf.errors import FleetKeyError, StoreError
from acmecf.redaction import remember_secret
from acmecf.storage.safe import read_trusted_file

KEY_BYTES = 32
NONCE_BYTES = 12  # AES-GCM's standard nonce; random per blob (2^-32 collision risk after 2^32)
ALGORITHM = "A256GCM"
_CONTEXT = b"acmecf fleet key v1\0"
MAX_FILE_BYTES = 4096
MAKE_ONE = "make one with `head -c 32 /dev/urandom > FILE` and copy it to every origin"


@dataclass(frozen=True)
class FleetKey:
    """A loaded fleet key; `source` says where it came from (for messages, never the key)."""

    secret: bytes = field(repr=False)
    source: str

    @property
    def key_id(self) -> str:
        """A short public id of the key: the first 16 hex digits of a SHA-256 over it."""
        return hashlib.sha256(b"acmecf fleet key id\0" + self.secret).hexdigest()[:16]

    def encrypt(self, plaintext: bytes, place: str) -> dict[str, str]:
        """`plaintext` sealed for `place` (the name it is stored under), as a JSON-ready blob."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(NONCE_BYTES)
        data = AESGCM(self.secret).encrypt(nonce, plaintext, _CONTEXT + place.encode())
        return {
            "alg": ALGORITHM,
            "kid": self.key_id,
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "data": base64.b64encode(data).decode("ascii"),
        }

    def decrypt(self, blob: object, place: str, *, where: str) -> bytes:
        """The plaintext of a blob stored at `place`. Raises FleetKeyError when the blob was
        made with another key, StoreError (naming `where`) when it is damaged or was moved
        from another place."""
        if not isinstance(blob, Mapping) or blob.get("alg") != ALGORITHM:
            raise StoreError(
                f"{where} holds no key encrypted by acmecf: issue the certificate again "
                "(acmecf renew --force --cert-name NAME) or push the account again"
            )
        if blob.get("kid") != self.key_id:
            raise FleetKeyError(
                f"the fleet key from {self.source} (id {self.key_id}) is not the one {where} was "
                f"encrypted with (id {blob.get('kid')}): use the same key file on every origin"
            )
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            nonce = base64.b64decode(str(blob["nonce"]), validate=True)
            data = base64.b64decode(str(blob["data"]), validate=True)
            return AESGCM(self.secret).decrypt(nonce, data, _CONTEXT + place.encode())
        except (KeyError, ValueError, binascii.Error, InvalidTag) as err:
            raise StoreError(
                f"the encrypted private key at {where} does not decrypt with the fleet key: it "
                "was damaged, or copied there from another place; issue the certificate again "
                "(acmecf renew --force --cert-name NAME)"
            ) from err

    def check_store_id(self, stored_id: str, where: str) -> None:
        """Raise FleetKeyError when a store written with the key `stored_id` is opened with
        this one."""
        if stored_id != self.key_id:
            raise FleetKeyError(
                f"the fleet key from {self.source} (id {self.key_id}) is not the key of the "
                f"store at {where} (id {stored_id}): use the same key file on every origin"
            )


def parse_key(data: bytes, source: str) -> FleetKey:
    """The key a key file holds: exactly 32 bytes, or their base64 on one line (a final line
    break allowed). Raises FleetKeyError naming `source`."""
    if len(data) == KEY_BYTES:
        key = data
    else:
        try:
            text = data.decode("ascii").strip()
            key = base64.b64decode(text, validate=True)
        except (UnicodeDecodeError, binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise FleetKeyError(
                f"the fleet key {source} holds {len(data)} bytes, not a 32-byte key (raw, or "
                f"its base64 on one line): {MAKE_ONE}"
            )
    remember_secret(base64.b64encode(key).decode("ascii"))
    return FleetKey(key, source)


def read_key_file(path: Path, what: str = "fleet key file") -> FleetKey:
    """The key in `path`. Like ssh with private keys, a file that group or others may read,
    that another user owns, or that is not a regular file is refused. Raises FleetKeyError."""
    data = read_trusted_file(path, f"the {what}", FleetKeyError, private=True, limit=MAX_FILE_BYTES)
    return parse_key(data, f"{what} {path}")
