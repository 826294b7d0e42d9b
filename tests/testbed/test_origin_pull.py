"""Origin pulls and the Origin CA issuer through acmecf's own API classes, against the emulator:
enabling and disabling, renewing the own-CA client certificate, issuing from the Origin CA."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.credentials import Credentials
from acmecf.cloudflare.origin_ca import CloudflareOriginCA
from acmecf.cloudflare.origin_pulls import CloudflareOriginPulls
from acmecf.cloudflare.zone_settings import CloudflareZoneSettings
from acmecf.cloudflare.zones import CloudflareZones
from acmecf.errors import CloudflareError, OriginPullError, UsageError
from acmecf.issuers.base import CertificateRequest
from acmecf.issuers.origin_ca import OriginCaIssuer
from acmecf.origin.pulls import (
    client_certificates_due,
    disable,
    enable,
    renew_client_certificates,
)
from acmecf.sandbox.emulator import CloudflareEmulator
from acmecf.storage.files import FileStore
from acmecf.storage.origin_pulls import OriginPullFiles, OriginPullState
from tests.testbed.sdk_helpers import TOKEN, running_emulator

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    with running_emulator("example.com") as emulator:
        yield emulator


@pytest.fixture
def api(emulator: CloudflareEmulator) -> CloudflareApi:
    return CloudflareApi(Credentials(token=TOKEN), base_url=emulator.base_url)


def client_text(files: OriginPullFiles) -> str:
    return (files.read("example.com", "client.pem") or b"").decode()


def state_for(api: CloudflareApi) -> OriginPullState:
    zone = CloudflareZones(api).find("example.com")
    assert zone.name == "example.com"
    return OriginPullState(zone.id, zone.name)


def enable_own_ca(
    api: CloudflareApi, files: OriginPullFiles, hostnames: list[str] | None = None
) -> OriginPullState:
    state = enable(
        files,
        CloudflareZoneSettings(api),
        CloudflareOriginPulls(api),
        files.load("example.com") or state_for(api),
        own_ca=True,
        hostnames=hostnames or [],
        now=NOW,
    )
    files.save(state)
    return state


def test_enabling_refuses_while_the_mode_is_flexible_and_changes_nothing(
    api: CloudflareApi, emulator: CloudflareEmulator, tmp_path: Path
) -> None:
    files = OriginPullFiles(FileStore(tmp_path))
    with pytest.raises(OriginPullError, match="uses SSL mode flexible"):
        enable_own_ca(api, files)
    assert emulator.zone_setting("example.com", "tls_client_auth") == "off"
    assert not files.root.exists()


def test_enabling_twice_uploads_one_certificate(
    api: CloudflareApi, emulator: CloudflareEmulator, tmp_path: Path
) -> None:
    emulator.set_zone_setting("example.com", "ssl", "full")
    files = OriginPullFiles(FileStore(tmp_path))
    first = enable_own_ca(api, files)
    second = enable_own_ca(api, files)
    assert first.zone_certificate_id == second.zone_certificate_id
    zone = CloudflareZones(api).find("example.com")
    assert len(CloudflareOriginPulls(api).zone_certificates(zone)) == 1
    edge = emulator.edge_client_certificate("www.example.com")
    assert edge is not None and edge.certificate == client_text(files)


def test_disabling_switches_the_zone_back_off(
    api: CloudflareApi, emulator: CloudflareEmulator, tmp_path: Path
) -> None:
    emulator.set_zone_setting("example.com", "ssl", "strict")
    files = OriginPullFiles(FileStore(tmp_path))
    state = enable_own_ca(api, files)
    state = disable(CloudflareZoneSettings(api), CloudflareOriginPulls(api), state, hostnames=[])
    assert state.zone_level is None
    assert emulator.zone_setting("example.com", "tls_client_auth") == "off"
    assert emulator.edge_client_certificate("www.example.com") is None


def test_renewal_uploads_a_new_client_certificate_from_the_same_ca_and_drops_the_old(
    api: CloudflareApi, emulator: CloudflareEmulator, tmp_path: Path
) -> None:
    emulator.set_zone_setting("example.com", "ssl", "full")
    files = OriginPullFiles(FileStore(tmp_path))
    before = enable_own_ca(api, files, hostnames=["www.example.com"])
    before = enable(
        files,
        CloudflareZoneSettings(api),
        CloudflareOriginPulls(api),
        before,
        own_ca=True,
        hostnames=[],
        now=NOW,
    )
    files.save(before)
    ca_before = files.ca("example.com").read_bytes()
    old_client = client_text(files)
    assert client_certificates_due(files, NOW) == []
    assert client_certificates_due(files, NOW + datetime.timedelta(days=340)) == ["example.com"]

    results = renew_client_certificates(
        files, lambda credentials_file: api, now=NOW + datetime.timedelta(days=340)
    )

    assert [(r.zone_name, r.error) for r in results] == [("example.com", None)]
    new_client = client_text(files)
    assert new_client != old_client
    assert files.ca("example.com").read_bytes() == ca_before, "the web server needs no change"
    ca = x509.load_pem_x509_certificate(ca_before)
    x509.load_pem_x509_certificate(new_client.encode()).verify_directly_issued_by(ca)
    after = files.load("example.com")
    assert after is not None
    assert after.zone_certificate_id != before.zone_certificate_id
    zone = CloudflareZones(api).find("example.com")
    uploaded = CloudflareOriginPulls(api).zone_certificates(zone)
    assert [c.id for c in uploaded] == [after.zone_certificate_id], "the old upload is deleted"
    for name in ("www.example.com", "api.example.com"):
        edge = emulator.edge_client_certificate(name)
        assert edge is not None and edge.certificate == new_client, name


def test_a_failed_renewal_keeps_the_old_certificate_and_says_why(
    api: CloudflareApi, emulator: CloudflareEmulator, tmp_path: Path
) -> None:
    emulator.set_zone_setting("example.com", "ssl", "full")
    files = OriginPullFiles(FileStore(tmp_path))
    enable_own_ca(api, files)
    old_client = client_text(files)
    broken = CloudflareApi(Credentials(token="X" * 40), base_url=emulator.base_url)

    results = renew_client_certificates(files, lambda credentials_file: broken, force=True)

    assert len(results) == 1 and isinstance(results[0].error, CloudflareError)
    assert client_text(files) == old_client
    edge = emulator.edge_client_certificate("www.example.com")
    assert edge is not None and edge.certificate == old_client


def test_the_origin_ca_issuer_returns_the_leaf_alone_signed_by_the_origin_ca(
    api: CloudflareApi, emulator: CloudflareEmulator
) -> None:
    request = CertificateRequest(
        cert_name="example.com", names=("example.com", "*.example.com"), key_type="ecdsa-p256"
    )

    issued = OriginCaIssuer(CloudflareOriginCA(api)).issue(request)

    assert issued.chain.intermediates == ()
    assert issued.chain.fullchain_pem == issued.chain.cert_pem
    root = x509.load_pem_x509_certificate(emulator.origin_ca_root_pem("origin-ecc"))
    issued.chain.leaf.verify_directly_issued_by(root)
    assert issued.serial is not None


def test_the_origin_ca_issuer_refuses_key_types_it_cannot_sign(api: CloudflareApi) -> None:
    request = CertificateRequest(
        cert_name="example.com", names=("example.com",), key_type="ecdsa-p384"
    )
    with pytest.raises(UsageError, match="ecdsa-p256 or rsa-2048"):
        OriginCaIssuer(CloudflareOriginCA(api)).issue(request)


def test_a_dry_run_of_the_origin_ca_issuer_revokes_what_it_ordered(
    api: CloudflareApi, emulator: CloudflareEmulator
) -> None:
    request = CertificateRequest(cert_name="www", names=("www.example.com",), key_type="rsa-2048")
    issued = OriginCaIssuer(CloudflareOriginCA(api), dry_run=True).issue(request)
    deletes = [r for r in emulator.requests if r.method == "DELETE"]
    assert [r.path.split("/")[-1] for r in deletes] == [str(issued.chain.leaf.serial_number)]


def test_the_origin_ca_issuer_names_the_permission_for_a_refused_name(api: CloudflareApi) -> None:
    request = CertificateRequest(cert_name="x", names=("www.not-mine.org",), key_type="ecdsa-p256")
    with pytest.raises(CloudflareError, match="SSL and Certificates > Edit"):
        OriginCaIssuer(CloudflareOriginCA(api)).issue(request)


def test_a_refusal_names_the_permission_these_endpoints_need(
    emulator: CloudflareEmulator, tmp_path: Path
) -> None:
    emulator.add_token("L" * 40, zone_settings_edit=False, ssl_edit=False)
    limited = CloudflareApi(Credentials(token="L" * 40), base_url=emulator.base_url)
    zone = CloudflareZones(limited).find("example.com")
    with pytest.raises(CloudflareError, match=r"needs Zone > Zone Settings > Edit"):
        CloudflareZoneSettings(limited).ssl_mode(zone)
    with pytest.raises(CloudflareError, match=r"needs Zone > SSL and Certificates > Edit"):
        CloudflareOriginPulls(limited).zone_certificates(zone)
    unknown = CloudflareApi(Credentials(token="U" * 40), base_url=emulator.base_url)
    with pytest.raises(CloudflareError, match="rejected the credentials"):
        CloudflareZoneSettings(unknown).ssl_mode(zone)
