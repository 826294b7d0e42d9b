"""`acmecf import-certbot` end to end: a certbot 5.x directory built from real Pebble
certificates and a real ACME account, imported, then renewed by acmecf."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import josepy
import pytest
from acme import client, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acmecf.migrate.certbot import read_renewal_configuration
from acmecf.sandbox.testbed import Sandbox
from acmecf.storage.files import FileStore as Store

from ..certbot_layout import Version, pkcs8, tree_digest, write_account, write_lineage
from .conftest import Acmecf, challenge_records
from .test_issue import assert_valid_live_certificate

NAME = "import.example.com"
NAMES = [NAME, f"*.{NAME}"]
OTHER = "web.example.org"
HOOK = 'echo "$RENEWED_LINEAGE|$RENEWED_DOMAINS" > {path}'


@dataclass(frozen=True)
class Material:
    """What certbot would have: an RSA account registered at Pebble, two issued versions."""

    account_key: rsa.RSAPrivateKey
    account_uri: str
    versions: tuple[Version, ...]


@dataclass(frozen=True)
class Certbot:
    directory: Path
    account_uri: str
    account_key: rsa.RSAPrivateKey
    credentials: Path
    hook_output: Path

    @property
    def conf(self) -> Path:
        return self.directory / "renewal" / f"{NAME}.conf"

    @property
    def other_conf(self) -> Path:
        return self.directory / "renewal" / f"{OTHER}.conf"


@pytest.fixture(scope="module")
def material(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Material]:
    # An account as certbot registers one: an RSA key, through the acme library.
    account_key = rsa.generate_private_key(65537, 2048)
    network = client.ClientNetwork(
        josepy.JWKRSA(key=account_key),
        alg=josepy.RS256,
        user_agent="CertbotACMEClient/5.0.0",
        verify_ssl=str(sandbox.pebble.ca_bundle),
    )
    directory = client.ClientV2.get_directory(sandbox.pebble.directory_url, network)
    registration = client.ClientV2(directory, network).new_account(
        messages.NewRegistration.from_data(email="ops@example.com", terms_of_service_agreed=True)
    )
    # Two versions issued with that account, as a certbot lineage renewed once holds.
    scratch = Acmecf(sandbox, tmp_path_factory.mktemp("scratch") / "config")
    store = Store(scratch.config_dir)
    store.save_account_key(sandbox.pebble.directory_url, pkcs8(account_key))
    store.save_account_info(
        sandbox.pebble.directory_url,
        {"server": sandbox.pebble.directory_url, "uri": registration.uri},
    )
    issued = scratch.issue(*NAMES, extra=("--key-type", "ecdsa-p384"))
    assert issued.code == 0, issued.output
    renewed = scratch("renew", "--force")
    assert renewed.code == 0, renewed.output
    versions = []
    for version in sorted((scratch.config_dir / "archive" / NAME).iterdir()):
        versions.append(
            Version(
                (version / "cert.pem").read_bytes(),
                (version / "chain.pem").read_bytes(),
                (version / "privkey.pem").read_bytes(),
            )
        )
    assert len(versions) == 2
    yield Material(account_key, registration.uri, tuple(versions))


@pytest.fixture
def certbot(material: Material, sandbox: Sandbox, tmp_path: Path) -> Certbot:
    """/etc/letsencrypt as certbot 5 leaves it: the dns-cloudflare lineage and a webroot one."""
    directory = tmp_path / "letsencrypt"
    server = sandbox.pebble.directory_url
    account_id = write_account(directory, server, material.account_key, material.account_uri)
    credentials = tmp_path / "cloudflare.ini"
    credentials.write_text(
        f"dns_cloudflare_api_token = {sandbox.client_environment()['CLOUDFLARE_API_TOKEN']}\n"
    )
    credentials.chmod(0o600)
    hook_output = tmp_path / "hook.txt"
    common = {"config_dir": str(directory), "work_dir": "/var/lib/letsencrypt"}
    write_lineage(
        directory,
        NAME,
        material.versions,
        {
            "account": account_id,
            "key_type": "ecdsa",
            "elliptic_curve": "secp384r1",
            "pref_challs": "dns-01,",
            "renew_hook": HOOK.format(path=hook_output),
            **common,
            "logs_dir": "/var/log/letsencrypt",
            "server": server,
            "authenticator": "dns-cloudflare",
            "dns_cloudflare_credentials": str(credentials),
        },
    )
    write_lineage(
        directory,
        OTHER,
        material.versions[:1],
        {
            "account": account_id,
            "key_type": "ecdsa",
            **common,
            "server": server,
            "authenticator": "webroot",
            "webroot_path": "/var/www/html,",
        },
    )
    return Certbot(directory, material.account_uri, material.account_key, credentials, hook_output)


def _serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def test_dry_run_lists_every_certificate_and_writes_nothing(
    acmecf: Acmecf, certbot: Certbot
) -> None:
    before = tree_digest(certbot.directory)

    result = acmecf("import-certbot", "--certbot-dir", str(certbot.directory), "--dry-run")

    assert result.code == 0, result.output
    assert f"would import {NAME}: {', '.join(NAMES)}" in result.stdout
    assert f"left alone: {OTHER} (authenticator webroot)" in result.stdout
    assert f"certbot's account {certbot.account_uri}" in result.stdout
    assert result.stdout.rstrip().endswith("dry run: nothing written")
    assert not acmecf.config_dir.exists()
    assert tree_digest(certbot.directory) == before


def test_import_takes_over_the_current_certificate_and_account_then_renews_it(
    acmecf: Acmecf, certbot: Certbot, sandbox: Sandbox, pebble_root: Path
) -> None:
    before = tree_digest(certbot.directory)
    certbot_live = certbot.directory / "live" / NAME

    result = acmecf("import-certbot", "--certbot-dir", str(certbot.directory))

    assert result.code == 0, result.output
    assert f"imported {NAME}: {', '.join(NAMES)}" in result.stdout
    assert f"left alone: {OTHER} (authenticator webroot)" in result.stdout
    assert "Traceback" not in result.output
    assert tree_digest(certbot.directory) == before, "nothing under the certbot directory changed"
    live = acmecf.live(NAME)
    for kind in ("cert", "chain", "fullchain", "privkey"):
        assert (live / f"{kind}.pem").read_bytes() == (certbot_live / f"{kind}.pem").read_bytes()
    leaf = x509.load_pem_x509_certificate((certbot_live / "cert.pem").read_bytes())
    [row] = json.loads(acmecf("list", "--json").stdout)["certificates"]
    assert (row["name"], row["domains"], row["key_type"]) == (NAME, NAMES, "ecdsa-p384")
    assert row["not_after"] == leaf.not_valid_after_utc.isoformat()
    settings = tomllib.loads((acmecf.config_dir / "renewal" / f"{NAME}.toml").read_text())
    assert settings["certificate"]["credentials_file"] == str(certbot.credentials)
    assert settings["hooks"]["deploy"] == [HOOK.format(path=certbot.hook_output)]
    [account_file] = acmecf.config_dir.glob("accounts/*/*/account.json")
    assert json.loads(account_file.read_text())["uri"] == certbot.account_uri
    account_key = serialization.load_pem_private_key(
        (account_file.parent / "key.pem").read_bytes(), None
    )
    assert account_key.public_key() == certbot.account_key.public_key()

    renewal = acmecf("renew", "--force")

    assert renewal.code == 0, renewal.output
    assert f"renewed {NAME}: valid until" in renewal.stdout
    assert _serial(live / "cert.pem") != leaf.serial_number
    assert_valid_live_certificate(live, NAMES, pebble_root)
    new_key = serialization.load_pem_private_key((live / "privkey.pem").read_bytes(), None)
    assert isinstance(new_key, ec.EllipticCurvePrivateKey) and new_key.curve.name == "secp384r1"
    assert challenge_records(sandbox) == []
    [account_after] = acmecf.config_dir.glob("accounts/*/*/account.json")
    assert json.loads(account_after.read_text())["uri"] == certbot.account_uri, (
        "the renewal used certbot's account rather than registering a new one"
    )
    assert certbot.hook_output.read_text().strip() == f"{live}|{' '.join(NAMES)}", (
        "certbot's deploy hook ran with RENEWED_LINEAGE and RENEWED_DOMAINS"
    )
    assert tree_digest(certbot.directory) == before


def test_disable_certbot_renewal_marks_only_the_imported_configuration(
    acmecf: Acmecf, certbot: Certbot
) -> None:
    before = tree_digest(certbot.directory)
    other_before = certbot.other_conf.read_bytes()

    result = acmecf(
        "import-certbot", "--certbot-dir", str(certbot.directory), "--disable-certbot-renewal"
    )

    assert result.code == 0, result.output
    assert f"autorenew = False in {certbot.conf}" in result.stdout
    after = tree_digest(certbot.directory)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed == {f"renewal/{NAME}.conf"}
    assert certbot.other_conf.read_bytes() == other_before
    assert read_renewal_configuration(certbot.conf).flag("autorenew") is False
    assert read_renewal_configuration(certbot.conf).text("authenticator") == "dns-cloudflare"

    again = acmecf(
        "import-certbot", "--certbot-dir", str(certbot.directory), "--disable-certbot-renewal"
    )

    assert again.code == 0, again.output
    assert f"left alone: {NAME} (already imported into acmecf)" in again.stdout
    assert tree_digest(certbot.directory) == after
