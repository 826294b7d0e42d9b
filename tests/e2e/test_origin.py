"""Locking the origin down, end to end: a real nginx on a free loopback port, certificates from
Pebble through the Cloudflare emulator, and acmecf's origin commands as a user runs them."""

from __future__ import annotations

import datetime
import json
import secrets
import ssl
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from acmecf.origin.pulls import SHARED_CA_SHA256, fingerprint
from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, Result
from .nginx import Nginx, https_get, start_nginx


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    server = start_nginx(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class FreshZone:
    """A zone of its own for one test, and a token that sees only it."""

    name: str
    token: str


@pytest.fixture
def zone(sandbox: Sandbox) -> FreshZone:
    # Zone settings and origin-pull certificates live in the (session-wide) emulator: a fresh
    # zone keeps each test's Cloudflare side its own.
    name = f"z{uuid.uuid4().hex[:10]}.test"
    sandbox.emulator.add_zone(name)
    token = secrets.token_urlsafe(30)
    sandbox.emulator.add_token(token, zones=[name])
    return FreshZone(name, token)


def run(acmecf: Acmecf, zone: FreshZone, *args: str) -> Result:
    return acmecf(*args, CLOUDFLARE_API_TOKEN=zone.token)


def issue(acmecf: Acmecf, zone: FreshZone, name: str) -> None:
    result = acmecf.issue(name, CLOUDFLARE_API_TOKEN=zone.token)
    assert result.code == 0, result.output


def nginx_config(acmecf: Acmecf, zone: FreshZone, name: str, nginx: Nginx) -> str:
    result = run(
        acmecf, zone, "nginx-config", name, "--listen", nginx.listen, "--root", str(nginx.docroot)
    )
    assert result.code == 0, result.output
    return result.stdout


def check(acmecf: Acmecf, zone: FreshZone, name: str, nginx: Nginx, *extra: str) -> Result:
    return run(acmecf, zone, "origin", "check", name, "--origin", nginx.listen, *extra)


def line(result: Result, check_name: str) -> str:
    """The report line of one check, e.g. 'ok    chain: ...'."""
    for text in result.stdout.splitlines():
        if text.strip().split(maxsplit=1)[-1].startswith(f"{check_name}:"):
            return text.strip()
    raise AssertionError(f"no {check_name} line in:\n{result.output}")


def other_ca_client(directory: Path) -> tuple[Path, Path]:
    """A client certificate from a CA nobody configured: what an intruder could present."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intruder")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    certificate_path, key_path = directory / "intruder.pem", directory / "intruder-key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


# --- origin check -------------------------------------------------------------------------------


def test_a_healthy_origin_passes_every_check(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx, pebble_root: Path
) -> None:
    name = f"www.{zone.name}"
    issue(acmecf, zone, name)
    config = nginx_config(acmecf, zone, name, nginx)
    assert "fullchain.pem;" in config and "cert.pem" not in config
    nginx.start(config)

    result = check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root))

    assert result.code == 0, result.output
    assert line(result, "chain").startswith("ok")
    assert "(1 intermediate)" in line(result, "chain")
    assert line(result, "trust").startswith("ok    trust: validates against")
    assert line(result, "name").startswith(f"ok    name: {name} is in the certificate")
    assert line(result, "expiry").startswith("ok    expiry:")
    assert line(result, "acmecf").startswith("ok    acmecf: serves the certificate acmecf holds")
    assert line(result, "tls") == "ok    tls: TLSv1.3"
    assert "does not ask for a client certificate" in line(result, "client certificate")
    assert result.stdout.strip().endswith(f"{name}: the origin passes every check")
    as_json = check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root), "--json")
    assert as_json.code == 0, as_json.output
    (report,) = json.loads(as_json.stdout)
    assert report["ok"] is True
    assert report["origin"] == nginx.listen
    assert {f["check"] for f in report["findings"]} >= {"chain", "trust", "name", "tls"}


def test_an_origin_that_serves_cert_pem_is_told_to_serve_the_full_chain(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx, pebble_root: Path
) -> None:
    name = f"www.{zone.name}"
    issue(acmecf, zone, name)
    nginx.start(nginx_config(acmecf, zone, name, nginx).replace("fullchain.pem", "cert.pem"))

    result = check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root))

    assert result.code == 1, result.output
    assert line(result, "chain").startswith("FAIL")
    assert (
        "the server sends no intermediates: point ssl_certificate at fullchain.pem, not cert.pem"
        in line(result, "chain")
    )
    assert "unable to get local issuer certificate" in line(result, "trust")
    assert "error 526" in line(result, "trust")
    assert result.stderr.strip().startswith(f"acmecf: error: the origin of {name}")
    as_json = json.loads(
        check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root), "--json").stdout
    )
    assert as_json[0]["ok"] is False


def test_a_renewal_the_web_server_never_loaded_is_reported_stale(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx, pebble_root: Path
) -> None:
    name = f"www.{zone.name}"
    issue(acmecf, zone, name)
    config = nginx_config(acmecf, zone, name, nginx)
    nginx.start(config)
    assert check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root)).code == 0

    renewed = run(acmecf, zone, "renew", "--force", "--cert-name", name)
    assert renewed.code == 0, renewed.output
    stale = check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root))

    assert stale.code == 1, stale.output
    assert line(stale, "acmecf").startswith("FAIL  acmecf: serves an older certificate")
    assert "the web server was not reloaded after the renewal" in line(stale, "acmecf")
    assert "--deploy-hook" in line(stale, "acmecf")
    assert line(stale, "trust").startswith("ok"), "the old certificate itself is fine"
    nginx.start(config)  # what the reload would do
    assert check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root)).code == 0


def test_an_unknown_host_name_hits_the_default_server_and_is_refused(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx
) -> None:
    name = f"www.{zone.name}"
    issue(acmecf, zone, name)
    nginx.start(nginx_config(acmecf, zone, name, nginx))
    assert https_get(nginx.port, name).status == 200

    with pytest.raises(ssl.SSLError, match=r"UNRECOGNIZED_NAME|unrecognized name"):
        https_get(nginx.port, f"unknown.{zone.name}")
    # The right SNI but another Host header: the default server closes without an answer (444).
    assert https_get(nginx.port, name, host_header=f"unknown.{zone.name}").status is None
    refused = check(acmecf, zone, f"unknown.{zone.name}", nginx)
    assert refused.code == 1
    assert "refused the TLS handshake" in refused.stdout


# --- origin pulls ---------------------------------------------------------------------------------


def test_origin_pulls_are_refused_while_the_ssl_mode_is_flexible(
    acmecf: Acmecf, zone: FreshZone, sandbox: Sandbox
) -> None:
    shown = run(acmecf, zone, "cloudflare", "ssl-mode", "--zone", zone.name)
    assert shown.code == 0, shown.output
    assert shown.stdout.strip() == f"{zone.name}: SSL mode flexible (Flexible)"

    result = run(acmecf, zone, "cloudflare", "origin-pulls", "--zone", zone.name, "enable")

    assert result.code == 1
    assert f"{zone.name} uses SSL mode flexible" in result.stderr
    assert "acmecf cloudflare ssl-mode strict" in result.stderr
    assert sandbox.emulator.zone_setting(zone.name, "tls_client_auth") == "off"


def test_own_ca_origin_pulls_let_in_only_the_zones_client_certificate(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx, pebble_root: Path, sandbox: Sandbox,
    tmp_path: Path,
) -> None:  # fmt: skip
    name = f"www.{zone.name}"
    issue(acmecf, zone, name)
    assert run(acmecf, zone, "cloudflare", "ssl-mode", "--zone", zone.name, "full").code == 0

    enabled = run(
        acmecf, zone, "cloudflare", "origin-pulls", "--zone", zone.name, "enable", "--own-ca"
    )

    assert enabled.code == 0, enabled.output
    directory = acmecf.config_dir / "origin-pull" / zone.name
    for private in ("ca-key.pem", "client-key.pem", "client.pem"):
        assert stat.S_IMODE((directory / private).stat().st_mode) == 0o600, private
    assert str(directory / "ca.pem") in enabled.stdout
    assert sandbox.emulator.zone_setting(zone.name, "tls_client_auth") == "on"
    edge = sandbox.emulator.edge_client_certificate(name)
    assert edge is not None and edge.kind == "zone"
    assert edge.certificate == (directory / "client.pem").read_text()
    config = nginx_config(acmecf, zone, name, nginx)
    assert f"ssl_client_certificate {directory / 'ca.pem'};" in config
    assert "ssl_verify_client on;" in config
    nginx.start(config)

    without = https_get(nginx.port, name)
    assert without.status == 400
    assert "No required SSL certificate was sent" in without.body
    assert edge.certificate is not None and edge.private_key is not None
    (tmp_path / "edge.pem").write_text(edge.certificate)
    (tmp_path / "edge-key.pem").write_text(edge.private_key)
    cloudflare = https_get(
        nginx.port, name, client=(tmp_path / "edge.pem", tmp_path / "edge-key.pem")
    )
    assert cloudflare.status == 200
    assert "hello from the origin" in cloudflare.body
    intruder = https_get(nginx.port, name, client=other_ca_client(tmp_path / "intruder"))
    assert intruder.status == 400
    assert "The SSL certificate error" in intruder.body

    result = check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root))
    assert result.code == 0, result.output
    assert line(result, "client certificate") == (
        "ok    client certificate: the origin demands a client certificate "
        f"(CN=origin-pull CA for {zone.name},O=acmecf), and accepts acmecf's client certificate"
    )

    # A web server that trusts some other CA would lock Cloudflare out: origin check says so.
    other_ca = other_ca_client(tmp_path / "other")[0]
    wrong = run(
        acmecf, zone, "nginx-config", name, "--listen", nginx.listen, "--client-ca", str(other_ca)
    )
    nginx.start(wrong.stdout)
    locked_out = check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root))
    assert locked_out.code == 1, locked_out.output
    assert "refuses the client certificate acmecf uploaded to Cloudflare" in line(
        locked_out, "client certificate"
    )


def test_shared_origin_pulls_use_cloudflares_pinned_ca(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx, pebble_root: Path, sandbox: Sandbox,
    tmp_path: Path,
) -> None:  # fmt: skip
    name = f"www.{zone.name}"
    issue(acmecf, zone, name)
    assert run(acmecf, zone, "cloudflare", "ssl-mode", "--zone", zone.name, "strict").code == 0
    nginx.start(nginx_config(acmecf, zone, name, nginx))  # before origin pulls: no verification
    assert https_get(nginx.port, name).status == 200

    enabled = run(acmecf, zone, "cloudflare", "origin-pulls", "--zone", zone.name, "enable")

    assert enabled.code == 0, enabled.output
    assert "for anyone's zone" in enabled.stdout
    shared = acmecf.config_dir / "origin-pull" / "cloudflare-origin-pull-ca.pem"
    assert fingerprint(shared.read_bytes()) == SHARED_CA_SHA256
    edge = sandbox.emulator.edge_client_certificate(name)
    assert edge is not None and edge.kind == "shared"
    # The origin does not demand the certificate yet: origin check says so.
    unprotected = check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root))
    assert unprotected.code == 1
    assert "bypass Cloudflare" in line(unprotected, "client certificate")
    config = nginx_config(acmecf, zone, name, nginx)
    assert f"ssl_client_certificate {shared};" in config
    nginx.start(config)

    assert https_get(nginx.port, name).status == 400
    assert https_get(nginx.port, name, client=other_ca_client(tmp_path / "intruder")).status == 400
    result = check(acmecf, zone, name, nginx, "--ca-bundle", str(pebble_root))
    assert result.code == 0, result.output
    assert "origin-pull.cloudflare.net" in line(result, "client certificate")
    status = run(acmecf, zone, "cloudflare", "origin-pulls", "--zone", zone.name, "status")
    assert status.code == 0, status.output
    assert f"{zone.name}: origin pulls (tls_client_auth) on" in status.stdout
    disabled = run(acmecf, zone, "cloudflare", "origin-pulls", "--zone", zone.name, "disable")
    assert disabled.code == 0, disabled.output
    assert "must not demand a client certificate now" in disabled.stdout
    assert sandbox.emulator.edge_client_certificate(name) is None
    assert "ssl_verify_client" not in nginx_config(acmecf, zone, name, nginx)


# --- ssl-mode strict ----------------------------------------------------------------------------


def test_ssl_mode_strict_refuses_while_an_origin_fails_and_switches_once_it_passes(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx, pebble_root: Path, sandbox: Sandbox
) -> None:
    name = f"app.{zone.name}"
    sandbox.emulator.add_record(zone.name, "A", name, "127.0.0.1", proxied=True)
    issue(acmecf, zone, name)
    config = nginx_config(acmecf, zone, name, nginx)
    nginx.start(config.replace("fullchain.pem", "cert.pem"))
    strict = ("cloudflare", "ssl-mode", "--zone", zone.name, "strict")
    origin = ("--port", str(nginx.port), "--ca-bundle", str(pebble_root))

    refused = run(acmecf, zone, *strict, *origin)

    assert refused.code == 1, refused.output
    assert f"refusing Full (strict) for {zone.name}" in refused.stderr
    assert f"{name} at 127.0.0.1:{nginx.port}" in refused.stderr
    assert "error 526" in refused.stderr
    assert sandbox.emulator.zone_setting(zone.name, "ssl") == "flexible"

    nginx.start(config)
    switched = run(acmecf, zone, *strict, *origin)

    assert switched.code == 0, switched.output
    assert f"{zone.name}: SSL mode strict (Full (strict)) (was flexible)" in switched.stdout
    assert sandbox.emulator.zone_setting(zone.name, "ssl") == "strict"
    # Without --origin, origin check finds the origin in the zone's records, through the API.
    found = run(acmecf, zone, "origin", "check", name, *origin)
    assert found.code == 0, found.output
    assert f"{name} at 127.0.0.1:{nginx.port}" in found.stdout


def test_ssl_mode_strict_with_force_switches_despite_a_failing_origin(
    acmecf: Acmecf, zone: FreshZone, sandbox: Sandbox
) -> None:
    sandbox.emulator.add_record(zone.name, "A", f"down.{zone.name}", "127.0.0.1", proxied=True)
    result = run(
        acmecf, zone, "cloudflare", "ssl-mode", "--zone", zone.name, "strict", "--force",
        "--port", "9", "--timeout", "2",
    )  # fmt: skip
    assert result.code == 0, result.output
    assert "despite 1 failing origin" in result.stderr
    assert sandbox.emulator.zone_setting(zone.name, "ssl") == "strict"


def test_renew_renews_the_own_ca_client_certificate_from_the_same_ca(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx, sandbox: Sandbox, tmp_path: Path
) -> None:
    name = f"www.{zone.name}"
    issue(acmecf, zone, name)
    assert run(acmecf, zone, "cloudflare", "ssl-mode", "--zone", zone.name, "full").code == 0
    enabled = run(
        acmecf, zone, "cloudflare", "origin-pulls", "--zone", zone.name, "enable", "--own-ca"
    )
    assert enabled.code == 0, enabled.output
    nginx.start(nginx_config(acmecf, zone, name, nginx))
    before = sandbox.emulator.edge_client_certificate(name)
    assert before is not None

    renewed = run(acmecf, zone, "renew", "--force")

    assert renewed.code == 0, renewed.output
    assert f"renewed origin-pull client certificate of {zone.name}: valid until" in renewed.stdout
    after = sandbox.emulator.edge_client_certificate(name)
    assert after is not None and after.certificate != before.certificate
    assert after.certificate is not None and after.private_key is not None
    (tmp_path / "edge.pem").write_text(after.certificate)
    (tmp_path / "edge-key.pem").write_text(after.private_key)
    # Same private CA: the web server lets the new certificate in without any change.
    response = https_get(
        nginx.port, name, client=(tmp_path / "edge.pem", tmp_path / "edge-key.pem")
    )
    assert response.status == 200


# --- the Cloudflare Origin CA issuer ----------------------------------------------------------


def test_issue_from_the_cloudflare_origin_ca_says_only_cloudflare_trusts_it(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx, sandbox: Sandbox, tmp_path: Path
) -> None:
    name = f"www.{zone.name}"
    result = run(acmecf, zone, "issue", "--issuer", "cloudflare-origin-ca", "-d", name)

    assert result.code == 0, result.output
    assert "Only Cloudflare trusts this Cloudflare Origin CA certificate" in result.stdout
    live = acmecf.live(name)
    leaf = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    assert "CloudFlare Origin SSL ECC Certificate Authority" in leaf.issuer.rfc4514_string()
    assert (live / "fullchain.pem").read_bytes() == (live / "cert.pem").read_bytes()
    assert (
        'issuer = "cloudflare-origin-ca"'
        in (acmecf.config_dir / "renewal" / f"{name}.toml").read_text()
    )
    nginx.start(nginx_config(acmecf, zone, name, nginx))
    checked = check(acmecf, zone, name, nginx)
    assert checked.code == 0, checked.output
    assert line(checked, "trust").startswith("info  trust: signed by Cloudflare's Origin CA")
    root = tmp_path / "origin-ca-root.pem"
    root.write_bytes(sandbox.emulator.origin_ca_root_pem("origin-ecc"))
    assert line(check(acmecf, zone, name, nginx, "--ca-bundle", str(root)), "trust").startswith(
        "ok"
    )
    renewed = run(acmecf, zone, "renew", "--force", "--cert-name", name)
    assert renewed.code == 0, renewed.output
    again = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    assert again.serial_number != leaf.serial_number
    assert "CloudFlare Origin SSL" in again.issuer.rfc4514_string()


def test_the_annotated_nginx_example_runs_in_a_real_nginx(
    acmecf: Acmecf, zone: FreshZone, nginx: Nginx
) -> None:
    name = f"www.{zone.name}"
    issue(acmecf, zone, name)
    root = Path(__file__).resolve().parents[2]
    text = (root / "examples" / "nginx" / "example.com.conf").read_text()
    text = "\n".join(line for line in text.splitlines() if "[::]" not in line)  # no IPv6 here
    text = (
        text.replace("/etc/acmecf/live/example.com", str(acmecf.live(name)))
        .replace(
            "/etc/acmecf/origin-pull/cloudflare-origin-pull-ca.pem",
            str(root / "acmecf" / "data" / "cloudflare-origin-pull-ca.pem"),
        )
        .replace("listen 443", f"listen {nginx.listen}")
    )
    nginx.start(text)
    answer = https_get(nginx.port, "example.com")
    assert answer.status == 400
    assert "No required SSL certificate was sent" in answer.body
    with pytest.raises(ssl.SSLError):
        https_get(nginx.port, "other.example.com")
