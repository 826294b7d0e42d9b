"""Several origin servers, one certificate: a real 3-member etcd cluster on loopback, three
origins (three configuration directories, each with its own deploy hook and origin name)
against Pebble and the Cloudflare emulator.

Each test prints the counts and timings it checked (pytest -s shows them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from acmecf.sandbox.etcd import EtcdCluster
from acmecf.sandbox.testbed import Sandbox
from acmecf.storage.etcd.client import EtcdClient, EtcdSettings

from .conftest import Acmecf, Result, challenge_records, missing_part
from .test_faults import assert_live_set_consistent
from .test_shipped_files import ROOT, installed_acmecf

LIVE_FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")
HOOK = """#!/bin/sh
echo "$ACMECF_CERT_NAME $(sha256sum < "$ACMECF_FULLCHAIN" | cut -d' ' -f1)" >> {log}
"""


@dataclass
class Origin:
    name: str
    acmecf: Acmecf
    hook_log: Path

    @property
    def config_dir(self) -> Path:
        return self.acmecf.config_dir

    def __call__(self, *args: str, timeout: float = 180, **env: str | None) -> Result:
        return self.acmecf(*args, timeout=timeout, **env)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.acmecf.command(*args),
            env=self.acmecf.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def live_bytes(self, cert_name: str) -> dict[str, bytes]:
        live = self.acmecf.live(cert_name)
        return {name: (live / name).read_bytes() for name in LIVE_FILES}

    def hook_runs(self) -> list[str]:
        return self.hook_log.read_text().splitlines() if self.hook_log.exists() else []


@dataclass
class Fleet:
    origins: list[Origin]
    cluster: EtcdCluster
    prefix: str
    key_file: Path

    def client(self) -> EtcdClient:
        return EtcdClient(EtcdSettings(endpoints=tuple(self.cluster.endpoints()), timeout=5))


def store_section(fleet_url: str, key_file: Path, origin: str, **extra: str) -> str:
    lines = [
        "version = 1",
        "",
        "[store]",
        f'url = "{fleet_url}"',
        f'key_file = "{key_file}"',
        f'origin = "{origin}"',
        'lease_ttl = "4s"',
        'timeout = "3s"',
        'lock_wait = "90s"',
    ]
    lines += [f'{key} = "{value}"' for key, value in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def fleet(sandbox: Sandbox, etcd_cluster: EtcdCluster, etcd_prefix: str, tmp_path: Path) -> Fleet:
    key_file = tmp_path / "store.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    url = f"etcd://{','.join(etcd_cluster.endpoints())}{etcd_prefix}"
    origins = []
    for number in (1, 2, 3):
        name = f"origin{number}"
        config_dir = tmp_path / name
        hooks = config_dir / "hooks" / "deploy"
        hooks.mkdir(parents=True, mode=0o700)
        config_dir.chmod(0o700)
        (config_dir / "hooks").chmod(0o700)
        log = tmp_path / f"{name}-hook.log"
        hook = hooks / "10-record"
        hook.write_text(HOOK.format(log=log))
        hook.chmod(0o700)
        (config_dir / "acmecf.toml").write_text(store_section(url, key_file, name))
        (config_dir / "acmecf.toml").chmod(0o600)
        origins.append(Origin(name, Acmecf(sandbox, config_dir), log))
    return Fleet(origins, etcd_cluster, etcd_prefix, key_file)


def orders_at_pebble(sandbox: Sandbox) -> int:
    """Orders Pebble created (a request refused for its nonce and retried counts once)."""
    return sandbox.pebble.log_text().count("Added order ")


def challenges_at_pebble(sandbox: Sandbox) -> int:
    """Challenges Pebble validated (Pebble reuses some valid authorizations at random)."""
    return sandbox.pebble.log_text().count("set VALID by completed challenge")


def txt_records_created(sandbox: Sandbox) -> int:
    """TXT records the emulator was asked to create (one by one or in batches)."""
    created = 0
    for request in sandbox.emulator.requests:
        route = request.route or ""
        if request.method == "POST" and route.endswith("/dns_records"):
            created += 1
        elif route.endswith("/dns_records/batch") and request.status == 200:
            created += request.changes.get("posts", 0)
    return created


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def issue_on(origin: Origin, *names: str, extra: tuple[str, ...] = ()) -> None:
    result = origin.acmecf.issue(*names, extra=extra)
    assert result.code == 0, result.output


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


# --- one renewer at a time, every origin in step ---------------------------------------------


def test_concurrent_forced_renewals_order_each_certificate_once_and_sync_makes_them_identical(
    fleet: Fleet, sandbox: Sandbox
) -> None:
    first, second, third = fleet.origins
    cert_names = ["alpha.example.com", "beta.example.net"]
    issue_on(first, "alpha.example.com", "*.alpha.example.com", extra=("--combined",))
    issue_on(first, "beta.example.net")
    for origin in (second, third):
        result = origin("sync")
        assert result.code == 0, result.output
        assert f"synced {cert_names[0]}" in result.stdout
    # A new account (kept in etcd like the old one), so that Pebble reuses no authorization
    # of the first issuance and every name needs its TXT record again.
    for step in (("account", "deactivate", "--yes"), ("account", "register", "--agree-tos")):
        result = first(*step)
        assert result.code == 0, result.output
    orders_before = orders_at_pebble(sandbox)
    challenges_before = challenges_at_pebble(sandbox)
    sandbox.emulator.clear_logs()
    started = time.monotonic()
    runs = [origin.start("renew", "--force") for origin in fleet.origins]
    results = [(run.wait(timeout=240), *run.communicate()) for run in runs]
    elapsed = time.monotonic() - started
    for origin, (code, stdout, stderr) in zip(fleet.origins, results, strict=True):
        assert code == 0, f"{origin.name}: {stdout}{stderr}"
        assert "Traceback" not in stderr
    orders = orders_at_pebble(sandbox) - orders_before
    challenges = challenges_at_pebble(sandbox) - challenges_before
    records = txt_records_created(sandbox)
    assert orders == len(cert_names), "each certificate is ordered once, fleet-wide"
    assert records == challenges == 3, "one TXT record each for alpha, *.alpha and beta"
    assert challenge_records(sandbox) == []
    lines = [line for _, stdout, _ in results for line in stdout.splitlines()]
    print("\n".join(lines))
    renewed = sum(line.startswith("renewed ") for line in lines)
    skipped = sum(line.startswith("skipped ") for line in lines)
    assert (renewed, skipped) == (2, 4)
    for origin in fleet.origins:
        result = origin("sync")
        assert result.code == 0, result.output
    for cert_name in cert_names:
        copies = [origin.live_bytes(cert_name) for origin in fleet.origins]
        assert copies[0] == copies[1] == copies[2], f"{cert_name}: every origin serves the same"
    for origin in fleet.origins:
        assert assert_live_set_consistent(origin.config_dir) == sorted(cert_names)
        live = origin.live_bytes(cert_names[0])
        assert f"{cert_names[0]} {sha(live['fullchain.pem'])}" in origin.hook_runs(), origin.name
        combined = (origin.acmecf.live(cert_names[0]) / "combined.pem").read_bytes()
        assert combined == live["privkey.pem"] + live["fullchain.pem"], "each origin writes it"
    listed = third("list", "--json")
    assert listed.code == 0, listed.output
    document = json.loads(listed.stdout)
    assert document["store"] == f"etcd://{','.join(fleet.cluster.endpoints())}{fleet.prefix}"
    rows = {row["name"]: row for row in document["certificates"]}
    for cert_name in cert_names:
        row = rows[cert_name]
        assert row["store"].startswith("etcd://") and row["version"] == "0002"
        assert {o: s["version"] for o, s in row["origins"].items()} == {
            "origin1": "0002",
            "origin2": "0002",
            "origin3": "0002",
        }
    table = third("list")
    assert table.code == 0 and "store: etcd://" in table.stdout and "ORIGIN" in table.stdout
    print(table.stdout)
    print(
        f"3 origins ran renew --force at once: {orders} orders at Pebble, {records} TXT records "
        f"created for {challenges} challenges, {renewed} renewed + {skipped} skipped, in "
        f"{elapsed:.1f} s; live files "
        "byte-identical on the 3 origins after sync"
    )


def fresh_account(origin: Origin) -> None:
    """A new account in the store, so Pebble reuses no earlier authorization: every name of
    the next order needs its TXT record."""
    for step in (("account", "deactivate", "--yes"), ("account", "register", "--agree-tos")):
        result = origin(*step)
        assert result.code == 0, result.output


def test_sigkill_of_the_renewing_origin_mid_order_then_another_origin_completes_the_renewal(
    fleet: Fleet, sandbox: Sandbox
) -> None:
    first, second, third = fleet.origins
    issue_on(first, "kill.example.com")
    old = first.live_bytes("kill.example.com")
    fresh_account(first)
    sandbox.emulator.set_nameserver_delay(0, 60.0)  # the order waits with its record published
    try:
        run = first.start("renew", "--force")
        wait_for(lambda: bool(challenge_records(sandbox)), 60, "the challenge record")
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
        killed = time.monotonic()
        left = len(challenge_records(sandbox))
    finally:
        sandbox.emulator.set_nameserver_delay(0, 0.0)
    assert left >= 1
    result = second("renew", "--force")
    took = time.monotonic() - killed
    assert result.code == 0, result.output
    assert "renewed kill.example.com" in result.stdout
    assert challenge_records(sandbox) == [], "the killed origin's record is removed"
    assert took >= 2.0, "the lock is taken only once the killed origin's lease expired"
    assert first.live_bytes("kill.example.com") == old, "the killed run changed nothing"
    for origin in (first, third):
        synced = origin("sync")
        assert synced.code == 0, synced.output
    copies = [origin.live_bytes("kill.example.com") for origin in fleet.origins]
    assert copies[0] == copies[1] == copies[2] != old
    print(
        f"SIGKILL mid-order left {left} TXT record(s); the next origin's run completed "
        f"{took:.1f} s after the kill (lease TTL 4 s) and left 0"
    )


def test_one_etcd_member_down_changes_nothing_and_an_origin_that_was_down_catches_up(
    fleet: Fleet, sandbox: Sandbox
) -> None:
    first, second, third = fleet.origins
    issue_on(first, "member.example.com")
    assert third("sync").code == 0
    leader = fleet.cluster.leader()
    assert leader is not None
    fleet.cluster.stop_member(leader)  # the leader: the others elect a new one
    started = time.monotonic()
    result = second("renew", "--force")
    took = time.monotonic() - started
    assert result.code == 0, result.output
    assert "renewed member.example.com" in result.stdout
    # The third origin was down meanwhile: its next run, with nothing due, catches up.
    before = third.hook_runs()
    caught_up = third("renew")
    assert caught_up.code == 0, caught_up.output
    assert "synced member.example.com: version 0002 is live here" in caught_up.stdout
    assert third.live_bytes("member.example.com") == second.live_bytes("member.example.com")
    assert len(third.hook_runs()) == len(before) + 1
    print(f"leader (member{leader}) stopped: renew --force took {took:.1f} s and succeeded")


def test_two_etcd_members_down_is_a_clean_failure_with_the_live_files_intact(
    fleet: Fleet, sandbox: Sandbox
) -> None:
    first, second, _ = fleet.origins
    issue_on(first, "quorum.example.com")
    assert second("sync").code == 0
    before = {origin.name: origin.live_bytes("quorum.example.com") for origin in (first, second)}
    links = {o.name: os.readlink(o.acmecf.live("quorum.example.com")) for o in (first, second)}
    with fleet.client() as client:
        keys_before = sorted(kv.key for kv in client.get_prefix(fleet.prefix))
    fleet.cluster.stop_member(0)
    fleet.cluster.stop_member(1)
    orders_before = orders_at_pebble(sandbox)
    timings = {}
    for args in (("renew", "--force"), ("sync",), ("list",), ("issue", "-d", "new.example.com")):
        started = time.monotonic()
        result = first(*args, timeout=60)
        timings[args[0]] = time.monotonic() - started
        assert result.code == 1, f"{args}: {result.output}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        endpoint = fleet.cluster.endpoints()[2]
        assert endpoint in lines[0] and "quorum" in lines[0], lines[0]
    assert orders_at_pebble(sandbox) == orders_before, "nothing is ordered without a store"
    for origin in (first, second):
        assert origin.live_bytes("quorum.example.com") == before[origin.name]
        assert os.readlink(origin.acmecf.live("quorum.example.com")) == links[origin.name]
    fleet.cluster.heal()
    with fleet.client() as client:
        keys_after = sorted(
            kv.key for kv in client.get_prefix(fleet.prefix) if "/locks/" not in kv.key
        )
    assert keys_after == [k for k in keys_before if "/locks/" not in k], "nothing half-written"
    result = first("renew", "--force")
    assert result.code == 0, result.output
    print(
        "2 of 3 members stopped: "
        + ", ".join(f"{command} failed in {seconds:.1f} s" for command, seconds in timings.items())
        + f"; one line each: {lines[0]}"
    )


def test_etcd_holds_no_unencrypted_private_key(fleet: Fleet) -> None:
    first, second, _ = fleet.origins
    issue_on(first, "secret.example.com", "*.secret.example.com")
    assert second("sync").code == 0
    key_pem = second.live_bytes("secret.example.com")["privkey.pem"]
    key = serialization.load_pem_private_key(key_pem, None)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    body = b"".join(key_pem.splitlines()[1:-1])
    with fleet.client() as client:
        everything = client.get_prefix(fleet.prefix)
    sealed = 0
    for kv in everything:
        blob = kv.key.encode() + kv.value
        assert b"PRIVATE KEY" not in blob, kv.key
        assert der not in blob and body not in blob and base64.b64encode(der) not in blob
        for secret_field in re.findall(rb'"(?:privkey|key)":(\{[^}]*\})', kv.value):
            assert b'"alg":"A256GCM"' in secret_field, kv.key
            sealed += 1
    assert sealed >= 2, "the certificate's key and the account's key are sealed"
    print(f"scanned {len(everything)} etcd keys: no private key in clear, {sealed} sealed blobs")


def test_a_wrong_or_missing_fleet_key_is_one_clear_line(fleet: Fleet, tmp_path: Path) -> None:
    first, second, _ = fleet.origins
    issue_on(first, "keyed.example.com")
    wrong = tmp_path / "wrong.key"
    wrong.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    wrong.chmod(0o600)
    for args in (("sync",), ("list",), ("renew", "--force")):
        result = second(*args, "--store-key-file", str(wrong))
        assert result.code == 2, result.output
        assert result.stderr.count("\n") == 1 and "is not the key of the store" in result.stderr
    toml = second.config_dir / "acmecf.toml"
    toml.write_text(
        "\n".join(line for line in toml.read_text().splitlines() if "key_file" not in line)
    )
    result = second("sync")
    assert result.code == 2 and "needs the fleet key" in result.stderr, result.output
    assert not second.acmecf.live("keyed.example.com").exists()


def test_store_push_then_pull_round_trips(fleet: Fleet, sandbox: Sandbox, tmp_path: Path) -> None:
    solo = Acmecf(sandbox, tmp_path / "solo")
    assert solo.issue("moving.example.com", extra=("--deploy-hook", "true")).code == 0
    url = f"etcd://{','.join(fleet.cluster.endpoints())}{fleet.prefix}"
    flags = ("--store", url, "--store-key-file", str(fleet.key_file))
    pushed = solo("store", "push", *flags)
    assert pushed.code == 0, pushed.output
    assert "pushed moving.example.com (version 0001)" in pushed.stdout
    again = solo("store", "push", *flags)
    assert again.code == 0 and "pushed 0 " in again.stdout, again.output
    # A fresh origin pulls everything back out: the same files, settings and account.
    fresh = Acmecf(sandbox, tmp_path / "fresh")
    pulled = fresh("store", "pull", *flags)
    assert pulled.code == 0, pulled.output
    live = {name: (solo.live("moving.example.com") / name).read_bytes() for name in LIVE_FILES}
    assert {n: (fresh.live("moving.example.com") / n).read_bytes() for n in LIVE_FILES} == live

    def tables(config: Path) -> dict[str, object]:
        document = tomllib.loads((config / "renewal" / "moving.example.com.toml").read_text())
        return {k: v for k, v in document.items() if k != "state"}

    assert tables(fresh.config_dir) == tables(solo.config_dir)
    accounts = sorted(
        p.relative_to(solo.config_dir) for p in solo.config_dir.glob("accounts/**/key.pem")
    )
    for path in accounts:
        assert (fresh.config_dir / path).read_bytes() == (solo.config_dir / path).read_bytes()
    assert accounts
    # The pulled copy works alone: its next renew runs the deploy hooks this machine has not
    # run for those files yet, then nothing is pending and nothing due.
    deployed = fresh("renew", "--store", "files")
    assert deployed.code == 0 and "deployed moving.example.com" in deployed.stdout
    renewed = fresh("renew", "--store", "files")
    assert (renewed.code, renewed.stdout) == (0, ""), renewed.output
    first = fleet.origins[0]
    listed = first("list")
    assert listed.code == 0 and "moving.example.com" in listed.stdout
    assert f"store: {url}" in listed.stdout
    print("store push then pull: live files, settings and account key identical")


def test_sync_watch_reacts_within_seconds_and_stops_cleanly(fleet: Fleet) -> None:
    first, _, third = fleet.origins
    issue_on(first, "watched.example.com")
    pointer = f"{fleet.prefix}live/watched.example.com"
    watcher = third.start("sync", "--watch", "--interval", "1s")
    try:
        wait_for(lambda: third.acmecf.live("watched.example.com").exists(), 30, "the first sync")
        with fleet.client() as client:
            published_before = client.get(pointer)
            assert published_before is not None
            renewal = first.start("renew", "--force", "--cert-name", "watched.example.com")
            wait_for(lambda: client.get(pointer) != published_before, 60, "the new version in etcd")
        published = time.monotonic()
        assert renewal.wait(timeout=60) == 0, renewal.communicate()
        target = first.live_bytes("watched.example.com")
        wait_for(lambda: third.live_bytes("watched.example.com") == target, 30, "the watch")
        reacted = time.monotonic() - published
        wait_for(
            lambda: any(sha(target["fullchain.pem"]) in h for h in third.hook_runs()), 10, "hook"
        )
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(timeout=30)
        stdout, stderr = watcher.communicate()
    assert code == 0, stdout + stderr
    assert "stopped watching" in stdout and "synced watched.example.com" in stdout
    assert reacted < 5.0
    print(
        f"sync --watch (every 1 s) had the new version live here {reacted:.1f} s after etcd had it"
    )


# --- the shipped units -------------------------------------------------------------------------


def test_the_fleet_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        missing_part("systemd-analyze is not installed (it comes with systemd)")
    names = {"acmecf-sync.service": "sync", "acmecf-sync-watch.service": "sync --watch"}
    units = tmp_path / "units"
    units.mkdir()
    in_search_path = any(
        Path(directory, "acmecf").exists()
        for directory in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin")
    )
    for name, command in names.items():
        shutil.copy(ROOT / "systemd" / name, units / name)  # as written
        if not in_search_path:  # a virtualenv's acmecf: the README's drop-in
            (units / f"{name}.d").mkdir()
            (units / f"{name}.d" / "path.conf").write_text(
                f"[Service]\nExecStart=\nExecStart={installed_acmecf()} {command}\n"
            )
    result = subprocess.run(
        ["systemd-analyze", "verify", *names],
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "acmecf-sync" not in result.stderr, result.stderr


def test_the_sync_units_run_with_the_fleet_key_as_a_systemd_credential(
    fleet: Fleet, tmp_path: Path
) -> None:
    first, second, _ = fleet.origins
    issue_on(first, "unit.example.com")
    credential = "LoadCredential=acmecf-store-key:/etc/acmecf/store.key"
    for name, command in (
        ("acmecf-sync.service", ["sync"]),
        ("acmecf-sync-watch.service", ["sync", "--watch"]),
    ):
        unit = (ROOT / "systemd" / name).read_text()
        assert credential in unit.splitlines()
        assert re.search(rf"^ExecStart=acmecf {' '.join(command)}$", unit, re.M), name
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "acmecf-store-key").write_bytes(fleet.key_file.read_bytes())
    (credentials / "acmecf-store-key").chmod(0o400)
    toml = second.config_dir / "acmecf.toml"
    toml.write_text("\n".join(x for x in toml.read_text().splitlines() if "key_file" not in x))
    result = second("sync", CREDENTIALS_DIRECTORY=str(credentials))
    assert result.code == 0, result.output
    assert "synced unit.example.com" in result.stdout
    assert second.live_bytes("unit.example.com") == first.live_bytes("unit.example.com")


def test_quorum_lost_in_the_middle_of_a_renewal_publishes_nothing_and_keeps_the_live_files(
    fleet: Fleet, sandbox: Sandbox
) -> None:
    first, second, _ = fleet.origins
    issue_on(first, "midway.example.com")
    assert second("sync").code == 0
    before = {origin.name: origin.live_bytes("midway.example.com") for origin in (first, second)}
    fresh_account(first)
    sandbox.emulator.set_nameserver_delay(0, 3.0)
    try:
        run = first.start("renew", "--force")
        wait_for(lambda: bool(challenge_records(sandbox)), 60, "the challenge record")
        fleet.cluster.stop_member(0)
        fleet.cluster.stop_member(1)
        lost = time.monotonic()
        code = run.wait(timeout=180)
        took = time.monotonic() - lost
        stdout, stderr = run.communicate()
    finally:
        sandbox.emulator.set_nameserver_delay(0, 0.0)
    assert code == 1, stdout + stderr
    assert "Traceback" not in stderr
    failure = next(line for line in stderr.splitlines() if line.startswith("failed midway"))
    assert fleet.cluster.endpoints()[2] in failure, failure
    assert stderr.splitlines()[-1].startswith("acmecf: error:")
    for origin in (first, second):
        assert origin.live_bytes("midway.example.com") == before[origin.name]
    assert challenge_records(sandbox) == [], "the records are removed at Cloudflare all the same"
    fleet.cluster.heal()
    with fleet.client() as client:
        versions = [
            kv.key for kv in client.get_prefix(f"{fleet.prefix}versions/midway.example.com/")
        ]
    assert [v.rsplit("/", 1)[-1] for v in versions] == ["0001"], "nothing half-written"
    again = first("renew", "--force")
    assert again.code == 0, again.output
    print(f"quorum lost mid-order: renew failed {took:.1f} s later; its lines:\n{stderr}")


# --- etcd over TLS, and with user/password auth ----------------------------------------------


@pytest.mark.parametrize("kind", ["tls", "auth"])
def test_two_origins_share_a_certificate_through_etcd_over_tls_or_with_auth(
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    etcd_prefix: str,
    tmp_path: Path,
    kind: str,
) -> None:
    cluster: EtcdCluster = request.getfixturevalue(
        "etcd_tls_cluster" if kind == "tls" else "etcd_auth_cluster"
    )
    if kind == "tls":
        assert cluster.tls is not None
        extra = {
            "etcd_ca_file": str(cluster.tls.ca_file),
            "etcd_cert_file": str(cluster.tls.client_certificate),
            "etcd_key_file": str(cluster.tls.client_key),
        }
    else:
        extra = {"etcd_user": "acmecf", "etcd_password_file": str(cluster.password_file())}
    key_file = tmp_path / "store.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    url = f"etcd://{','.join(cluster.endpoints())}{etcd_prefix}"
    origins = []
    for name in ("web1", "web2"):
        config_dir = tmp_path / name
        config_dir.mkdir(mode=0o700)
        (config_dir / "acmecf.toml").write_text(store_section(url, key_file, name, **extra))
        (config_dir / "acmecf.toml").chmod(0o600)
        origins.append(Acmecf(sandbox, config_dir))
    first, second = origins
    assert first.issue(f"{kind}.example.com").code == 0
    synced = second("sync")
    assert synced.code == 0, synced.output
    live = [(o.live(f"{kind}.example.com") / "privkey.pem").read_bytes() for o in origins]
    assert live[0] == live[1]
    if kind == "auth":
        wrong = tmp_path / "wrong-password"
        wrong.write_text("not it\n")
        wrong.chmod(0o600)
        refused = second("sync", ACMECF_ETCD_PASSWORD_FILE=str(wrong))
        assert refused.code == 1 and refused.stderr.count("\n") == 1, refused.output
        assert (
            "refused user 'acmecf'" in refused.stderr and cluster.endpoints()[0] in refused.stderr
        )
