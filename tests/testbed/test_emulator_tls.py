"""The emulator's TLS endpoints behave like the real API: zone settings `ssl` and
`tls_client_auth`, origin-pull certificates (zone and host name level) and the Origin CA.

Exercised through the official SDK (and raw HTTP where the SDK hides what is checked)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from typing import Any

import cloudflare
import httpx
import pytest
from cloudflare import Cloudflare
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from acmecf.pki.requests import make_csr
from acmecf.sandbox.emulator import CloudflareEmulator

TOKEN = "T" * 40
LIMITED = "L" * 40


@pytest.fixture(autouse=True)
def _no_cloudflare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    emulator = CloudflareEmulator()
    emulator.add_zone("example.com")
    emulator.add_zone("example.net")
    emulator.add_token(TOKEN)
    emulator.add_token(LIMITED, zone_settings_edit=False, ssl_edit=False)
    # Deployment is instant here; the tests of deployment set their own delay.
    emulator.set_origin_pull_deploy_delay(0.0)
    with emulator:
        yield emulator


def sdk(emulator: CloudflareEmulator, token: str = TOKEN) -> Cloudflare:
    return Cloudflare(api_token=token, base_url=emulator.base_url, max_retries=0)


def zone_id(emulator: CloudflareEmulator, name: str = "example.com") -> str:
    return str(next(z["id"] for z in emulator.zones() if z["name"] == name))


def error_of(call: Callable[[], object]) -> tuple[int, list[int]]:
    with pytest.raises(cloudflare.APIStatusError) as caught:
        call()
    body = caught.value.body
    assert isinstance(body, dict)
    return caught.value.status_code, [item["code"] for item in body["errors"]]


def self_signed(days: int = 30) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def raw(emulator: CloudflareEmulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{emulator.base_url}{path}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        **kwargs,
    )


# --- zone settings ---------------------------------------------------------------------------


def test_a_new_zone_is_flexible_with_origin_pulls_off(emulator: CloudflareEmulator) -> None:
    client, zone = sdk(emulator), zone_id(emulator)
    ssl = client.zones.settings.get("ssl", zone_id=zone)
    pulls = client.zones.settings.get("tls_client_auth", zone_id=zone)
    assert (getattr(ssl, "id", None), getattr(ssl, "value", None)) == ("ssl", "flexible")
    assert getattr(pulls, "value", None) == "off"
    body = raw(emulator, "GET", f"/zones/{zone}/settings/ssl").json()
    assert set(body["result"]) == {"id", "value", "editable", "modified_on"}


def test_patching_a_setting_changes_it_and_its_modified_on(emulator: CloudflareEmulator) -> None:
    client, zone = sdk(emulator), zone_id(emulator)
    before = raw(emulator, "GET", f"/zones/{zone}/settings/ssl").json()["result"]["modified_on"]
    changed = client.zones.settings.edit("ssl", zone_id=zone, value="strict")
    assert getattr(changed, "value", None) == "strict"
    assert emulator.zone_setting("example.com", "ssl") == "strict"
    after = raw(emulator, "GET", f"/zones/{zone}/settings/ssl").json()["result"]["modified_on"]
    assert after > before
    assert emulator.zone_setting("example.net", "ssl") == "flexible", "other zones unchanged"


def test_an_invalid_value_gets_1007_and_an_unknown_setting_1006(
    emulator: CloudflareEmulator,
) -> None:
    client, zone = sdk(emulator), zone_id(emulator)
    assert error_of(
        lambda: client.zones.settings.edit("ssl", zone_id=zone, value="full_strict")
    ) == (
        400,
        [1007],
    )
    assert error_of(
        lambda: client.zones.settings.edit("tls_client_auth", zone_id=zone, value="yes")
    ) == (400, [1007])
    assert error_of(lambda: client.zones.settings.get("nonsense", zone_id=zone)) == (400, [1006])
    assert emulator.zone_setting("example.com", "ssl") == "flexible"


def test_a_token_without_zone_settings_permission_gets_403_9109(
    emulator: CloudflareEmulator,
) -> None:
    zone = zone_id(emulator)
    limited = sdk(emulator, LIMITED)
    assert error_of(lambda: limited.zones.settings.get("ssl", zone_id=zone)) == (403, [9109])
    assert error_of(lambda: limited.zones.settings.edit("ssl", zone_id=zone, value="full")) == (
        403,
        [9109],
    )


def test_settings_allow_only_get_and_patch(emulator: CloudflareEmulator) -> None:
    response = raw(emulator, "PUT", f"/zones/{zone_id(emulator)}/settings/ssl", json={})
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == 7001


# --- zone-level origin-pull certificates -------------------------------------------------------


def test_a_zone_certificate_uploads_pending_then_reads_active(
    emulator: CloudflareEmulator,
) -> None:
    emulator.set_origin_pull_deploy_delay(0.3)
    client, zone = sdk(emulator), zone_id(emulator)
    certificate, key = self_signed()
    uploaded = client.origin_tls_client_auth.zone_certificates.create(
        zone_id=zone, certificate=certificate, private_key=key
    )
    assert uploaded is not None and uploaded.status == "pending_deployment"
    assert uploaded.id and uploaded.certificate == certificate
    listed = list(client.origin_tls_client_auth.zone_certificates.list(zone_id=zone))
    assert [(c.id, c.status) for c in listed] == [(uploaded.id, "pending_deployment")]
    time.sleep(0.35)
    listed = list(client.origin_tls_client_auth.zone_certificates.list(zone_id=zone))
    assert [(c.id, c.status) for c in listed] == [(uploaded.id, "active")]
    body = raw(emulator, "GET", f"/zones/{zone}/origin_tls_client_auth/{uploaded.id}").json()
    assert "private_key" not in body["result"], "the key is never sent back"
    deleted = client.origin_tls_client_auth.zone_certificates.delete(uploaded.id, zone_id=zone)
    assert deleted is not None and deleted.status == "pending_deletion"
    assert list(client.origin_tls_client_auth.zone_certificates.list(zone_id=zone)) == []
    status, _ = error_of(
        lambda: client.origin_tls_client_auth.zone_certificates.delete(uploaded.id, zone_id=zone)
    )
    assert status == 404


def test_a_key_that_does_not_match_the_certificate_is_refused(
    emulator: CloudflareEmulator,
) -> None:
    client, zone = sdk(emulator), zone_id(emulator)
    certificate, _ = self_signed()
    _, other_key = self_signed()
    status, _ = error_of(
        lambda: client.origin_tls_client_auth.zone_certificates.create(
            zone_id=zone, certificate=certificate, private_key=other_key
        )
    )
    assert status == 400
    assert list(client.origin_tls_client_auth.zone_certificates.list(zone_id=zone)) == []


def test_zone_enablement_is_off_by_default_and_put_switches_it(
    emulator: CloudflareEmulator,
) -> None:
    client, zone = sdk(emulator), zone_id(emulator)
    setting = client.origin_tls_client_auth.settings.get(zone_id=zone)
    assert setting is not None and setting.enabled is False
    updated = client.origin_tls_client_auth.settings.update(zone_id=zone, enabled=True)
    assert updated is not None and updated.enabled is True


def test_certificate_endpoints_need_ssl_permission(emulator: CloudflareEmulator) -> None:
    zone = zone_id(emulator)
    limited = sdk(emulator, LIMITED)
    assert error_of(
        lambda: list(limited.origin_tls_client_auth.zone_certificates.list(zone_id=zone))
    ) == (403, [9109])


# --- host name level -----------------------------------------------------------------------


def test_a_hostname_association_takes_precedence_and_null_voids_it(
    emulator: CloudflareEmulator,
) -> None:
    client, zone = sdk(emulator), zone_id(emulator)
    client.zones.settings.edit("ssl", zone_id=zone, value="full")
    client.zones.settings.edit("tls_client_auth", zone_id=zone, value="on")
    zone_certificate, zone_key = self_signed()
    client.origin_tls_client_auth.zone_certificates.create(
        zone_id=zone, certificate=zone_certificate, private_key=zone_key
    )
    client.origin_tls_client_auth.settings.update(zone_id=zone, enabled=True)
    host_certificate, host_key = self_signed()
    uploaded = client.origin_tls_client_auth.hostname_certificates.create(
        zone_id=zone, certificate=host_certificate, private_key=host_key
    )
    assert uploaded is not None and uploaded.id
    associated = list(
        client.origin_tls_client_auth.hostnames.update(
            zone_id=zone,
            config=[{"hostname": "www.example.com", "cert_id": uploaded.id, "enabled": True}],
        )
    )
    assert [(a.hostname, a.cert_id, a.enabled) for a in associated] == [
        ("www.example.com", uploaded.id, True)
    ]
    got = client.origin_tls_client_auth.hostnames.get("www.example.com", zone_id=zone)
    assert got is not None and got.cert_id == uploaded.id
    edge = emulator.edge_client_certificate("www.example.com")
    assert edge is not None and (edge.kind, edge.certificate) == ("hostname", host_certificate)
    other = emulator.edge_client_certificate("api.example.com")
    assert other is not None and (other.kind, other.certificate) == ("zone", zone_certificate)

    in_use = error_of(
        lambda: client.origin_tls_client_auth.hostname_certificates.delete(
            uploaded.id, zone_id=zone
        )
    )
    assert in_use[0] == 400
    list(
        client.origin_tls_client_auth.hostnames.update(
            zone_id=zone,
            config=[{"hostname": "www.example.com", "cert_id": uploaded.id, "enabled": None}],
        )
    )
    voided = emulator.edge_client_certificate("www.example.com")
    assert voided is not None and voided.kind == "zone"
    client.origin_tls_client_auth.hostname_certificates.delete(uploaded.id, zone_id=zone)


def test_a_hostname_outside_the_zone_is_refused(emulator: CloudflareEmulator) -> None:
    client, zone = sdk(emulator), zone_id(emulator)
    certificate, key = self_signed()
    uploaded = client.origin_tls_client_auth.hostname_certificates.create(
        zone_id=zone, certificate=certificate, private_key=key
    )
    assert uploaded is not None and uploaded.id
    status, _ = error_of(
        lambda: list(
            client.origin_tls_client_auth.hostnames.update(
                zone_id=zone,
                config=[{"hostname": "www.example.net", "cert_id": uploaded.id, "enabled": True}],
            )
        )
    )
    assert status == 400


def test_the_edge_presents_nothing_while_the_mode_is_flexible_or_pulls_are_off(
    emulator: CloudflareEmulator,
) -> None:
    assert emulator.edge_client_certificate("www.example.com") is None  # both off
    emulator.set_zone_setting("example.com", "tls_client_auth", "on")
    assert emulator.edge_client_certificate("www.example.com") is None  # still flexible
    emulator.set_zone_setting("example.com", "ssl", "full")
    shared = emulator.edge_client_certificate("www.example.com")
    assert shared is not None and (shared.kind, shared.certificate) == ("shared", None)


# --- the Origin CA ---------------------------------------------------------------------------


def test_the_origin_ca_signs_a_csr_with_its_root_for_the_requested_days(
    emulator: CloudflareEmulator,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = make_csr(key, ["example.com", "*.example.com"]).decode()
    created = sdk(emulator).origin_ca_certificates.create(
        csr=csr,
        hostnames=["example.com", "*.example.com"],
        request_type="origin-ecc",
        requested_validity=90,
    )
    assert created is not None and created.certificate and created.id
    assert created.requested_validity == 90
    assert created.expires_on and created.expires_on.endswith("+0000 UTC")
    leaf = x509.load_pem_x509_certificate(created.certificate.encode())
    root = x509.load_pem_x509_certificate(emulator.origin_ca_root_pem("origin-ecc"))
    leaf.verify_directly_issued_by(root)
    assert str(leaf.serial_number) == created.id
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert datetime.timedelta(days=90) <= lifetime <= datetime.timedelta(days=90, minutes=10)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == ["*.example.com", "example.com"]


def test_origin_ca_certificates_are_listed_per_zone_and_revoked(
    emulator: CloudflareEmulator,
) -> None:
    client = sdk(emulator)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    created = client.origin_ca_certificates.create(
        csr=make_csr(key, ["www.example.com"]).decode(),
        hostnames=["www.example.com"],
        request_type="origin-rsa",
    )
    assert created is not None and created.id and created.requested_validity == 5475
    listed = list(client.origin_ca_certificates.list(zone_id=zone_id(emulator)))
    assert [c.id for c in listed] == [created.id]
    assert list(client.origin_ca_certificates.list(zone_id=zone_id(emulator, "example.net"))) == []
    revoked = raw(emulator, "DELETE", f"/certificates/{created.id}").json()["result"]
    assert revoked["id"] == created.id and revoked["revoked_at"]
    assert list(client.origin_ca_certificates.list(zone_id=zone_id(emulator))) == []
    assert raw(emulator, "DELETE", f"/certificates/{created.id}").status_code == 404


def test_the_origin_ca_refuses_names_outside_the_account_with_1010(
    emulator: CloudflareEmulator,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    response = raw(
        emulator,
        "POST",
        "/certificates",
        json={
            "csr": make_csr(key, ["www.not-mine.org"]).decode(),
            "hostnames": ["www.not-mine.org"],
            "request_type": "origin-ecc",
        },
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == 1010
    assert error["message"].startswith("Failed to validate requested hostname www.not-mine.org")


def test_the_origin_ca_refuses_a_token_without_ssl_permission(
    emulator: CloudflareEmulator,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    status, codes = error_of(
        lambda: sdk(emulator, LIMITED).origin_ca_certificates.create(
            csr=make_csr(key, ["www.example.com"]).decode(),
            hostnames=["www.example.com"],
            request_type="origin-ecc",
        )
    )
    assert (status, codes) == (400, [1010])


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"request_type": "origin-rsa"}, "an ECDSA CSR for an RSA request"),
        ({"requested_validity": 42}, "a validity the Origin CA does not offer"),
        ({"csr": "not a csr"}, "an unreadable CSR"),
        ({"hostnames": []}, "no host names"),
    ],
)
def test_the_origin_ca_refuses_a_malformed_request(
    emulator: CloudflareEmulator, change: dict[str, Any], why: str
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    body = {
        "csr": make_csr(key, ["www.example.com"]).decode(),
        "hostnames": ["www.example.com"],
        "request_type": "origin-ecc",
        **change,
    }
    response = raw(emulator, "POST", "/certificates", json=body)
    assert response.status_code == 400, why
    assert response.json()["success"] is False


def enable_zone_pulls(emulator: CloudflareEmulator) -> None:
    emulator.set_zone_setting("example.com", "ssl", "strict")
    emulator.set_zone_setting("example.com", "tls_client_auth", "on")
    sdk(emulator).origin_tls_client_auth.settings.update(zone_id=zone_id(emulator), enabled=True)


def test_the_edge_presents_an_uploaded_certificate_only_once_it_is_deployed(
    emulator: CloudflareEmulator,
) -> None:
    emulator.set_origin_pull_deploy_delay(0.3)
    enable_zone_pulls(emulator)
    certificate, key = self_signed()
    sdk(emulator).origin_tls_client_auth.zone_certificates.create(
        zone_id=zone_id(emulator), certificate=certificate, private_key=key
    )
    pending = emulator.edge_client_certificate("www.example.com")
    assert pending is not None and pending.kind == "shared"
    time.sleep(0.35)
    deployed = emulator.edge_client_certificate("www.example.com")
    assert deployed is not None and (deployed.kind, deployed.certificate) == ("zone", certificate)


def test_a_replaced_certificate_is_presented_until_its_successor_is_deployed(
    emulator: CloudflareEmulator,
) -> None:
    enable_zone_pulls(emulator)
    client, zone = sdk(emulator), zone_id(emulator)
    old_certificate, old_key = self_signed()
    old = client.origin_tls_client_auth.zone_certificates.create(
        zone_id=zone, certificate=old_certificate, private_key=old_key
    )
    assert old is not None and old.id is not None
    emulator.set_origin_pull_deploy_delay(0.3)
    new_certificate, new_key = self_signed()
    client.origin_tls_client_auth.zone_certificates.create(
        zone_id=zone, certificate=new_certificate, private_key=new_key
    )
    client.origin_tls_client_auth.zone_certificates.delete(old.id, zone_id=zone)
    during = emulator.edge_client_certificate("www.example.com")
    assert during is not None and during.certificate == old_certificate
    time.sleep(0.35)
    after = emulator.edge_client_certificate("www.example.com")
    assert after is not None and after.certificate == new_certificate
