"""What a certbot user reaches for: accounts and EAB, key reuse, chains, profiles, revocation."""

from __future__ import annotations

import base64
import json
import secrets
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from acmecf.sandbox.pebble import Pebble
from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, challenge_records


def account_files(config_dir: Path) -> list[Path]:
    """The registration files of the accounts in use (not of deactivated ones)."""
    return sorted(
        p for p in config_dir.glob("accounts/*/*/account.json") if ".deactivated-" not in str(p)
    )


def public_key(path: Path) -> bytes:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def management(sandbox: Sandbox, path: str) -> requests.Response:
    pebble = sandbox.pebble
    return requests.get(pebble.management_url + path, verify=str(pebble.ca_bundle), timeout=10)


# --- External Account Binding ------------------------------------------------------------


@pytest.fixture(scope="module")
def eab_pebble(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """A second test CA that, like ZeroSSL or Google, requires External Account Binding."""
    hmac_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    pebble = Pebble(
        tmp_path_factory.mktemp("eab-pebble"),
        dns_server=(sandbox.emulator.resolver_address, sandbox.emulator.dns_port),
        eab_keys={"kid-ops": hmac_key},
    )
    pebble.start()
    pebble.hmac_key = hmac_key  # type: ignore[attr-defined]
    try:
        yield pebble
    finally:
        pebble.stop()


def test_a_ca_that_requires_eab_is_told_so_and_accepts_the_right_key(
    acmecf: Acmecf, sandbox: Sandbox, eab_pebble: Pebble
) -> None:
    at_eab_ca = {
        "ACMECF_SERVER": eab_pebble.directory_url,
        "ACMECF_CA_BUNDLE": str(eab_pebble.ca_bundle),
    }
    missing = acmecf.issue("eab.example.com", **at_eab_ca)
    assert missing.code == 2
    assert "requires External Account Binding: pass --eab-kid and --eab-hmac-key" in missing.stderr
    wrong_key = base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode()
    refused = acmecf.issue(
        "eab.example.com", extra=("--eab-kid", "kid-ops", "--eab-hmac-key", wrong_key), **at_eab_ca
    )
    assert refused.code == 1
    assert "the CA refused registering the account" in refused.stderr
    hmac_key = eab_pebble.hmac_key  # type: ignore[attr-defined]
    result = acmecf.issue(
        "eab.example.com", extra=("--eab-kid", "kid-ops", "--eab-hmac-key", hmac_key), **at_eab_ca
    )
    assert result.code == 0, result.output
    assert hmac_key not in result.output
    assert challenge_records(sandbox) == []


def test_account_register_with_eab(acmecf: Acmecf, eab_pebble: Pebble) -> None:
    at_eab_ca = {
        "ACMECF_SERVER": eab_pebble.directory_url,
        "ACMECF_CA_BUNDLE": str(eab_pebble.ca_bundle),
    }
    hmac_key = eab_pebble.hmac_key  # type: ignore[attr-defined]
    result = acmecf(
        "account",
        "register",
        "--agree-tos",
        "--email",
        "ops@example.com",
        "--eab-kid",
        "kid-ops",
        "--eab-hmac-key",
        hmac_key,
        **at_eab_ca,
    )
    assert result.code == 0, result.output
    assert f"account at {eab_pebble.directory_url}: https://" in result.stdout


# --- accounts ------------------------------------------------------------------------------


def test_account_show_update_and_deactivate(acmecf: Acmecf) -> None:
    assert acmecf.issue("acct.example.com").code == 0
    shown = acmecf("account", "show")
    assert shown.code == 0, shown.output
    assert "status:  valid" in shown.stdout
    assert "contact: ops@example.com" in shown.stdout
    updated = acmecf("account", "update", "--email", "noc@example.com")
    assert updated.code == 0, updated.output
    assert "noc@example.com" in acmecf("account", "show").stdout
    refused = acmecf("account", "deactivate")
    assert refused.code == 2 and "--yes" in refused.stderr
    deactivated = acmecf("account", "deactivate", "--yes")
    assert deactivated.code == 0, deactivated.output
    assert account_files(acmecf.config_dir) == []
    again = acmecf("account", "show")
    assert again.code == 2 and "acmecf account register" in again.stderr
    # The next issuance registers a new account and works.
    assert acmecf.issue("acct.example.com").code == 0


def test_key_rollover_then_renewal_with_the_new_key(acmecf: Acmecf, sandbox: Sandbox) -> None:
    assert acmecf.issue("roll.example.com").code == 0
    key_file = next(acmecf.config_dir.glob("accounts/*/*/key.pem"))
    old_key = key_file.read_bytes()
    uri = json.loads(account_files(acmecf.config_dir)[0].read_text())["uri"]
    rolled = acmecf("account", "rollover-key")
    assert rolled.code == 0, rolled.output
    assert key_file.read_bytes() != old_key
    assert json.loads(account_files(acmecf.config_dir)[0].read_text())["uri"] == uri
    renewed = acmecf("renew", "--force")
    assert renewed.code == 0, renewed.output
    assert "renewed roll.example.com" in renewed.stdout
    assert json.loads(account_files(acmecf.config_dir)[0].read_text())["uri"] == uri
    assert challenge_records(sandbox) == []


# --- certificate options --------------------------------------------------------------------


def test_reuse_key_keeps_the_key_and_the_default_makes_a_new_one(acmecf: Acmecf) -> None:
    assert acmecf.issue("kept.example.com", extra=("--reuse-key",)).code == 0
    assert acmecf.issue("fresh.example.com").code == 0
    kept_before = public_key(acmecf.live("kept.example.com") / "cert.pem")
    fresh_before = public_key(acmecf.live("fresh.example.com") / "cert.pem")
    assert acmecf("renew", "--force").code == 0
    assert public_key(acmecf.live("kept.example.com") / "cert.pem") == kept_before
    assert public_key(acmecf.live("fresh.example.com") / "cert.pem") != fresh_before


def test_preferred_chain_picks_the_asked_chain(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    alternate_root = x509.load_pem_x509_certificate(management(sandbox, "/roots/1").content)
    default_root = x509.load_pem_x509_certificate(management(sandbox, "/roots/0").content)
    wanted = alternate_root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert acmecf.issue("chain.example.com", extra=("--preferred-chain", str(wanted))).code == 0
    assert acmecf.issue("default-chain.example.com").code == 0

    def top_issuer(name: str) -> x509.Name:
        chain = x509.load_pem_x509_certificates((acmecf.live(name) / "chain.pem").read_bytes())
        return chain[-1].issuer

    assert top_issuer("chain.example.com") == alternate_root.subject
    assert top_issuer("default-chain.example.com") == default_root.subject
    # Asked for a chain the CA does not offer: the default one, with a notice.
    result = acmecf.issue("nochain.example.com", extra=("--preferred-chain", "No Such Root"))
    assert result.code == 0
    assert "no chain offered by the CA ends at an issuer named 'No Such Root'" in result.stderr
    assert top_issuer("nochain.example.com") == default_root.subject
    # The choice is stored and honoured on renewal.
    assert acmecf("renew", "--force", "--cert-name", "chain.example.com").code == 0
    assert top_issuer("chain.example.com") == alternate_root.subject


def test_a_profile_the_ca_does_not_offer_is_refused_clearly(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    result = acmecf.issue("profile.example.com", extra=("--profile", "no-such-profile"))
    assert result.code == 2
    assert result.stderr.strip().endswith(
        "offers no profile 'no-such-profile': it offers classic; change --profile"
    )
    assert challenge_records(sandbox) == []


def test_must_staple_is_asked_for_and_stored(acmecf: Acmecf) -> None:
    # Pebble 2.4 drops the TLS Feature extension, so the issued certificate cannot show it
    # here; the CSR carries it (unit test), and the choice must be stored for renewals.
    result = acmecf.issue("staple.example.com", extra=("--must-staple",))
    assert result.code == 0, result.output
    settings = tomllib.loads((acmecf.config_dir / "renewal/staple.example.com.toml").read_text())
    assert settings["certificate"]["must_staple"] is True
    assert acmecf.issue("nostaple.example.com").code == 0
    plain = tomllib.loads((acmecf.config_dir / "renewal/nostaple.example.com.toml").read_text())
    assert plain["certificate"]["must_staple"] is False


def test_a_failure_hook_gets_the_certificate_and_the_error(acmecf: Acmecf, tmp_path: Path) -> None:
    out = tmp_path / "paged"
    result = acmecf.issue(
        "page.example.com",
        "www.blocked.test",
        extra=(
            "--failure-hook",
            f'printf "%s|%s|%s" "$ACMECF_CERT_NAME" "$ACMECF_DOMAINS" "$ACMECF_ERROR" > {out}',
        ),
    )
    assert result.code == 1
    name, domains, error = out.read_text().split("|", 2)
    assert (name, domains) == ("page.example.com", "page.example.com www.blocked.test")
    assert error.startswith("the CA refused creating the order")


# --- revocation ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_certificate_key", [False, True])
def test_revoke_shows_the_certificate_revoked_at_the_ca(
    acmecf: Acmecf, sandbox: Sandbox, with_certificate_key: bool
) -> None:
    name = f"revoke{int(with_certificate_key)}.example.com"
    assert acmecf.issue(name).code == 0
    serial = x509.load_pem_x509_certificate(
        (acmecf.live(name) / "cert.pem").read_bytes()
    ).serial_number
    before = management(sandbox, f"/cert-status-by-serial/{serial:x}").json()
    assert before["Status"] == "Valid"
    extra = ("--key-path", str(acmecf.live(name) / "privkey.pem")) if with_certificate_key else ()
    result = acmecf("revoke", "--cert-name", name, "--reason", "keycompromise", *extra)
    assert result.code == 0, result.output
    assert f"revoked {name} (keycompromise)" in result.stdout
    assert "kept" in result.stdout
    after = management(sandbox, f"/cert-status-by-serial/{serial:x}").json()
    assert after["Status"] == "Revoked"
    # A revoked certificate that is kept is due at once.
    renewed = acmecf("renew")
    assert renewed.code == 0 and f"renewed {name}" in renewed.stdout


def test_revoke_with_delete_removes_the_certificate(acmecf: Acmecf) -> None:
    assert acmecf.issue("gone-revoked.example.com").code == 0
    result = acmecf("revoke", "--cert-name", "gone-revoked.example.com", "--delete")
    assert result.code == 0, result.output
    assert not acmecf.live("gone-revoked.example.com").exists()
    assert json.loads(acmecf("list", "--json").stdout)["certificates"] == []
