"""Taking over certbot's certificates: reading its files, the plan, writing, disabling renewal."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acmecf.cli import cli
from acmecf.errors import CertbotImportError
from acmecf.migrate.certbot import (
    DISABLED_MARK,
    carry_out,
    disable_certbot_renewal,
    key_type,
    plan_import,
    read_renewal_configuration,
)
from acmecf.storage.files import FileStore as Store

from ..certbot_layout import Version, pkcs8, tree_digest, write_account, write_lineage
from .x509_factory import TinyCA, pem

SERVER = "https://acme-v02.api.letsencrypt.org/directory"
ACCOUNT_URI = "https://acme-v02.api.letsencrypt.org/acme/acct/123456"


@pytest.fixture
def ca() -> TinyCA:
    return TinyCA()


def _version(ca: TinyCA, names: list[str], curve: ec.EllipticCurve | None = None) -> Version:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return Version(pem(ca.leaf(key, names)), pem(ca.intermediate), pkcs8(key))


def _params(**extra: str) -> dict[str, str]:
    return {
        "account": "",
        "key_type": "ecdsa",
        "pref_challs": "dns-01,",
        "renew_hook": "systemctl reload nginx",
        "server": SERVER,
        "authenticator": "dns-cloudflare",
        **extra,
    }


def _certbot(
    tmp_path: Path, ca: TinyCA, *, account_key: rsa.RSAPrivateKey | None = None
) -> tuple[Path, list[Version]]:
    """A certbot directory: example.com (dns-cloudflare, two versions) and a webroot one."""
    certbot_dir = tmp_path / "letsencrypt"
    credentials = tmp_path / "cloudflare.ini"
    credentials.write_text("dns_cloudflare_api_token = 0123456789abcdef\n")
    credentials.chmod(0o600)
    account_id = write_account(
        certbot_dir, SERVER, account_key or rsa.generate_private_key(65537, 2048), ACCOUNT_URI
    )
    versions = [
        _version(ca, ["example.com", "*.example.com"]),
        _version(ca, ["*.example.com", "example.com"]),
    ]
    write_lineage(
        certbot_dir,
        "example.com",
        versions,
        _params(account=account_id, dns_cloudflare_credentials=str(credentials)),
    )
    write_lineage(
        certbot_dir,
        "www.example.org",
        [_version(ca, ["www.example.org"])],
        _params(account=account_id, authenticator="webroot", webroot_path="/var/www/html,"),
    )
    return certbot_dir, versions


# --- reading certbot's files -----------------------------------------------------------------


def test_a_renewal_configuration_reads_as_configobj_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "example.com.conf"
    path.write_text(
        "\n"
        "version = 5.0.0\n"
        "cert = /etc/letsencrypt/live/example.com/cert.pem\n"
        "# a comment\n"
        "[renewalparams]\n"
        "pref_challs = dns-01,\n"
        'renew_hook = "systemctl reload nginx, then log # it"  # a comment\n'
        "pre_hook = '''echo \"it's\" here'''\n"
        "post_hook = echo done # trailing comment\n"
        "empty =\n"
        "[[webroot_map]]\n"
        "example.com = /var/www\n"
        "[acme_renewal_info]\n"
        "ari_retry_after = 2025-01-01T00:00:00\n"
    )
    configuration = read_renewal_configuration(path)
    assert configuration.lineage == "example.com"
    assert configuration.top == {
        "version": "5.0.0",
        "cert": "/etc/letsencrypt/live/example.com/cert.pem",
    }
    assert configuration.params == {
        "pref_challs": ("dns-01",),
        "renew_hook": "systemctl reload nginx, then log # it",
        "pre_hook": 'echo "it\'s" here',
        "post_hook": "echo done",
        "empty": "",
    }
    assert configuration.sections["acme_renewal_info"] == {"ari_retry_after": "2025-01-01T00:00:00"}


def test_an_unreadable_configuration_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.conf"
    path.write_text("version = 5.0.0\nthis is not a setting\n")
    with pytest.raises(CertbotImportError, match=r"broken.conf line 2: expected `key = value`"):
        read_renewal_configuration(path)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "rsa-2048"),  # certbot before 1.25 did not write its RSA default
        ({"key_type": "rsa", "rsa_key_size": "4096"}, "rsa-4096"),
        ({"key_type": "ecdsa"}, "ecdsa-p256"),
        ({"key_type": "ecdsa", "elliptic_curve": "secp384r1"}, "ecdsa-p384"),
    ],
)
def test_certbot_key_types_map_to_acmecf_key_types(
    tmp_path: Path, settings: dict[str, str], expected: str
) -> None:
    path = tmp_path / "a.conf"
    path.write_text("[renewalparams]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    assert key_type(read_renewal_configuration(path)) == expected


def test_a_key_type_acmecf_does_not_make_is_refused_with_the_remedy(tmp_path: Path) -> None:
    path = tmp_path / "a.conf"
    path.write_text("[renewalparams]\nkey_type = ecdsa\nelliptic_curve = secp521r1\n")
    with pytest.raises(CertbotImportError, match=r"ecdsa secp521r1.*acmecf issue --cert-name a"):
        key_type(read_renewal_configuration(path))


# --- the plan --------------------------------------------------------------------------------


def test_the_plan_takes_over_dns_cloudflare_and_leaves_the_others(
    tmp_path: Path, ca: TinyCA
) -> None:
    certbot_dir, versions = _certbot(tmp_path, ca)
    before = tree_digest(certbot_dir)
    plan = plan_import(certbot_dir, Store(tmp_path / "acmecf"))

    assert [(s.name, s.reason) for s in plan.skipped] == [
        ("www.example.org", "authenticator webroot")
    ]
    assert plan.failures == ()
    [takeover] = plan.takeovers
    config, state = takeover.certificate.settings, takeover.certificate.state
    assert config.cert_name == "example.com"
    assert config.names == ("*.example.com", "example.com"), "the current certificate's names"
    assert config.key_type == "ecdsa-p256"
    assert config.server == SERVER
    assert config.credentials_file == str(tmp_path / "cloudflare.ini")
    assert config.deploy_hooks == ("systemctl reload nginx",)
    assert takeover.files.cert == versions[1].cert
    assert takeover.files.fullchain == versions[1].cert + versions[1].chain
    assert takeover.files.privkey == versions[1].privkey
    assert takeover.source == certbot_dir / "archive" / "example.com" / "cert2.pem"
    assert state.not_after is not None and state.not_before is not None
    assert state.last_result is None
    assert [a.uri for a in plan.accounts] == [ACCOUNT_URI]
    assert not (tmp_path / "acmecf").exists()
    assert tree_digest(certbot_dir) == before


def test_carry_out_makes_the_current_files_live_and_reuses_the_account(
    tmp_path: Path, ca: TinyCA
) -> None:
    account_key = rsa.generate_private_key(65537, 2048)
    certbot_dir, versions = _certbot(tmp_path, ca, account_key=account_key)
    store = Store(tmp_path / "acmecf")
    carry_out(plan_import(certbot_dir, store), store)

    live = store.live_paths("example.com")
    assert live.cert.read_bytes() == versions[1].cert
    assert live.chain.read_bytes() == versions[1].chain
    assert live.fullchain.read_bytes() == versions[1].cert + versions[1].chain
    assert live.privkey.read_bytes() == versions[1].privkey
    assert stat.S_IMODE(live.privkey.stat().st_mode) == 0o600
    stored = store.load("example.com")
    assert stored.settings.key_type == "ecdsa-p256"
    assert stored.state.not_after is not None
    assert stored.state.version == stored.state.deployed_version == "0001"
    account = store.load_account(SERVER)
    assert account is not None
    key_pem, info = account.key_pem, account.info
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.private_numbers() == account_key.private_numbers()
    assert info["uri"] == ACCOUNT_URI
    assert store.names() == ["example.com"]


def test_a_second_import_leaves_an_imported_certificate_alone(tmp_path: Path, ca: TinyCA) -> None:
    certbot_dir, _ = _certbot(tmp_path, ca)
    store = Store(tmp_path / "acmecf")
    carry_out(plan_import(certbot_dir, store), store)
    again = plan_import(certbot_dir, store)
    assert again.takeovers == ()
    assert [(s.name, s.already_imported) for s in again.imported_before] == [("example.com", True)]


def test_an_unreadable_account_key_means_acmecf_needs_its_own_account(
    tmp_path: Path, ca: TinyCA
) -> None:
    certbot_dir, _ = _certbot(tmp_path, ca)
    [key_file] = certbot_dir.glob("accounts/*/*/*/private_key.json")
    key_file.chmod(0o600)
    key_file.write_text('{"kty": "RSA", "n": "AQAB", "e": "AQAB"}')  # a public key only
    plan = plan_import(certbot_dir, Store(tmp_path / "acmecf"))
    [takeover] = plan.takeovers
    assert plan.accounts == ()
    assert "is unreadable" in takeover.account
    assert f"acmecf account register --server {SERVER} --agree-tos" in takeover.account


def test_a_key_that_does_not_match_the_certificate_is_not_imported(
    tmp_path: Path, ca: TinyCA
) -> None:
    certbot_dir, _ = _certbot(tmp_path, ca)
    (certbot_dir / "archive/example.com/privkey2.pem").write_bytes(
        pkcs8(ec.generate_private_key(ec.SECP256R1()))
    )
    plan = plan_import(certbot_dir, Store(tmp_path / "acmecf"))
    assert plan.takeovers == ()
    assert [(f.name, f.reason) for f in plan.failures] == [
        ("example.com", "its privkey.pem does not belong to its fullchain.pem")
    ]


def test_settings_acmecf_does_not_keep_are_named(tmp_path: Path, ca: TinyCA) -> None:
    certbot_dir = tmp_path / "letsencrypt"
    write_lineage(
        certbot_dir,
        "example.com",
        [_version(ca, ["example.com"])],
        _params(pre_hook="systemctl stop haproxy"),
    )
    [takeover] = plan_import(certbot_dir, Store(tmp_path / "acmecf")).takeovers
    notes = "\n".join(takeover.notes)
    assert "pre_hook = systemctl stop haproxy is not carried over" in notes
    assert "no dns_cloudflare_credentials" in notes


def test_key_reuse_chain_and_profile_are_carried_over(tmp_path: Path, ca: TinyCA) -> None:
    certbot_dir = tmp_path / "letsencrypt"
    write_lineage(
        certbot_dir,
        "example.com",
        [_version(ca, ["example.com"])],
        _params(reuse_key="True", preferred_chain="ISRG Root X1", required_profile="tlsserver"),
    )
    [takeover] = plan_import(certbot_dir, Store(tmp_path / "acmecf")).takeovers
    config = takeover.certificate.settings
    assert (config.reuse_key, config.preferred_chain, config.profile) == (
        True,
        "ISRG Root X1",
        "tlsserver",
    )
    assert config.preferred_profile is None


def test_a_preferred_profile_stays_preferred(tmp_path: Path, ca: TinyCA) -> None:
    certbot_dir = tmp_path / "letsencrypt"
    write_lineage(
        certbot_dir,
        "example.com",
        [_version(ca, ["example.com"])],
        _params(preferred_profile="shortlived"),
    )
    [takeover] = plan_import(certbot_dir, Store(tmp_path / "acmecf")).takeovers
    config = takeover.certificate.settings
    assert (config.profile, config.preferred_profile) == (None, "shortlived")
    assert not any("profile" in note for note in takeover.notes)


def test_must_staple_is_dropped_with_a_note_for_lets_encrypt(tmp_path: Path, ca: TinyCA) -> None:
    certbot_dir = tmp_path / "letsencrypt"
    write_lineage(
        certbot_dir, "example.com", [_version(ca, ["example.com"])], _params(must_staple="True")
    )
    [takeover] = plan_import(certbot_dir, Store(tmp_path / "acmecf")).takeovers
    assert takeover.certificate.settings.must_staple is False
    assert any(
        note.startswith("must_staple is not carried over: Let's Encrypt no longer issues")
        for note in takeover.notes
    )


def test_must_staple_is_kept_for_another_ca(tmp_path: Path, ca: TinyCA) -> None:
    certbot_dir = tmp_path / "letsencrypt"
    write_lineage(
        certbot_dir,
        "example.com",
        [_version(ca, ["example.com"])],
        _params(must_staple="True", server="https://acme.example/directory"),
    )
    [takeover] = plan_import(certbot_dir, Store(tmp_path / "acmecf")).takeovers
    assert takeover.certificate.settings.must_staple is True
    assert not any("must_staple" in note for note in takeover.notes)


def test_a_missing_certbot_directory_says_which_option_to_pass(tmp_path: Path) -> None:
    with pytest.raises(CertbotImportError, match=r"pass --certbot-dir"):
        plan_import(tmp_path / "nowhere", Store(tmp_path / "acmecf"))


# --- disabling certbot's renewal -------------------------------------------------------------


def test_disabling_adds_autorenew_false_to_renewalparams_only(tmp_path: Path, ca: TinyCA) -> None:
    certbot_dir, _ = _certbot(tmp_path, ca)
    conf = certbot_dir / "renewal" / "example.com.conf"
    original = conf.read_text()
    assert disable_certbot_renewal(conf) is True
    text = conf.read_text()
    assert text == original.replace(
        "[renewalparams]\n", f"[renewalparams]\n{DISABLED_MARK}\nautorenew = False\n"
    )
    assert read_renewal_configuration(conf).flag("autorenew") is False
    assert stat.S_IMODE(conf.stat().st_mode) == 0o644
    assert not (certbot_dir / ".certbot.lock").exists(), "certbot's lock is released and removed"
    assert disable_certbot_renewal(conf) is False, "idempotent"
    assert conf.read_text() == text


def test_disabling_rewrites_an_existing_autorenew_setting(tmp_path: Path) -> None:
    conf = tmp_path / "renewal" / "a.conf"
    conf.parent.mkdir()
    conf.write_text("version = 5.0.0\n[renewalparams]\nautorenew = True\nserver = x\n")
    disable_certbot_renewal(conf)
    assert conf.read_text() == "version = 5.0.0\n[renewalparams]\nautorenew = False\nserver = x\n"


def test_disabling_refuses_while_certbot_holds_its_lock(tmp_path: Path, ca: TinyCA) -> None:
    certbot_dir, _ = _certbot(tmp_path, ca)
    conf = certbot_dir / "renewal" / "example.com.conf"
    original = conf.read_bytes()
    holder = subprocess.Popen(  # certbot's lock is lockf, per process: another one must hold it
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(certbot_dir / '.certbot.lock')!r}, os.O_CREAT | os.O_WRONLY)\n"
            "fcntl.lockf(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(CertbotImportError, match=r"certbot is running"):
            disable_certbot_renewal(conf)
    finally:
        holder.kill()
        holder.wait()
    assert conf.read_bytes() == original


# --- the command -----------------------------------------------------------------------------


def test_the_command_reports_a_missing_directory_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "import-certbot",
            "--certbot-dir",
            str(tmp_path / "nowhere"),
            "--config-dir",
            str(tmp_path / "c"),
        ],
    )
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("acmecf: error: ")
    assert "pass --certbot-dir" in result.output
    assert "Traceback" not in result.output


def test_the_command_dry_run_lists_everything_and_writes_nothing(
    tmp_path: Path, ca: TinyCA
) -> None:
    certbot_dir, _ = _certbot(tmp_path, ca)
    before = tree_digest(certbot_dir)
    config_dir = tmp_path / "acmecf"
    result = CliRunner().invoke(
        cli,
        [
            "import-certbot",
            "--certbot-dir",
            str(certbot_dir),
            "--config-dir",
            str(config_dir),
            "--dry-run",
            "--disable-certbot-renewal",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "would import example.com: *.example.com, example.com" in result.output
    assert "left alone: www.example.org (authenticator webroot)" in result.output
    assert "would set autorenew = False in" in result.output
    assert result.output.rstrip().endswith("dry run: nothing written")
    assert not config_dir.exists()
    assert tree_digest(certbot_dir) == before
