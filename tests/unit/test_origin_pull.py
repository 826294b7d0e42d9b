"""Cloudflare's shipped origin-pull CA and its pin, the private CA, the client certificate and
what acmecf remembers per zone."""

from __future__ import annotations

import datetime
import logging
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from acmecf.cloudflare.origin_pulls import OriginPullCertificate
from acmecf.dns.provider import Zone
from acmecf.errors import CertificateError, OriginPullError
from acmecf.origin.pulls import (
    SHARED_CA_SHA256,
    DeployWait,
    check_shared_ca,
    client_certificates_due,
    create_private_ca,
    ensure_private_ca,
    fingerprint,
    issue_client_certificate,
    new_client_certificate,
    others_on,
    save_client_certificate,
    shared_ca_pem,
    wait_until_active,
    write_shared_ca,
)
from acmecf.storage.files import FileStore
from acmecf.storage.origin_pulls import OWN_CA, SHARED, OriginPullFiles, OriginPullState

from .x509_factory import TinyCA, pem

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.datetime.now(datetime.UTC)


def test_the_shipped_ca_is_cloudflares_with_the_pinned_fingerprint() -> None:
    data = shared_ca_pem()
    assert fingerprint(data) == SHARED_CA_SHA256
    certificate = x509.load_pem_x509_certificate(data)
    assert "CN=origin-pull.cloudflare.net" in certificate.subject.rfc4514_string()
    assert data == (ROOT / "acmecf" / "data" / "cloudflare-origin-pull-ca.pem").read_bytes()


def test_any_other_certificate_fails_the_pin() -> None:
    impostor = pem(TinyCA().root)
    with pytest.raises(CertificateError, match="not the pinned"):
        check_shared_ca(impostor)


def test_a_changed_byte_fails_the_pin() -> None:
    data = bytearray(shared_ca_pem())
    body = data.index(b"\n", data.index(b"BEGIN")) + 40
    data[body] = ord("A") if data[body] != ord("A") else ord("B")
    with pytest.raises(CertificateError):
        check_shared_ca(bytes(data))


def test_the_shipped_ca_is_refused_once_it_has_expired() -> None:
    with pytest.raises(CertificateError, match="expired on 2029-11-01"):
        check_shared_ca(shared_ca_pem(), now=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))


def test_writing_the_shared_ca_checks_the_pin_and_makes_it_readable(tmp_path: Path) -> None:
    files = OriginPullFiles(FileStore(tmp_path))
    write_shared_ca(files)
    path = files.shared_ca
    assert fingerprint(path.read_bytes()) == SHARED_CA_SHA256
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_the_client_certificate_is_for_client_auth_only_and_signed_by_the_private_ca() -> None:
    ca_key, ca_pem = create_private_ca("example.com", NOW)
    key, client_pem = issue_client_certificate(ca_key, ca_pem, "example.com", NOW)
    ca = x509.load_pem_x509_certificate(ca_pem)
    client = x509.load_pem_x509_certificate(client_pem)
    client.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert client.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(key, rsa.RSAPrivateKey)
    assert client.not_valid_after_utc - NOW <= datetime.timedelta(days=365)


def test_private_keys_are_written_0600_and_the_ca_for_the_web_server_0644(
    tmp_path: Path,
) -> None:
    files = OriginPullFiles(FileStore(tmp_path))
    assert ensure_private_ca(files, "example.com", NOW) is True
    assert ensure_private_ca(files, "example.com", NOW) is False, "kept, never replaced"
    certificate, key = new_client_certificate(files, "example.com", NOW)
    save_client_certificate(files, "example.com", certificate, key)
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in files.zone_dir("example.com").iterdir()
    }
    assert modes == {
        "ca.pem": 0o644,
        "ca-key.pem": 0o600,
        "client.pem": 0o600,
        "client-key.pem": 0o600,
    }
    assert stat.S_IMODE(files.zone_dir("example.com").stat().st_mode) == 0o700


def test_the_state_remembers_which_ca_each_name_needs(tmp_path: Path) -> None:
    files = OriginPullFiles(FileStore(tmp_path))
    files.save(
        OriginPullState(
            "a" * 32, "example.com", zone_level=SHARED, hostnames={"www.example.com": "c1"}
        )
    )
    state = files.state_for_name("api.example.com")
    assert state is not None and state.zone_name == "example.com"
    assert files.ca_file_for(state, "api.example.com") == files.shared_ca
    assert files.ca_file_for(state, "www.example.com") == files.ca("example.com")
    assert state.mode_for("WWW.example.com") == OWN_CA
    assert files.state_for_name("example.org") is None
    assert files.state_for_name("notexample.com") is None


def test_only_own_ca_zones_with_a_client_certificate_near_expiry_are_due(
    tmp_path: Path,
) -> None:
    files = OriginPullFiles(FileStore(tmp_path))
    files.save(OriginPullState("a" * 32, "shared.example", zone_level=SHARED))
    files.save(OriginPullState("b" * 32, "own.example", zone_level=OWN_CA))
    ensure_private_ca(files, "own.example", NOW)
    certificate, key = new_client_certificate(files, "own.example", NOW)
    save_client_certificate(files, "own.example", certificate, key)
    assert client_certificates_due(files, NOW) == []
    later = NOW + datetime.timedelta(days=336)
    assert client_certificates_due(files, later) == ["own.example"]


class _DeployingPulls:
    """Origin-pull uploads that turn active after `active_after` seconds of the fake clock."""

    def __init__(self, clock: list[float], active_after: float, final: str = "active") -> None:
        self.clock = clock
        self.active_after = active_after
        self.final = final
        self.reads = 0

    def zone_certificate(self, zone: object, certificate_id: str) -> OriginPullCertificate:
        self.reads += 1
        status = self.final if self.clock[0] >= self.active_after else "pending_deployment"
        return OriginPullCertificate(certificate_id, status, None)

    hostname_certificate = zone_certificate


def _wait(clock: list[float], timeout: float = 600.0) -> DeployWait:
    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return DeployWait(timeout=timeout, clock=lambda: clock[0], sleep=sleep)


def test_an_upload_is_waited_for_until_cloudflare_reports_it_active(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "acmecf")
    clock = [0.0]
    pulls = _DeployingPulls(clock, active_after=25.0)
    zone = Zone("z" * 32, "example.com")
    wait_until_active(pulls, zone, "cert-1", hostname_level=False, wait=_wait(clock))  # type: ignore[arg-type]
    assert 25.0 <= clock[0] < 31.0, "within a poll of it going active"
    progress = [
        r.getMessage() for r in caplog.records if "waiting for Cloudflare" in r.getMessage()
    ]
    assert len(progress) == 2 and "pending_deployment" in progress[0]  # at ~10 s and ~20 s


def test_an_upload_still_pending_at_the_limit_is_an_error_that_keeps_the_old_one() -> None:
    clock = [0.0]
    pulls = _DeployingPulls(clock, active_after=10_000.0)
    with pytest.raises(OriginPullError, match="pending_deployment after 60s: the previous one"):
        wait_until_active(
            pulls,  # type: ignore[arg-type]
            Zone("z" * 32, "example.com"),
            "cert-1",
            hostname_level=True,
            wait=_wait(clock, timeout=60.0),
        )
    assert 60.0 <= clock[0] <= 61.0


def test_what_stays_on_is_reported_after_a_change_of_one_level() -> None:
    state = OriginPullState(
        "z" * 32, "example.com", zone_level=OWN_CA, hostnames={"a.example.com": "c1"}
    )
    assert others_on(state, hostnames=[]) == ["per-hostname origin pulls stay on for a.example.com"]
    assert others_on(state, hostnames=["a.example.com"]) == [
        "zone-level origin pulls (own-ca) stay on for example.com"
    ]
