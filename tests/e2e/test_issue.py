"""`acmecf issue` end to end: real Pebble, the Cloudflare emulator, real DNS over UDP/TCP."""

from __future__ import annotations

import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, challenge_records, credentials_file


def assert_valid_live_certificate(live: Path, names: list[str], pebble_root: Path) -> None:
    """The four files exist with the right modes, match each other, and verify to Pebble's root."""
    for filename in ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"):
        assert (live / filename).is_file(), filename
    assert stat.S_IMODE((live / "privkey.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(live.resolve().stat().st_mode) == 0o700
    leaf = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    intermediates = x509.load_pem_x509_certificates((live / "chain.pem").read_bytes())
    assert len(intermediates) >= 1
    assert all(i.subject != i.issuer for i in intermediates), "chain.pem must hold no root"
    assert (live / "fullchain.pem").read_bytes() == (live / "cert.pem").read_bytes() + (
        live / "chain.pem"
    ).read_bytes()
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
    key = serialization.load_pem_private_key((live / "privkey.pem").read_bytes(), None)
    assert key.public_key() == leaf.public_key()
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(pebble_root),
            "-untrusted",
            str(live / "chain.pem"),
            str(live / "cert.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_one_name(acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path) -> None:
    result = acmecf.issue("www.example.com")
    assert result.code == 0, result.output
    assert "Certificate www.example.com issued" in result.stdout
    assert str(acmecf.live("www.example.com") / "fullchain.pem") in result.stdout
    assert_valid_live_certificate(acmecf.live("www.example.com"), ["www.example.com"], pebble_root)
    assert challenge_records(sandbox) == []
    assert stat.S_IMODE(acmecf.config_dir.stat().st_mode) == 0o700


def test_apex_and_wildcard_put_two_values_at_one_name(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    result = acmecf.issue("example.com", "*.example.com")
    assert result.code == 0, result.output
    assert_valid_live_certificate(
        acmecf.live("example.com"), ["example.com", "*.example.com"], pebble_root
    )
    creates = [r for r in sandbox.emulator.requests if r.method == "POST"]
    assert len(creates) == 2
    assert challenge_records(sandbox) == []


def test_names_in_two_zones(acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path) -> None:
    result = acmecf.issue("shop.example.com", "shop.example.net", extra=("--cert-name", "shop"))
    assert result.code == 0, result.output
    assert_valid_live_certificate(
        acmecf.live("shop"), ["shop.example.com", "shop.example.net"], pebble_root
    )
    zone_paths = {
        r.path.split("/dns_records")[0] for r in sandbox.emulator.requests if r.method == "POST"
    }
    assert len(zone_paths) == 2
    zone_lookups = [
        r for r in sandbox.emulator.requests if r.method == "GET" and r.path.endswith("/zones")
    ]
    assert all(r.query.get("name") for r in zone_lookups), "found by name, not listed"
    assert len(zone_lookups) == 4, "shop.<zone>, then <zone>: once each per run"
    assert challenge_records(sandbox) == []


def test_a_cname_delegated_challenge_is_published_at_its_target(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    result = acmecf.issue("delegated.example.com")
    assert result.code == 0, result.output
    assert "delegated to _acme-challenge.delegated.example.com.acme-delegate.example.org" in (
        result.stderr
    )
    assert_valid_live_certificate(
        acmecf.live("delegated.example.com"), ["delegated.example.com"], pebble_root
    )
    delegate_zone = next(
        z for z in sandbox.emulator.zones() if z["name"] == "acme-delegate.example.org"
    )
    creates = [r for r in sandbox.emulator.requests if r.method == "POST"]
    assert [r.path for r in creates] == [f"/client/v4/zones/{delegate_zone['id']}/dns_records"]
    assert challenge_records(sandbox) == []


def test_waits_for_a_lagging_nameserver_before_answering(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    emulator = sandbox.emulator
    emulator.set_nameserver_delay(2, 2.0)
    started = time.monotonic()
    result = acmecf.issue("lag.example.com")
    assert result.code == 0, result.output
    assert time.monotonic() - started >= 2.0
    assert_valid_live_certificate(acmecf.live("lag.example.com"), ["lag.example.com"], pebble_root)
    name = "_acme-challenge.lag.example.com"
    laggard = emulator.nameservers[2].address
    first_served_by_laggard = min(
        q.time
        for q in emulator.dns_queries
        if q.server == laggard and q.qname.rstrip(".") == name and q.qtype == "TXT" and q.answers
    )
    ca_lookups = [
        q.time
        for q in emulator.dns_queries
        if q.server == emulator.resolver_address
        and q.qname.rstrip(".") == name
        and q.qtype == "TXT"
    ]
    assert ca_lookups, "Pebble never looked the record up"
    assert min(ca_lookups) >= first_served_by_laggard, "answered before every nameserver served"
    assert challenge_records(sandbox) == []


def test_a_bad_token_fails_with_one_line_and_never_prints_the_token(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    token = "bad-token-0123456789abcdef"
    result = acmecf.issue("www.example.com", CLOUDFLARE_API_TOKEN=token)
    assert result.code == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("acmecf: error: Cloudflare rejected the credentials")
    )
    assert "Traceback" not in result.output
    assert token not in result.output
    assert not acmecf.live("www.example.com").exists()
    assert challenge_records(sandbox) == []


def test_a_token_without_dns_edit_names_the_missing_permission(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    sandbox.emulator.add_token("read-only-token-xyz", dns_edit=False)
    result = acmecf.issue("www.example.com", CLOUDFLARE_API_TOKEN="read-only-token-xyz")
    assert result.code == 1, result.output
    assert "the token needs Zone > DNS > Edit on example.com" in result.stderr
    assert "Traceback" not in result.output
    assert not acmecf.live("www.example.com").exists()
    assert challenge_records(sandbox) == []


def test_a_dns_edit_only_token_works_with_zone_id(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    sandbox.emulator.add_token("dns-only-token-xyz", zone_read=False)
    refused = acmecf.issue("api.example.com", CLOUDFLARE_API_TOKEN="dns-only-token-xyz")
    assert refused.code == 1
    assert "--zone-id" in refused.stderr
    zone_id = next(z["id"] for z in sandbox.emulator.zones() if z["name"] == "example.com")
    result = acmecf.issue(
        "api.example.com", extra=("--zone-id", zone_id), CLOUDFLARE_API_TOKEN="dns-only-token-xyz"
    )
    assert result.code == 0, result.output
    assert_valid_live_certificate(acmecf.live("api.example.com"), ["api.example.com"], pebble_root)
    assert challenge_records(sandbox) == []


def test_an_unknown_zone_fails_before_anything_is_ordered(acmecf: Acmecf, sandbox: Sandbox) -> None:
    result = acmecf.issue("www.example.com", "www.not-in-account.org")
    assert result.code == 1
    assert "no active Cloudflare zone for _acme-challenge.www.not-in-account.org" in result.stderr
    assert not [r for r in sandbox.emulator.requests if r.method == "POST"]
    assert not (acmecf.config_dir / "live").exists()


def test_an_invalid_name_is_refused_before_any_network_call(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    result = acmecf.issue("www.*.example.com")
    assert result.code == 2
    assert result.stderr.strip() == (
        "acmecf: error: invalid name 'www.*.example.com': a wildcard must be the whole leftmost "
        "label, as in *.example.com"
    )
    assert sandbox.emulator.requests == []


def test_a_first_run_without_agree_tos_says_so(acmecf: Acmecf, sandbox: Sandbox) -> None:
    result = acmecf("issue", "-d", "www.example.com")
    assert result.code == 2
    assert "--agree-tos" in result.stderr
    assert challenge_records(sandbox) == []


def test_a_name_the_ca_refuses(acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path) -> None:
    # The test CA's policy blocks blocked.test, as a real CA's blocklist would; the zone is in
    # the account, so the refusal can only be the CA's.
    acmecf.issue("www.example.com")  # an earlier certificate that must survive
    before = (acmecf.live("www.example.com") / "fullchain.pem").read_bytes()
    result = acmecf.issue(
        "www.example.com", "www.blocked.test", extra=("--cert-name", "www.example.com")
    )
    assert result.code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("acmecf: error: the CA refused creating the order")
    assert "the CA will not issue for this name" in last
    assert "Traceback" not in result.output
    assert (acmecf.live("www.example.com") / "fullchain.pem").read_bytes() == before
    assert_valid_live_certificate(acmecf.live("www.example.com"), ["www.example.com"], pebble_root)
    assert challenge_records(sandbox) == []


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_removes_its_records_and_keeps_the_live_files(
    acmecf: Acmecf, sandbox: Sandbox, signal_number: int
) -> None:
    sandbox.emulator.set_nameserver_delay(1, 30.0)
    process = subprocess.Popen(
        acmecf.command("issue", "--agree-tos", "-d", "stop.example.com"),
        env=acmecf.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not challenge_records(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert challenge_records(sandbox), "the run never published its record"
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        "acmecf: error: interrupted; the live certificate is unchanged"
    )
    assert "Traceback" not in stderr
    assert challenge_records(sandbox) == []
    assert not acmecf.live("stop.example.com").exists()


def test_credentials_file_readable_by_others_is_refused(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    token = sandbox.client_environment()["CLOUDFLARE_API_TOKEN"]
    credentials = credentials_file(tmp_path / "cloudflare.ini", token, 0o644)
    result = acmecf.issue(
        "www.example.com",
        extra=("--cloudflare-credentials", str(credentials)),
        CLOUDFLARE_API_TOKEN=None,
    )
    assert result.code == 2
    assert f"chmod 600 {credentials}" in result.stderr
    assert token not in result.output
    credentials.chmod(0o600)
    result = acmecf.issue(
        "www.example.com",
        extra=("--cloudflare-credentials", str(credentials)),
        CLOUDFLARE_API_TOKEN=None,
    )
    assert result.code == 0, result.output


def test_a_stray_global_key_in_the_environment_does_not_hide_the_token(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    # The SDK would send X-Auth-Email instead of the token if it picked these up.
    token = sandbox.client_environment()["CLOUDFLARE_API_TOKEN"]
    credentials = credentials_file(tmp_path / "cloudflare.ini", token)
    result = acmecf.issue(
        "env.example.com",
        extra=("--cloudflare-credentials", str(credentials)),
        CLOUDFLARE_EMAIL="someone@example.com",
        CLOUDFLARE_API_KEY="stale-global-key",
        CLOUDFLARE_API_TOKEN=None,
    )
    assert result.code == 0, result.output
    assert {r.auth for r in sandbox.emulator.requests} == {"token"}
