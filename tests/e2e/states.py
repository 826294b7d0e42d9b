"""Helpers for end-to-end tests of renewal timing: read and change a certificate's stored state,
and count what Pebble was asked.

Renewals are timed in hours and days, which a test cannot wait for. What acmecf decides from
is the stored state (validity, the ARI moment, when to ask the CA again), so a test moves time
by shifting every moment in the state back, exactly as if that much time had passed; the CA
and the certificate files stay real.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from acmecf.sandbox.testbed import Sandbox
from acmecf.storage.files import FileStore
from acmecf.storage.model import TIME_FIELDS, CertificateState, StoredCertificate

UTC = datetime.UTC
RENEWAL_INFO = "GET /draft-ietf-acme-ari-03/renewalInfo/ -> calling handler()"
NEW_ORDER = "POST /order-plz -> calling handler()"
REPLACEMENT = "is a replacement of"


def stored(config_dir: Path, name: str) -> StoredCertificate:
    return FileStore(config_dir).load(name)


def change_state(config_dir: Path, name: str, **changes: Any) -> CertificateState:
    """Set fields of the stored state (under the certificate's lock, as acmecf would)."""
    store = FileStore(config_dir)
    with store.lock(name):
        certificate = store.load(name)
        state = dataclasses.replace(certificate.state, **changes)
        store.save(StoredCertificate(certificate.settings, state))
    return state


def ask_ari_now(config_dir: Path, name: str) -> None:
    """As if the CA's Retry-After (6 hours at Pebble) had passed."""
    change_state(config_dir, name, ari_next_check=datetime.datetime.now(UTC))


def travel(config_dir: Path, name: str, elapsed: datetime.timedelta) -> None:
    """As if `elapsed` had passed since the state was written: every moment moves back."""
    store = FileStore(config_dir)
    with store.lock(name):
        certificate = store.load(name)
        moved = {
            field: getattr(certificate.state, field) - elapsed
            for field in TIME_FIELDS
            if getattr(certificate.state, field) is not None
        }
        state = dataclasses.replace(certificate.state, **moved)
        store.save(StoredCertificate(certificate.settings, state))


def pebble_count(sandbox: Sandbox, needle: str) -> int:
    return sandbox.pebble.log_text().count(needle)


def leaf(live: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())


def lifetime(certificate: x509.Certificate) -> datetime.timedelta:
    # Pebble's notAfter is the validity period less one second after notBefore.
    return (
        certificate.not_valid_after_utc
        - certificate.not_valid_before_utc
        + datetime.timedelta(seconds=1)
    )


def versions(config_dir: Path, name: str) -> list[str]:
    return sorted(p.name for p in (config_dir / "archive" / name).iterdir())
