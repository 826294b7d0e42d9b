"""Renewals end to end: `acmecf renew`, stored settings, deploy hooks, locking, dry runs."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from cryptography import x509

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, challenge_records, credentials_file
from .test_issue import assert_valid_live_certificate

ENV_DUMP = 'env | grep -E "^(ACMECF_|RENEWED_|CLOUDFLARE_)" | sort > {path}'


def serial(live: Path) -> int:
    return x509.load_pem_x509_certificate((live / "cert.pem").read_bytes()).serial_number


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def pebble_requests(sandbox: Sandbox) -> int:
    return sandbox.pebble.log_text().count("-> calling handler()")


def test_renew_with_nothing_due_prints_nothing_and_touches_no_network(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    assert acmecf.issue("quiet.example.com").code == 0
    sandbox.emulator.clear_logs()
    before = pebble_requests(sandbox)
    result = acmecf("renew")
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    assert sandbox.emulator.requests == []
    assert sandbox.emulator.dns_queries == []
    assert pebble_requests(sandbox) == before
    verbose = acmecf("renew", "--verbose")
    assert verbose.code == 0
    assert verbose.stdout == "nothing due (1 certificate checked)\n"


def test_forced_renewal_writes_a_new_version_and_runs_deploy_hooks_with_every_variable(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "hook-env.txt"
    hooks_dir = acmecf.config_dir / "hooks" / "deploy"
    assert (
        acmecf.issue(
            "example.com", "*.example.com", extra=("--deploy-hook", ENV_DUMP.format(path=dump))
        ).code
        == 0
    )
    live = acmecf.live("example.com")
    first_serial = serial(live)
    first_version = live.resolve()
    marker = tmp_path / "dir-hook-ran"
    hooks_dir.mkdir(parents=True, exist_ok=True)
    script = hooks_dir / "10-marker"
    script.write_text(f'#!/bin/sh\necho "$ACMECF_FULLCHAIN" > {marker}\n')
    script.chmod(0o755)
    dump.unlink()

    result = acmecf("renew", "--force")

    assert result.code == 0, result.output
    assert "renewed example.com: valid until" in result.stdout
    assert serial(live) != first_serial
    assert live.resolve() != first_version and (first_version / "cert.pem").exists()
    assert_valid_live_certificate(live, ["example.com", "*.example.com"], pebble_root)
    variables = dict(line.split("=", 1) for line in dump.read_text().splitlines())
    assert variables == {
        "ACMECF_CERT_NAME": "example.com",
        "ACMECF_DOMAINS": "example.com *.example.com",
        "ACMECF_LIVE_DIR": str(live),
        "ACMECF_CERT": str(live / "cert.pem"),
        "ACMECF_CHAIN": str(live / "chain.pem"),
        "ACMECF_FULLCHAIN": str(live / "fullchain.pem"),
        "ACMECF_PRIVKEY": str(live / "privkey.pem"),
        "RENEWED_LINEAGE": str(live),
        "RENEWED_DOMAINS": "example.com *.example.com",
    }, "every variable, and no Cloudflare credential"
    assert marker.read_text().strip() == str(live / "fullchain.pem")
    assert challenge_records(sandbox) == []


def test_a_failing_deploy_hook_fails_the_run_but_keeps_the_new_certificate(
    acmecf: Acmecf, pebble_root: Path
) -> None:
    result = acmecf.issue(
        "hook.example.com", extra=("--deploy-hook", "echo 'nginx: [emerg] bad config' >&2; exit 3")
    )
    assert result.code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "hook.example.com is live, but deploy hook" in last
    assert "exit status 3" in last and "nginx: [emerg] bad config" in last
    live = acmecf.live("hook.example.com")
    assert_valid_live_certificate(live, ["hook.example.com"], pebble_root)
    first = serial(live)
    renewal = acmecf("renew", "--force")
    assert renewal.code == 1
    assert "failed hook.example.com: it is live, but deploy hook" in renewal.stderr
    assert serial(live) != first


def test_a_hanging_deploy_hook_is_stopped(acmecf: Acmecf) -> None:
    result = acmecf.issue(
        "slow.example.com", extra=("--deploy-hook", "sleep 30", "--hook-timeout", "1s")
    )
    assert result.code == 1
    assert "did not finish within 1s" in result.stderr
    assert (acmecf.live("slow.example.com") / "fullchain.pem").exists()


def test_one_broken_certificate_does_not_stop_the_others(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    token = sandbox.client_environment()["CLOUDFLARE_API_TOKEN"]
    credentials = credentials_file(tmp_path / "broken.ini", token)
    assert acmecf.issue("good.example.com").code == 0
    assert (
        acmecf.issue(
            "broken.example.net", extra=("--cloudflare-credentials", str(credentials))
        ).code
        == 0
    )
    credentials.write_text("dns_cloudflare_api_token = revoked-token-0123456789\n")
    good_serial = serial(acmecf.live("good.example.com"))
    broken_before = snapshot(acmecf.live("broken.example.net"))

    result = acmecf("renew", "--force")

    assert result.code == 1
    assert "renewed good.example.com" in result.stdout
    assert "failed broken.example.net: Cloudflare rejected the credentials" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "acmecf: error: 1 of 2 renewals failed: broken.example.net (see above)"
    )
    assert "revoked-token-0123456789" not in result.output
    assert serial(acmecf.live("good.example.com")) != good_serial
    assert snapshot(acmecf.live("broken.example.net")) == broken_before
    listing = json.loads(acmecf("list", "--json").stdout)["certificates"]
    results = {row["name"]: row["last_result"] for row in listing}
    assert results["good.example.com"] == "ok"
    assert results["broken.example.net"].startswith("Cloudflare rejected the credentials")
    assert challenge_records(sandbox) == []


def test_concurrent_renewals_never_mix_files(acmecf: Acmecf, pebble_root: Path) -> None:
    assert acmecf.issue("race.example.com").code == 0
    runs = [
        subprocess.Popen(
            acmecf.command("renew", "--force"),
            env=acmecf.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(run.wait(timeout=120), run.communicate()[1]) for run in runs]
    for code, stderr in results:
        assert code == 0 or "another acmecf run" in stderr, stderr
        assert "Traceback" not in stderr
    assert_valid_live_certificate(
        acmecf.live("race.example.com"), ["race.example.com"], pebble_root
    )


def test_a_second_run_waits_for_the_lock_then_says_so(acmecf: Acmecf) -> None:
    assert acmecf.issue("locked.example.com").code == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from pathlib import Path\n"
                "from acmecf.storage.files import FileStore\n"
                f"with FileStore(Path({str(acmecf.config_dir)!r})).lock('locked.example.com'):\n"
                "    print('locked', flush=True); time.sleep(30)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = acmecf("renew", "--force", timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 1
    assert result.stderr.strip().splitlines()[-2:] == [
        f"failed locked.example.com: another acmecf run (pid {holder.pid}) is working on "
        f"locked.example.com in {acmecf.config_dir}; it will finish on its own: try again later",
        "acmecf: error: 1 of 1 renewals failed: locked.example.com (see above)",
    ]


def test_dry_run_changes_nothing_and_skips_hooks(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    marker = tmp_path / "hook-ran"
    assert acmecf.issue("dry.example.com", extra=("--deploy-hook", f"touch {marker}")).code == 0
    marker.unlink()
    live_before = snapshot(acmecf.live("dry.example.com"))
    settings_path = acmecf.config_dir / "renewal" / "dry.example.com.toml"
    settings_before = settings_path.read_bytes()
    versions_before = sorted(
        p.name for p in (acmecf.config_dir / "archive/dry.example.com").iterdir()
    )
    sandbox.emulator.clear_logs()

    result = acmecf("renew", "--force", "--dry-run")

    assert result.code == 0, result.output
    assert "would be renewed (dry run) dry.example.com" in result.stdout
    assert [r.method for r in sandbox.emulator.requests if r.method != "GET"] in (
        [],
        ["POST", "DELETE"],
    )
    assert snapshot(acmecf.live("dry.example.com")) == live_before
    assert settings_path.read_bytes() == settings_before
    assert sorted(p.name for p in (acmecf.config_dir / "archive/dry.example.com").iterdir()) == (
        versions_before
    )
    assert not marker.exists()
    assert challenge_records(sandbox) == []
    with_hooks = acmecf("renew", "--force", "--dry-run", "--run-deploy-hooks")
    assert with_hooks.code == 0
    assert marker.exists()
    assert snapshot(acmecf.live("dry.example.com")) == live_before


def test_issue_dry_run_writes_no_files(acmecf: Acmecf, sandbox: Sandbox) -> None:
    result = acmecf.issue("rehearsal.example.com", extra=("--dry-run",))
    assert result.code == 0, result.output
    assert "would be issued (dry run, nothing written)" in result.stdout
    assert not (acmecf.config_dir / "live").exists()
    assert not (acmecf.config_dir / "renewal").exists()
    assert challenge_records(sandbox) == []


def test_issue_again_with_other_options_updates_the_stored_settings(
    acmecf: Acmecf, pebble_root: Path
) -> None:
    assert acmecf.issue("app.example.com", extra=("--deploy-hook", "true")).code == 0
    settings_path = acmecf.config_dir / "renewal" / "app.example.com.toml"
    assert stat.S_IMODE(settings_path.stat().st_mode) == 0o600
    result = acmecf.issue(
        "app.example.com",
        "api.example.com",
        extra=("--cert-name", "app.example.com", "--key-type", "rsa-2048"),
    )
    assert result.code == 0, result.output
    settings = tomllib.loads(settings_path.read_text())
    assert settings["certificate"]["names"] == ["app.example.com", "api.example.com"]
    assert settings["certificate"]["key_type"] == "rsa-2048"
    assert settings["hooks"]["deploy"] == ["true"], "options not given are kept"
    assert "token" not in settings_path.read_text().lower()
    assert_valid_live_certificate(
        acmecf.live("app.example.com"), ["app.example.com", "api.example.com"], pebble_root
    )
    renewed = acmecf("renew", "--force")
    assert renewed.code == 0, renewed.output
    assert_valid_live_certificate(
        acmecf.live("app.example.com"), ["app.example.com", "api.example.com"], pebble_root
    )


def test_days_threshold_and_pre_and_post_hooks(acmecf: Acmecf, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    assert acmecf.issue("days.example.com").code == 0
    hooks = ("--pre-hook", f"echo pre >> {log}", "--post-hook", f"echo post >> {log}")
    not_due = acmecf("renew", "--days", "30", *hooks)
    assert (not_due.code, not_due.stdout) == (0, "")
    assert not log.exists(), "pre/post hooks run only when something is renewed"
    due = acmecf("renew", "--days", "100000", *hooks)  # Pebble's certificates last 5 years
    assert due.code == 0, due.output
    assert "renewed days.example.com" in due.stdout
    assert log.read_text() == "pre\npost\n"


def test_list_shows_every_certificate(acmecf: Acmecf) -> None:
    assert acmecf.issue("one.example.com").code == 0
    assert acmecf.issue("two.example.net", extra=("--key-type", "ecdsa-p384")).code == 0
    table = acmecf("certificates")
    assert table.code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "DOMAINS", "KEY"]
    assert lines[1].split()[:3] == ["one.example.com", "one.example.com", "ecdsa-p256"]
    assert lines[2].split()[:3] == ["two.example.net", "two.example.net", "ecdsa-p384"]
    rows = json.loads(acmecf("list", "--json").stdout)["certificates"]
    assert [r["name"] for r in rows] == ["one.example.com", "two.example.net"]
    assert all(r["last_result"] == "ok" and 85 < r["days_left"] <= 90 for r in rows), "classic"


def test_delete_asks_unless_told_yes(acmecf: Acmecf) -> None:
    assert acmecf.issue("gone.example.com").code == 0
    refused = acmecf("delete", "--cert-name", "gone.example.com")
    assert refused.code == 2
    assert "pass --yes" in refused.stderr
    assert acmecf.live("gone.example.com").exists()
    deleted = acmecf("delete", "--cert-name", "gone.example.com", "--yes")
    assert deleted.code == 0
    assert not acmecf.live("gone.example.com").exists()
    assert not (acmecf.config_dir / "archive" / "gone.example.com").exists()
    assert json.loads(acmecf("list", "--json").stdout)["certificates"] == []
    unknown = acmecf("delete", "--cert-name", "gone.example.com", "--yes")
    assert unknown.code == 2
    assert "no certificate named 'gone.example.com'" in unknown.stderr


def test_list_writes_prometheus_metrics_for_monitoring(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    token = sandbox.client_environment()["CLOUDFLARE_API_TOKEN"]
    credentials = credentials_file(tmp_path / "cloudflare.ini", token)
    assert (
        acmecf.issue(
            "metrics.example.com", extra=("--cloudflare-credentials", str(credentials))
        ).code
        == 0
    )
    metrics = tmp_path / "textfile" / "acmecf.prom"
    metrics.parent.mkdir()
    result = acmecf("list", "--quiet", "--prometheus", str(metrics))
    assert (result.code, result.stdout) == (0, "")
    not_after = x509.load_pem_x509_certificate(
        (acmecf.live("metrics.example.com") / "cert.pem").read_bytes()
    ).not_valid_after_utc.timestamp()
    lines = metrics.read_text().splitlines()
    expiry = next(
        line for line in lines if line.startswith("acmecf_certificate_expiry_timestamp_seconds{")
    )
    assert 'name="metrics.example.com"' in expiry
    assert float(expiry.rsplit(" ", 1)[1]) == not_after
    assert 'acmecf_certificate_last_renewal_success{name="metrics.example.com"} 1' in lines
    credentials.write_text("dns_cloudflare_api_token = revoked-token-0123456789\n")
    assert acmecf("renew", "--force").code == 1
    assert acmecf("list", "--quiet", "--prometheus", str(metrics)).code == 0
    assert 'acmecf_certificate_last_renewal_success{name="metrics.example.com"} 0' in (
        metrics.read_text().splitlines()
    )
    assert [p.name for p in metrics.parent.iterdir()] == ["acmecf.prom"]
