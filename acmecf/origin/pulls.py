"""Authenticated Origin Pulls, the origin's half: the CA the web server trusts, and the client
certificate Cloudflare presents when it is your own.

Two ways to prove "this connection comes from Cloudflare":

- **shared**: Cloudflare presents its own certificate, signed by Cloudflare's public origin-pull
  CA. Shipped in the package and checked against a pinned SHA-256 before it is ever written. It
  proves only "some Cloudflare zone", anyone's.
- **own CA**: acmecf creates a private CA and a client certificate for the zone, uploads the
  certificate and its key to Cloudflare, and the web server trusts only that CA: only your zone
  can pull from your origin. The client certificate is renewed before it expires
  (`renew_client_certificates`, run by `acmecf renew`).

The files live in `<config>/origin-pull/` (storage.origin_pulls).

Does not: build requests itself (callers pass CloudflareOriginPulls and friends), configure
web servers, or print.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from acmecf.errors import AcmecfError, CertificateError, OriginPullError, StoreError
from acmecf.pki.authority import key_usage, self_signed_ca
from acmecf.pki.keys import key_pem
from acmecf.storage.origin_pulls import (
    OWN_CA,
    SHARED,
    SHARED_CA_FILE,
    OriginPullFiles,
    OriginPullState,
)

if TYPE_CHECKING:
    from acmecf.cloudflare.api import CloudflareApi
    from acmecf.cloudflare.origin_pulls import CloudflareOriginPulls
    from acmecf.cloudflare.zone_settings import CloudflareZoneSettings
    from acmecf.dns.provider import Zone

log = logging.getLogger(__name__)

UTC = datetime.UTC
# Published at https://developers.cloudflare.com/ssl/static/authenticated_origin_pull_ca.pem
SHARED_CA_SHA256 = (
    "9A:1A:C2:B4:BE:15:F9:F2:7E:EE:20:A7:34:CB:A4:E9:"
    "89:8F:61:00:1B:3B:D7:C8:4B:69:B5:6A:3E:25:A2:B9"
)
SHARED_CA_URL = "https://developers.cloudflare.com/ssl/static/authenticated_origin_pull_ca.pem"
CA_LIFETIME = datetime.timedelta(days=3650)
CLIENT_LIFETIME = datetime.timedelta(days=365)
CLIENT_RENEW_BEFORE = datetime.timedelta(days=30)


# --- Cloudflare's shared origin-pull CA ----------------------------------------------------


def fingerprint(pem: bytes) -> str:
    """The SHA-256 fingerprint of the first certificate in `pem`, as AA:BB:... (upper case)."""
    certificate = x509.load_pem_x509_certificate(pem)
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)).upper()


def check_shared_ca(pem: bytes, now: datetime.datetime | None = None) -> bytes:
    """Return `pem` when it is exactly Cloudflare's pinned origin-pull CA and still valid.

    Raises CertificateError otherwise: a file that is not the pinned one is never written for a
    web server to trust.
    """
    try:
        actual = fingerprint(pem)
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as err:
        raise CertificateError(
            f"the packaged Cloudflare origin-pull CA is unreadable ({err}): reinstall acmecf"
        ) from err
    if actual != SHARED_CA_SHA256:
        raise CertificateError(
            f"the packaged Cloudflare origin-pull CA has SHA-256 {actual}, not the pinned "
            f"{SHARED_CA_SHA256}: reinstall acmecf from a trusted source"
        )
    if certificate.not_valid_after_utc <= (now or datetime.datetime.now(UTC)):
        raise CertificateError(
            f"Cloudflare's origin-pull CA expired on {certificate.not_valid_after_utc:%Y-%m-%d}: "
            f"upgrade acmecf, or fetch the current one from {SHARED_CA_URL}"
        )
    return pem


def shared_ca_pem() -> bytes:
    """Cloudflare's origin-pull CA as shipped in the package, checked against the pin."""
    data = resources.files("acmecf").joinpath("data", SHARED_CA_FILE).read_bytes()
    return check_shared_ca(data)


# --- the private CA and the client certificate ---------------------------------------------


def create_private_ca(zone_name: str, now: datetime.datetime) -> tuple[rsa.RSAPrivateKey, bytes]:
    """A new CA (key, PEM) that signs nothing but this zone's origin-pull client certificates."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acmecf"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"origin-pull CA for {zone_name}"[:64]),
        ]
    )
    certificate = self_signed_ca(key, name, now - datetime.timedelta(minutes=5), now + CA_LIFETIME)
    return key, certificate.public_bytes(serialization.Encoding.PEM)


def issue_client_certificate(
    ca_key: rsa.RSAPrivateKey, ca_pem: bytes, zone_name: str, now: datetime.datetime
) -> tuple[rsa.RSAPrivateKey, bytes]:
    """A new client certificate (key, PEM) signed by the private CA, for TLS client auth only."""
    ca = x509.load_pem_x509_certificate(ca_pem)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acmecf"),
                    x509.NameAttribute(
                        NameOID.COMMON_NAME, f"Cloudflare origin pull for {zone_name}"[:64]
                    ),
                ]
            )
        )
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + CLIENT_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_CLIENT_KEY_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


_CLIENT_KEY_USAGE = key_usage(digital_signature=True, key_encipherment=True)


# --- the zone's files ------------------------------------------------------------------------


def write_shared_ca(files: OriginPullFiles) -> None:
    """Write Cloudflare's CA (after checking its pin) where the web server reads it."""
    files.write_shared_ca(shared_ca_pem())


def ensure_private_ca(files: OriginPullFiles, zone_name: str, now: datetime.datetime) -> bool:
    """Create the zone's private CA unless it exists; True when it was created."""
    if files.read(zone_name, "ca.pem") and files.read(zone_name, "ca-key.pem"):
        return False
    key, pem = create_private_ca(zone_name, now)
    files.write(zone_name, {"ca-key.pem": (key_pem(key), 0o600), "ca.pem": (pem, 0o644)})
    log.info("created a private origin-pull CA for %s: %s", zone_name, files.ca(zone_name))
    return True


def new_client_certificate(
    files: OriginPullFiles, zone_name: str, now: datetime.datetime
) -> tuple[bytes, bytes]:
    """A fresh client certificate and key (PEM) from the zone's CA; nothing is written."""
    ca_key_pem = files.read(zone_name, "ca-key.pem")
    ca_pem = files.read(zone_name, "ca.pem")
    if not ca_key_pem or not ca_pem:
        raise StoreError(
            f"the private origin-pull CA of {zone_name} is missing from "
            f"{files.zone_dir(zone_name)}: run `acmecf cloudflare origin-pulls enable --own-ca` "
            "again"
        )
    try:
        ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    except ValueError as err:
        raise StoreError(f"cannot read {files.ca_key(zone_name)}: {err}") from err
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise StoreError(f"{files.ca_key(zone_name)} is not the RSA key acmecf wrote")
    key, pem = issue_client_certificate(ca_key, ca_pem, zone_name, now)
    return pem, key_pem(key)


def save_client_certificate(
    files: OriginPullFiles, zone_name: str, certificate: bytes, key: bytes
) -> None:
    # Key first: a reader never finds a new certificate next to the old key for long.
    files.write(zone_name, {"client-key.pem": (key, 0o600), "client.pem": (certificate, 0o600)})


def client_not_after(files: OriginPullFiles, zone_name: str) -> datetime.datetime | None:
    data = files.read(zone_name, "client.pem")
    if data is None:
        return None
    try:
        return x509.load_pem_x509_certificate(data).not_valid_after_utc
    except ValueError as err:
        raise StoreError(f"cannot read {files.client(zone_name)}: {err}") from err


# --- waiting for Cloudflare to deploy an upload ----------------------------------------------

# Cloudflare deploys an uploaded client certificate within minutes (pending_deployment, then
# active) and presents the new one only once it is active; the old one must stay until then.
# https://developers.cloudflare.com/ssl/origin-configuration/authenticated-origin-pull/set-up/zone-level/
DEPLOY_TIMEOUT = 600.0
DEPLOY_POLL = (1.0, 5.0)  # first pause, longest pause
DEPLOY_PROGRESS_EVERY = 10.0


@dataclass(frozen=True)
class DeployWait:
    """How to wait for an upload to become active: clock, sleep (both injectable) and limit."""

    timeout: float = DEPLOY_TIMEOUT
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def wait_until_active(
    pulls: CloudflareOriginPulls,
    zone: Zone,
    certificate_id: str,
    *,
    hostname_level: bool,
    wait: DeployWait,
) -> None:
    """Return once Cloudflare reports the uploaded certificate `active`; log progress every
    ~10 s. Raises OriginPullError after `wait.timeout` (the upload stays; nothing else was
    changed) or when Cloudflare reports it failed."""
    read = pulls.hostname_certificate if hostname_level else pulls.zone_certificate
    start = wait.clock()
    pause, next_progress = DEPLOY_POLL[0], start + DEPLOY_PROGRESS_EVERY
    while True:
        status = read(zone, certificate_id).status or "unknown"
        if status == "active":
            log.info("Cloudflare deployed the origin-pull certificate %s", certificate_id)
            return
        now = wait.clock()
        if status in ("deleted", "pending_deletion", "expired", "revoked") or "fail" in status:
            raise OriginPullError(
                f"Cloudflare reports the uploaded origin-pull certificate {certificate_id} "
                f"{status}: the previous one stays in use; run the command again"
            )
        if now - start >= wait.timeout:
            raise OriginPullError(
                f"Cloudflare still reports the uploaded origin-pull certificate "
                f"{certificate_id} {status} after {wait.timeout:.0f}s: the previous one stays "
                "in use; run the command again later"
            )
        if now >= next_progress:
            log.info(
                "waiting for Cloudflare to deploy the origin-pull certificate %s (%s, %.0fs)",
                certificate_id,
                status,
                now - start,
            )
            next_progress = now + DEPLOY_PROGRESS_EVERY
        wait.sleep(min(pause, max(0.0, wait.timeout - (now - start))))
        pause = min(pause * 1.5, DEPLOY_POLL[1])


# --- switching origin pulls on and off through the API ---------------------------------------

UNUSABLE_SSL_MODES = ("off", "flexible")


def enable(
    files: OriginPullFiles,
    settings: CloudflareZoneSettings,
    pulls: CloudflareOriginPulls,
    state: OriginPullState,
    *,
    own_ca: bool,
    hostnames: list[str],
    now: datetime.datetime,
    wait: DeployWait | None = None,
) -> OriginPullState:
    """Switch origin pulls on: Cloudflare's shared certificate for the zone, or (`own_ca`) the
    zone's own client certificate, for the whole zone or (`hostnames`) only for those names.
    An uploaded certificate is waited for until Cloudflare reports it active (`wait`), so the
    caller may tell the user to make the web server demand it.

    Refuses (OriginPullError) while the zone's SSL mode is off or flexible: Cloudflare then
    does not connect over TLS, so origin pulls cannot work. Writes the CA file the web server
    must trust before anything changes at Cloudflare. Idempotent: running it again uploads
    nothing new. Returns the state to save. Raises CloudflareError, StoreError.
    """
    zone = _zone(state)
    mode = settings.ssl_mode(zone)
    if mode in UNUSABLE_SSL_MODES:
        raise OriginPullError(
            f"{state.zone_name} uses SSL mode {mode}: Cloudflare does not connect to the origin "
            "over TLS then, so origin pulls cannot work; make the origin pass `acmecf origin "
            "check`, then run `acmecf cloudflare ssl-mode strict` (or full) first"
        )
    if own_ca or hostnames:
        state = _enable_own_ca(
            files, pulls, state, hostnames=hostnames, now=now, wait=wait or DeployWait()
        )
    else:
        write_shared_ca(files)
        if state.zone_level == OWN_CA:
            pulls.set_zone_enabled(zone, False)  # back to Cloudflare's shared certificate
        state = dataclasses.replace(state, zone_level=SHARED, zone_certificate_id=None)
    # The global switch: without it neither zone nor host name certificates are presented.
    if not settings.origin_pulls(zone):
        settings.set_origin_pulls(zone, True)
    return state


def disable(
    settings: CloudflareZoneSettings,
    pulls: CloudflareOriginPulls,
    state: OriginPullState,
    *,
    hostnames: list[str],
) -> OriginPullState:
    """Switch zone-level origin pulls off, or (`hostnames`) only remove those names' own
    associations; what was not asked for (the other level, the global switch when only names
    go) is left as it is (`others_on` says what stays on).

    The web server must stop demanding a client certificate first, or every request through
    Cloudflare fails with 400 "No required SSL certificate was sent". Files stay (the CA and
    client certificate can be enabled again). Returns the state to save.
    """
    zone = _zone(state)
    if hostnames:
        remaining = dict(state.hostnames)
        for hostname in hostnames:
            certificate_id = remaining.pop(hostname.lower(), None)
            if certificate_id is not None:
                pulls.set_hostname(zone, hostname, certificate_id, None)  # null voids it
        return dataclasses.replace(state, hostnames=remaining)
    if state.zone_level == OWN_CA:
        pulls.set_zone_enabled(zone, False)
    settings.set_origin_pulls(zone, False)
    return dataclasses.replace(state, zone_level=None)


def others_on(state: OriginPullState, *, hostnames: list[str]) -> list[str]:
    """What of this zone's origin pulls stays on besides what `hostnames` (or, when empty, the
    zone level) names: lines for the user."""
    lines = []
    if hostnames and state.zone_level is not None:
        lines.append(f"zone-level origin pulls ({state.zone_level}) stay on for {state.zone_name}")
    others = sorted(set(state.hostnames) - {h.lower() for h in hostnames})
    if others:
        lines.append(f"per-hostname origin pulls stay on for {', '.join(others)}")
    return lines


def _enable_own_ca(
    files: OriginPullFiles,
    pulls: CloudflareOriginPulls,
    state: OriginPullState,
    *,
    hostnames: list[str],
    now: datetime.datetime,
    wait: DeployWait,
) -> OriginPullState:
    zone = _zone(state)
    ensure_private_ca(files, state.zone_name, now)
    if client_not_after(files, state.zone_name) is None:
        certificate, key = new_client_certificate(files, state.zone_name, now)
        save_client_certificate(files, state.zone_name, certificate, key)
    certificate_pem = (files.read(state.zone_name, "client.pem") or b"").decode()
    client_key_pem = (files.read(state.zone_name, "client-key.pem") or b"").decode()
    if hostnames:
        hostname_ids = dict(state.hostnames)
        certificate_id = next(iter(hostname_ids.values()), None)
        if certificate_id is None:
            certificate_id = pulls.upload_hostname_certificate(
                zone, certificate_pem, client_key_pem
            ).id
        wait_until_active(pulls, zone, certificate_id, hostname_level=True, wait=wait)
        for hostname in hostnames:
            pulls.set_hostname(zone, hostname, certificate_id, True)
            hostname_ids[hostname.lower()] = certificate_id
        return dataclasses.replace(state, hostnames=hostname_ids)
    uploaded = {c.id for c in pulls.zone_certificates(zone)}
    certificate_id = state.zone_certificate_id
    if certificate_id is None or certificate_id not in uploaded:
        certificate_id = pulls.upload_zone_certificate(zone, certificate_pem, client_key_pem).id
    wait_until_active(pulls, zone, certificate_id, hostname_level=False, wait=wait)
    pulls.set_zone_enabled(zone, True)
    return dataclasses.replace(state, zone_level=OWN_CA, zone_certificate_id=certificate_id)


# --- renewing the client certificate ---------------------------------------------------------


@dataclass(frozen=True)
class ClientRenewal:
    """How one zone's client certificate renewal went: `error` is None on success."""

    zone_name: str
    not_after: datetime.datetime | None
    error: AcmecfError | None = None


def client_certificates_due(
    files: OriginPullFiles,
    now: datetime.datetime,
    *,
    before: datetime.timedelta = CLIENT_RENEW_BEFORE,
) -> list[str]:
    """The zones whose own-CA client certificate expires within `before` (or is missing).

    Reads only local files: no network, cheap enough for every `acmecf renew`.
    """
    due = []
    for state in files.states():
        if not state.uses_own_ca():
            continue
        not_after = client_not_after(files, state.zone_name)
        if not_after is None or not_after - now <= before:
            due.append(state.zone_name)
    return due


def renew_client_certificates(
    files: OriginPullFiles,
    api_for: Callable[[str | None], CloudflareApi],
    *,
    now: datetime.datetime | None = None,
    before: datetime.timedelta = CLIENT_RENEW_BEFORE,
    force: bool = False,
    wait: DeployWait | None = None,
) -> list[ClientRenewal]:
    """Renew every own-CA origin-pull client certificate that is due (or all, with `force`).

    For each zone: a new certificate from the same private CA (so the web server needs no
    change), uploaded where the old one was used (zone level and every host name), waited for
    until Cloudflare reports it active (`wait`), then saved, then the old upload deleted: the
    edge never lacks a certificate the origin accepts. `api_for(credentials_file)` gives the
    API client for the credentials the zone was set up with. One zone's failure does not stop
    the others; it is returned with its error, and the old certificate stays in use.
    """
    from acmecf.cloudflare.origin_pulls import CloudflareOriginPulls

    moment = now or datetime.datetime.now(UTC)
    due = set(client_certificates_due(files, moment, before=before))
    results: list[ClientRenewal] = []
    for state in files.states():
        if not state.uses_own_ca() or not (force or state.zone_name in due):
            continue
        try:
            pulls = CloudflareOriginPulls(api_for(state.credentials_file))
            renewed = _renew_one(files, pulls, state, moment, wait or DeployWait())
            results.append(ClientRenewal(state.zone_name, renewed))
        except AcmecfError as err:
            log.warning(
                "origin-pull client certificate of %s not renewed: %s", state.zone_name, err
            )
            results.append(ClientRenewal(state.zone_name, None, err))
    return results


def _renew_one(
    files: OriginPullFiles,
    pulls: CloudflareOriginPulls,
    state: OriginPullState,
    now: datetime.datetime,
    wait: DeployWait,
) -> datetime.datetime:
    zone = _zone(state)
    certificate, key = new_client_certificate(files, state.zone_name, now)
    old_zone_id = state.zone_certificate_id
    old_hostname_ids = set(state.hostnames.values())
    new_state = dataclasses.replace(state)
    if state.zone_level == OWN_CA:
        uploaded = pulls.upload_zone_certificate(zone, certificate.decode(), key.decode())
        wait_until_active(pulls, zone, uploaded.id, hostname_level=False, wait=wait)
        new_state.zone_certificate_id = uploaded.id
    if state.hostnames:
        uploaded = pulls.upload_hostname_certificate(zone, certificate.decode(), key.decode())
        wait_until_active(pulls, zone, uploaded.id, hostname_level=True, wait=wait)
        for hostname in state.hostnames:
            pulls.set_hostname(zone, hostname, uploaded.id, True)
        new_state.hostnames = {hostname: uploaded.id for hostname in state.hostnames}
    save_client_certificate(files, state.zone_name, certificate, key)
    files.save(new_state)
    # Only now that Cloudflare presents the new certificate (active) may the old one go.
    if old_zone_id is not None and old_zone_id != new_state.zone_certificate_id:
        _delete_quietly(pulls.delete_zone_certificate, zone, old_zone_id)
    for old in old_hostname_ids - set(new_state.hostnames.values()):
        _delete_quietly(pulls.delete_hostname_certificate, zone, old)
    log.info("renewed the origin-pull client certificate of %s", state.zone_name)
    return x509.load_pem_x509_certificate(certificate).not_valid_after_utc


def _delete_quietly(delete: Callable[[Zone, str], None], zone: Zone, certificate_id: str) -> None:
    try:
        delete(zone, certificate_id)
    except AcmecfError as err:
        log.warning(
            "could not delete the old origin-pull certificate %s at Cloudflare: %s (delete it "
            "in the dashboard under SSL/TLS > Origin Server)",
            certificate_id,
            err,
        )


def _zone(state: OriginPullState) -> Zone:
    from acmecf.dns.provider import Zone

    return Zone(state.zone_id, state.zone_name)
