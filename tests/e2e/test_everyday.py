"""What users reach for every day, end to end through Pebble and the Cloudflare emulator: the
files their services need, hooks and output they can script, a log of each run, settings from
the environment and the global file, reconfigure, pruning, the Origin CA's validity and
revocation, and shell completion."""

from __future__ import annotations

import datetime
import grp
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, credentials_file, require_root

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "acmecf" / "data" / "run-result.schema.json").read_text())
ENV_DUMP = 'env | grep -E "^(RENEWED_|FAILED_|ACMECF_)" | sort > {path}'
TEST_GROUP = "acmecf-e2e-ssl"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pebble_requests(sandbox: Sandbox) -> int:
    return sandbox.pebble.log_text().count("-> calling handler()")


def versions(acmecf: Acmecf, name: str) -> list[str]:
    return sorted(p.name for p in (acmecf.config_dir / "archive" / name).iterdir())


def document(stdout: str) -> dict[str, object]:
    """The one JSON document of a --json run (the whole of stdout), checked against the
    shipped schema."""
    parsed = json.loads(stdout)
    jsonschema.validate(parsed, SCHEMA)
    assert isinstance(parsed, dict)
    return parsed


def fresh_zone(sandbox: Sandbox) -> tuple[str, str]:
    """A zone of its own (Origin CA certificates live in the session-wide emulator), and a
    token that sees only it."""
    name = f"z{uuid.uuid4().hex[:10]}.test"
    sandbox.emulator.add_zone(name)
    token = secrets.token_urlsafe(30)
    sandbox.emulator.add_token(token, zones=[name])
    return name, token


# --- files for other services -----------------------------------------------------------------


def test_combined_pem_holds_the_key_then_the_full_chain_with_the_key_s_mode(
    acmecf: Acmecf,
) -> None:
    result = acmecf.issue("haproxy.example.com", extra=("--combined",))
    assert result.code == 0, result.output
    live = acmecf.live("haproxy.example.com")
    combined = (live / "combined.pem").read_bytes()
    assert combined == (live / "privkey.pem").read_bytes() + (live / "fullchain.pem").read_bytes()
    assert combined.index(b"PRIVATE KEY") < combined.index(b"BEGIN CERTIFICATE")
    assert len(x509.load_pem_x509_certificates(combined)) == 2, "leaf and intermediate"
    assert mode(live / "combined.pem") == 0o600
    renewal = (acmecf.config_dir / "renewal" / "haproxy.example.com.toml").read_text()
    assert "combined = true" in renewal
    renewed = acmecf("renew", "--force")
    assert renewed.code == 0, renewed.output
    again = (live / "combined.pem").read_bytes()
    assert again != combined and again.startswith((live / "privkey.pem").read_bytes())


def test_cert_p12_opens_with_its_password_and_not_without(acmecf: Acmecf, tmp_path: Path) -> None:
    password_file = tmp_path / "p12-password"
    password = "p12-" + secrets.token_hex(8)
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    result = acmecf.issue(
        "java.example.com", extra=("--pkcs12", "--pkcs12-password-file", str(password_file))
    )
    assert result.code == 0, result.output
    assert "warning" not in result.stderr
    live = acmecf.live("java.example.com")
    p12 = live / "cert.p12"
    assert mode(p12) == 0o600
    opened = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p12), "-passin", f"file:{password_file}", "-nodes"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert opened.returncode == 0, opened.stderr
    assert "PRIVATE KEY" in opened.stdout
    leaf = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    certificates = x509.load_pem_x509_certificates(opened.stdout.encode())
    assert leaf in certificates and len(certificates) == 2
    wrong = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:wrong", "-nodes"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode != 0
    stored = (acmecf.config_dir / "renewal" / "java.example.com.toml").read_text()
    assert str(password_file) in stored and password not in stored


def test_cert_p12_without_a_password_comes_with_a_warning(acmecf: Acmecf) -> None:
    result = acmecf.issue("plain-p12.example.com", extra=("--pkcs12",))
    assert result.code == 0, result.output
    assert "warning: cert.p12 of plain-p12.example.com has no password" in result.stderr
    p12 = acmecf.live("plain-p12.example.com") / "cert.p12"
    opened = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:", "-nodes"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert opened.returncode == 0, opened.stderr
    assert "PRIVATE KEY" in opened.stdout


@pytest.fixture
def test_group() -> grp.struct_group:
    require_root("creating a group and handing files to it")
    try:
        return grp.getgrnam(TEST_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", TEST_GROUP], check=True)
        return grp.getgrnam(TEST_GROUP)


def test_a_key_group_may_read_the_key_and_no_one_else(
    acmecf: Acmecf, test_group: grp.struct_group
) -> None:
    result = acmecf.issue("grouped.example.com", extra=("--key-group", TEST_GROUP, "--combined"))
    assert result.code == 0, result.output
    config = acmecf.config_dir
    live = acmecf.live("grouped.example.com")
    version_dir = live.resolve()
    gid = test_group.gr_gid
    for key_file in ("privkey.pem", "combined.pem"):
        assert (mode(live / key_file), (live / key_file).stat().st_gid) == (0o640, gid)
    for directory in (config / "archive" / "grouped.example.com", version_dir):
        assert (mode(directory), directory.stat().st_gid) == (0o750, gid)
    for directory in (config, config / "live", config / "archive"):
        assert mode(directory) == 0o711, directory
    for private in ("renewal", "accounts", "locks"):
        assert mode(config / private) == 0o700
    # A process of that group reads the key; one outside it does not. (pytest's own
    # directories above the configuration directory are 0700: let anyone pass through them.)
    for parent in config.parents:
        if parent == Path(tempfile.gettempdir()):
            break
        parent.chmod(mode(parent) | 0o111)
    member = ["setpriv", f"--regid={gid}", "--reuid=65534", "--clear-groups"]
    outsider = ["setpriv", "--regid=65534", "--reuid=65534", "--clear-groups"]
    read = subprocess.run([*member, "cat", str(live / "privkey.pem")], capture_output=True)
    assert read.returncode == 0 and b"PRIVATE KEY" in read.stdout
    refused = subprocess.run([*outsider, "cat", str(live / "privkey.pem")], capture_output=True)
    assert refused.returncode != 0
    # Another run (a renewal, a listing) keeps those modes.
    assert acmecf("renew", "--force").code == 0
    assert acmecf("list").code == 0
    live = acmecf.live("grouped.example.com")
    assert (mode(live / "privkey.pem"), (live / "privkey.pem").stat().st_gid) == (0o640, gid)
    assert mode(config) == 0o711 and mode(config / "archive" / "grouped.example.com") == 0o750


def test_a_key_group_that_does_not_exist_is_refused_before_anything_is_ordered(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    before = pebble_requests(sandbox)
    result = acmecf.issue("nogroup.example.com", extra=("--key-group", "no-such-group-here"))
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        "acmecf: error: there is no group 'no-such-group-here' on this machine: create it "
        "(groupadd no-such-group-here) or give --key-group an existing one"
    ]
    assert sandbox.emulator.requests == []
    assert pebble_requests(sandbox) == before
    assert not acmecf.live("nogroup.example.com").exists()


# --- scriptable results -----------------------------------------------------------------------


def test_a_mixed_run_tells_the_post_hook_and_json_what_was_renewed_and_what_failed(
    acmecf: Acmecf, tmp_path: Path
) -> None:
    assert acmecf.issue("good.example.com", "www.good.example.com").code == 0
    assert acmecf.issue("bad.example.net").code == 0
    # Credentials Cloudflare refuses: the next renewal of bad.example.net fails.
    credentials = credentials_file(tmp_path / "bad.ini", "revoked-token-0123456789")
    changed = acmecf(
        "reconfigure",
        "--cert-name",
        "bad.example.net",
        "--cloudflare-credentials",
        str(credentials),
    )
    assert changed.code == 0, changed.output
    dump = tmp_path / "post-hook.env"

    result = acmecf(
        "renew", "--force", "--json", "--post-hook", ENV_DUMP.format(path=dump) + "; echo hook-ran"
    )

    assert result.code == 1
    variables = dict(line.split("=", 1) for line in dump.read_text().splitlines())
    assert variables == {
        "RENEWED_DOMAINS": "good.example.com www.good.example.com",
        "FAILED_DOMAINS": "bad.example.net",
        "ACMECF_RENEWED": "good.example.com",
        "ACMECF_FAILED": "bad.example.net",
    }
    output = document(result.stdout)  # nothing else on stdout: the hook's output is on stderr
    assert "hook-ran" in result.stderr
    assert (output["version"], output["command"], output["ok"]) == (1, "renew", False)
    records = {r["name"]: r for r in output["certificates"]}  # type: ignore[attr-defined]
    good, bad = records["good.example.com"], records["bad.example.net"]
    live = acmecf.live("good.example.com")
    assert good["outcome"] == "renewed" and good["error"] is None
    assert good["domains"] == ["good.example.com", "www.good.example.com"]
    assert good["files"]["fullchain"] == str(live / "fullchain.pem")
    leaf = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    not_after = datetime.datetime.fromisoformat(good["not_after"].replace("Z", "+00:00"))
    assert not_after == leaf.not_valid_after_utc
    assert bad["outcome"] == "failed" and bad["files"] is None
    assert bad["error"].startswith("Cloudflare rejected the credentials")
    assert "failed bad.example.net" in result.stderr


def test_renew_json_with_nothing_due_lists_each_certificate_as_not_due(acmecf: Acmecf) -> None:
    assert acmecf.issue("calm.example.com").code == 0
    result = acmecf("renew", "--json")
    assert result.code == 0, result.output
    output = document(result.stdout)
    assert output["ok"] is True
    [record] = output["certificates"]  # type: ignore[misc]
    assert (record["name"], record["outcome"]) == ("calm.example.com", "not_due")
    assert record["reason"]


def test_issue_json_is_one_document_and_list_json_has_the_same_envelope(acmecf: Acmecf) -> None:
    result = acmecf.issue("scripted.example.com", extra=("--json", "--combined"))
    assert result.code == 0, result.output
    output = document(result.stdout)
    [record] = output["certificates"]  # type: ignore[misc]
    assert (output["command"], record["outcome"]) == ("issue", "issued")
    assert set(record["files"]) == {"cert", "chain", "fullchain", "privkey", "combined"}
    listing = json.loads(acmecf("list", "--json").stdout)
    assert listing["version"] == 1
    assert [row["name"] for row in listing["certificates"]] == ["scripted.example.com"]
    legacy = json.loads(acmecf("list", "--json-array").stdout)
    assert legacy == listing["certificates"]


# --- a log of every run -----------------------------------------------------------------------


def test_a_run_that_did_something_leaves_a_log_with_debug_detail_and_no_secret(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    password_file = tmp_path / "p12-password"
    password = "logged-" + secrets.token_hex(8)
    password_file.write_text(password)
    password_file.chmod(0o600)
    result = acmecf.issue(
        "logged.example.com",
        extra=("--quiet", "--pkcs12", "--pkcs12-password-file", str(password_file)),
    )
    assert (result.code, result.stdout) == (0, ""), result.output
    logs = sorted((acmecf.config_dir / "logs").iterdir())
    assert len(logs) == 1
    [log_file] = logs
    assert re.fullmatch(r"\d{8}T\d{6}Z-\d+\.log", log_file.name)
    assert mode(log_file) == 0o600 and mode(log_file.parent) == 0o700
    text = log_file.read_text()
    assert " DEBUG acmecf." in text, "debug detail, though the console was quiet"
    assert "logged.example.com: version 0001 is live" in text
    token = sandbox.client_environment()["CLOUDFLARE_API_TOKEN"]
    key = (acmecf.live("logged.example.com") / "privkey.pem").read_text()
    key_body = "".join(key.strip().splitlines()[1:-1])
    assert token not in text and password not in text
    assert key_body[:40] not in text.replace("\n", "")
    # The first renewal may ask the CA for renewal information (ARI): that is something done.
    assert acmecf("renew").code == 0
    logs = sorted((acmecf.config_dir / "logs").iterdir())
    # Nothing at all to do: no log file.
    quiet = acmecf("renew")
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert sorted((acmecf.config_dir / "logs").iterdir()) == logs


def test_log_file_and_log_format_json_for_log_shippers(acmecf: Acmecf, tmp_path: Path) -> None:
    log_file = tmp_path / "shipped.jsonl"
    result = acmecf.issue(
        "shipped.example.com", extra=("--log-file", str(log_file), "--log-format", "json")
    )
    assert result.code == 0, result.output
    assert "Certificate shipped.example.com issued" in result.stdout, "the console is unchanged"
    assert "ordering a certificate for shipped.example.com" in result.stderr
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert entries and all(
        {"time", "level", "logger", "message", "certificate", "pid"} <= set(e) for e in entries
    )
    assert any(e["level"] == "debug" for e in entries)
    assert not (acmecf.config_dir / "logs").exists()


# --- settings from the environment and the global file --------------------------------------


def test_an_environment_variable_sets_a_stored_setting(acmecf: Acmecf) -> None:
    result = acmecf.issue("env.example.com", ACMECF_KEY_TYPE="ecdsa-p384", ACMECF_KEEP_VERSIONS="2")
    assert result.code == 0, result.output
    stored = (acmecf.config_dir / "renewal" / "env.example.com.toml").read_text()
    assert 'key_type = "ecdsa-p384"' in stored and "keep_versions = 2" in stored
    leaf = x509.load_pem_x509_certificate(
        (acmecf.live("env.example.com") / "cert.pem").read_bytes()
    )
    public_key = leaf.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.key_size == 384


def test_the_global_file_gives_defaults_and_run_settings(acmecf: Acmecf) -> None:
    acmecf.config_dir.mkdir(parents=True)
    acmecf.config_dir.chmod(0o700)
    (acmecf.config_dir / "acmecf.toml").write_text(
        'version = 1\n\n[defaults]\nkey_type = "rsa-2048"\n\n[run]\nhook_timeout = "1s"\n'
    )
    result = acmecf.issue("global.example.com", extra=("--deploy-hook", "sleep 30"))
    assert result.code == 1
    assert "did not finish within 1s" in result.stderr, "[run] hook_timeout"
    leaf = x509.load_pem_x509_certificate(
        (acmecf.live("global.example.com") / "cert.pem").read_bytes()
    )
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey), "[defaults] key_type"
    flagged = acmecf("renew", "--force", "--hook-timeout", "3s")
    assert "did not finish within 3s" in flagged.stderr, "the flag wins over the file"


# --- reconfigure ------------------------------------------------------------------------------


def test_reconfigure_changes_stored_settings_and_orders_nothing(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    assert acmecf.issue("reconf.example.com").code == 0
    live_before = acmecf.live("reconf.example.com").resolve()
    sandbox.emulator.clear_logs()
    before = pebble_requests(sandbox)
    marker = tmp_path / "deployed"

    result = acmecf(
        "reconfigure",
        "--cert-name",
        "reconf.example.com",
        "--deploy-hook",
        f"touch {marker}",
        "--keep-versions",
        "2",
        "--combined",
    )

    assert result.code == 0, result.output
    assert "reconf.example.com: keep_versions: 5 -> 2" in result.stdout
    assert sandbox.emulator.requests == [] and sandbox.emulator.dns_queries == []
    assert pebble_requests(sandbox) == before
    assert acmecf.live("reconf.example.com").resolve() == live_before
    stored = (acmecf.config_dir / "renewal" / "reconf.example.com.toml").read_text()
    assert f'deploy = ["touch {marker}"]' in stored and "combined = true" in stored
    assert 'server = "' in stored, "the other settings kept"
    assert acmecf("renew").stdout == "", "still nothing due"
    assert acmecf("renew", "--force").code == 0
    assert marker.exists() and (acmecf.live("reconf.example.com") / "combined.pem").exists()
    reset = acmecf("reconfigure", "--cert-name", "reconf.example.com", "--reset", "deploy-hook")
    assert reset.code == 0, reset.output
    stored = (acmecf.config_dir / "renewal" / "reconf.example.com.toml").read_text()
    assert "deploy = []" in stored


def test_reconfigure_refuses_what_issue_refuses(acmecf: Acmecf) -> None:
    assert acmecf.issue("strict.example.com").code == 0
    stored = (acmecf.config_dir / "renewal" / "strict.example.com.toml").read_bytes()
    for args, message in (
        (("--key-group", "no-such-group-here"), "there is no group 'no-such-group-here'"),
        (("--issuer", "cloudflare-origin-ca", "--key-type", "ecdsa-p384"), "does not sign"),
        (("--zone-id", "nothex"), "invalid --zone-id"),
        ((), "nothing to change"),
    ):
        result = acmecf("reconfigure", "--cert-name", "strict.example.com", *args)
        assert result.code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (acmecf.config_dir / "renewal" / "strict.example.com.toml").read_bytes() == stored
    missing = acmecf("reconfigure", "--cert-name", "nobody.example.com", "--combined")
    assert missing.code == 2 and "no certificate named 'nobody.example.com'" in missing.stderr


# --- pruning ----------------------------------------------------------------------------------


def test_old_versions_are_pruned_to_keep_versions_and_the_live_one_stays(acmecf: Acmecf) -> None:
    assert acmecf.issue("pruned.example.com", extra=("--keep-versions", "2")).code == 0
    for _ in range(3):
        result = acmecf("renew", "--force")
        assert result.code == 0, result.output
    assert versions(acmecf, "pruned.example.com") == ["0003", "0004"]
    assert acmecf.live("pruned.example.com").resolve().name == "0004"
    assert (acmecf.live("pruned.example.com") / "privkey.pem").exists()


# --- Cloudflare Origin CA ---------------------------------------------------------------------


def origin_ca_serials(sandbox: Sandbox, method: str) -> list[str]:
    route = "POST /certificates" if method == "POST" else "DELETE /certificates/{certificate_id}"
    return [
        r.params.get("certificate_id", "") for r in sandbox.emulator.requests if r.route == route
    ]


def test_origin_ca_validity_reaches_cloudflare_and_a_renewal_revokes_what_it_replaces(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    zone, token = fresh_zone(sandbox)
    name = f"www.{zone}"
    first = acmecf.issue(
        name,
        extra=(
            "--issuer",
            "cloudflare-origin-ca",
            "--origin-ca-validity",
            "30",
            "--deploy-hook",
            "true",  # the web server reloads: the old certificate may go
        ),
        CLOUDFLARE_API_TOKEN=token,
    )
    assert first.code == 0, first.output
    live = acmecf.live(name)
    leaf = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert datetime.timedelta(days=30) <= lifetime <= datetime.timedelta(days=30, hours=1)
    sandbox.emulator.clear_logs()

    renewed = acmecf("renew", "--force", CLOUDFLARE_API_TOKEN=token)

    assert renewed.code == 0, renewed.output
    assert origin_ca_serials(sandbox, "DELETE") == [str(leaf.serial_number)]
    second = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    assert second.serial_number != leaf.serial_number
    sandbox.emulator.clear_logs()

    revoked = acmecf("revoke", "--cert-name", name, "--delete", CLOUDFLARE_API_TOKEN=token)

    assert revoked.code == 0, revoked.output
    assert f"revoked {name} (at Cloudflare)" in revoked.stdout
    assert origin_ca_serials(sandbox, "DELETE") == [str(second.serial_number)]
    assert not live.exists()


def test_an_origin_ca_certificate_no_hook_reloads_is_not_revoked_but_named(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    zone, token = fresh_zone(sandbox)
    name = f"www.{zone}"
    issued = acmecf.issue(
        name, extra=("--issuer", "cloudflare-origin-ca"), CLOUDFLARE_API_TOKEN=token
    )
    assert issued.code == 0, issued.output
    old = x509.load_pem_x509_certificate((acmecf.live(name) / "cert.pem").read_bytes())
    sandbox.emulator.clear_logs()
    renewed = acmecf("renew", "--force", CLOUDFLARE_API_TOKEN=token)
    assert renewed.code == 0, renewed.output
    assert origin_ca_serials(sandbox, "DELETE") == []
    assert f"({old.serial_number}) was left valid" in renewed.stderr
    with_post_hook = acmecf("renew", "--force", "--post-hook", "true", CLOUDFLARE_API_TOKEN=token)
    assert with_post_hook.code == 0, with_post_hook.output
    assert len(origin_ca_serials(sandbox, "DELETE")) == 1, "the post-hook reloaded it"


# --- install ----------------------------------------------------------------------------------


def test_the_bash_completion_script_loads_and_completes_commands_and_options(
    acmecf: Acmecf,
) -> None:
    script = acmecf("completion", "bash")
    assert script.code == 0, script.output
    bin_dir = Path(shutil.which("acmecf") or "").parent
    assert bin_dir.name, "acmecf must be on PATH (the e2e tests put .venv/bin there)"
    probe = (
        'eval "$(acmecf completion bash)"; complete -p acmecf; '
        "COMP_WORDS=(acmecf ren); COMP_CWORD=1; _acmecf_completion acmecf; "
        'printf "%s\\n" "${COMPREPLY[@]}"; '
        "COMP_WORDS=(acmecf reconfigure --keep); COMP_CWORD=2; _acmecf_completion acmecf; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(
        ["bash", "-c", probe],
        env=acmecf.environment(PATH=f"{bin_dir}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "complete -o nosort -F _acmecf_completion acmecf" in result.stdout
    assert "renew" in result.stdout.splitlines()
    assert "--keep-versions" in result.stdout.splitlines()
    for shell, marker in (
        ("zsh", "#compdef acmecf"),
        ("fish", "complete --no-files --command acmecf"),
    ):
        other = acmecf("completion", shell)
        assert other.code == 0 and marker in other.stdout


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not here")
def test_the_man_page_renders_without_warnings_and_covers_every_command(acmecf: Acmecf) -> None:
    page = acmecf("man-page")
    assert page.code == 0, page.output
    rendered = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww"],
        input=page.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0 and rendered.stderr == "", rendered.stderr
    text = re.sub(r".\x08", "", rendered.stdout)
    for command in ("acmecf issue", "acmecf renew", "acmecf reconfigure", "acmecf account show"):
        assert command in text
    assert "--keep-versions" in text.replace("\u2010", "-")
