"""What the stores hold: a certificate's settings and state, its key and chain, accounts, and
the challenge-record journal's entries.

`CertificateState` is what the last issuance left to know, so deciding what is due needs no
certificate parsing; `state_from_mapping` checks a stored state table. Plain data: does not
read or write anything.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acmecf.errors import SettingError
from acmecf.settings.table import CertificateSettings

UTC = datetime.UTC
LIVE_FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")
COMBINED_FILE = "combined.pem"
PKCS12_FILE = "cert.p12"
KEY_FILES = ("privkey.pem", COMBINED_FILE, PKCS12_FILE)  # the files that hold the private key


@dataclass(frozen=True)
class CertificateState:
    """What acmecf knows about a certificate's live version and its renewals.

    `version` is the live version this state describes; `deployed_version` the last version
    whose deploy hooks ran (a version that went live without them, because a run died, gets
    them on the next run). `profile` is the ACME profile the CA issued it under;
    `replaced_elsewhere` when the CA refused to replace it because another order (another
    machine with the same account) already had (RFC 9773 alreadyReplaced).
    """

    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    ari_id: str | None = None  # RFC 9773 certificate identifier, for renewalInfo and `replaces`
    renewal_info_url: str | None = None  # the CA's renewalInfo base URL; None: no ARI there
    ari_renew_at: datetime.datetime | None = None  # the moment picked inside the ARI window
    ari_next_check: datetime.datetime | None = None
    last_attempt: datetime.datetime | None = None
    last_result: str | None = None  # "ok", "revoked" or the error line
    last_success: datetime.datetime | None = None
    version: str | None = None
    deployed_version: str | None = None
    serial: str | None = None  # the issuer's id of the live certificate (Origin CA: its serial)
    profile: str | None = None
    replaced_elsewhere: datetime.datetime | None = None


TIME_FIELDS = frozenset(
    f.name for f in dataclasses.fields(CertificateState) if "datetime" in str(f.type)
)


@dataclass(frozen=True)
class StoredCertificate:
    settings: CertificateSettings
    state: CertificateState = field(default_factory=CertificateState)

    @property
    def name(self) -> str:
        return self.settings.cert_name


@dataclass(frozen=True)
class BrokenCertificate:
    """A stored certificate whose settings or state cannot be read; `error` says why."""

    name: str
    error: str


@dataclass(frozen=True)
class CertificateMaterial:
    """A certificate version as published: PEM texts of the key, the leaf and the
    intermediates (never the root)."""

    privkey: bytes = field(repr=False)
    cert: bytes
    chain: bytes
    given_fullchain: bytes | None = None  # as another tool wrote it (an import), else built

    @property
    def fullchain(self) -> bytes:
        return self.given_fullchain if self.given_fullchain is not None else self.cert + self.chain


@dataclass(frozen=True)
class OutputFiles:
    """What a version holds besides the four PEM files, and who may read its key.

    The caller decides (from the certificate's settings, pki building the PKCS#12 bytes); the
    store writes it as given, in the same version and the same atomic switch as the rest.
    `key_gid` is the group that may read the files holding the key (0640) and enter the
    certificate's directories (0750); None keeps them the owner's alone (0600 and 0700).
    """

    combined: bool = False  # combined.pem: the private key, then the full chain
    pkcs12: bytes | None = field(default=None, repr=False)  # cert.p12, as it is to be written
    key_gid: int | None = None


@dataclass(frozen=True)
class LiveCertificate:
    """The live version of a certificate: its id and its material."""

    version: str
    material: CertificateMaterial


@dataclass(frozen=True)
class StoredAccount:
    """An ACME account's key (PEM) and what the CA said at registration (`uri` and more)."""

    key_pem: bytes = field(repr=False)
    info: Mapping[str, Any]


@dataclass(frozen=True)
class JournalEntry:
    """A challenge record acmecf created or is about to create: enough to delete exactly it.

    `provider` tells which credentials created it (a credentials file path, or None for the
    environment or systemd credential), never the credentials themselves.
    """

    zone_id: str | None
    zone_name: str | None
    name: str
    value: str
    provider: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JournalEntry:
        return cls(
            zone_id=_optional_text(data.get("zone_id")),
            zone_name=_optional_text(data.get("zone_name")),
            name=str(data["name"]),
            value=str(data["value"]),
            provider=_optional_text(data.get("provider")),
        )


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def state_from_mapping(table: Mapping[str, Any]) -> CertificateState:
    """The state a stored `[state]` table holds, every value checked: times are TOML datetimes
    (or ISO 8601 text, as the state cache keeps them), the rest strings. Unknown keys are
    ignored (a newer acmecf may add some). Raises SettingError naming the key."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(CertificateState):
        if item.name not in table:
            continue
        raw = table[item.name]
        key = f"state.{item.name}"
        if item.name in TIME_FIELDS:
            values[item.name] = _time(raw, key)
        elif isinstance(raw, str):
            values[item.name] = raw
        else:
            raise SettingError(key, f"must be a string, not {type(raw).__name__}")
    return CertificateState(**values)


def state_to_mapping(state: CertificateState) -> dict[str, Any]:
    """The `[state]` table for `state` (None values left out, times as aware UTC datetimes)."""
    result: dict[str, Any] = {}
    for item in dataclasses.fields(CertificateState):
        value = getattr(state, item.name)
        if value is not None:
            result[item.name] = value
    return result


def state_to_json(state: CertificateState) -> dict[str, str]:
    """The state as JSON-ready strings (for caches)."""
    return {
        key: value.isoformat() if isinstance(value, datetime.datetime) else value
        for key, value in state_to_mapping(state).items()
    }


def _time(raw: object, key: str) -> datetime.datetime:
    if isinstance(raw, datetime.datetime):
        moment = raw
    elif isinstance(raw, str):
        try:
            moment = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise SettingError(key, f"{raw!r} is not a date and time") from None
    else:
        raise SettingError(key, f"must be a date and time, not {type(raw).__name__}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class OriginSync:
    """What an origin last synced of a certificate: the version, its digest, when, and how its
    deploy hooks went ("ok" or the error)."""

    origin: str
    name: str
    version: str
    digest: str
    synced_at: str
    result: str


def material_digest(material: CertificateMaterial) -> str:
    """A digest of a version's public parts (leaf and chain): equal digests, same version,
    without reading or decrypting the key (the leaf names the key's public half)."""
    hashed = hashlib.sha256()
    for part in (material.cert, material.chain):
        hashed.update(len(part).to_bytes(8, "big"))
        hashed.update(part)
    return hashed.hexdigest()
