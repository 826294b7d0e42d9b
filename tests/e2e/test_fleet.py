"""Several origin servers, one certificate: a real 3-member etcd cluster on loopback, three
origins (three configuration directories, each with its own deploy hook and origin name)
against Pebble and the Cloudflare emulator.

Each test prints the counts and timings it checked (pytest -s shows them).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from acmecf.sandbox.etcd import EtcdCluster
from acmecf.sandbox.testbed import Sandbox
from acmecf.storage.etcd.client import EtcdClient, EtcdSettings

from .conftest import Acmecf, Result, challenge_records
from .test_faults import assert_live_set_consistent

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
def fleet(
    sandbox: Sandbox, etcd_cluster: EtcdCluster, etcd_prefix: str, tmp_path: Path
) -> Fleet:
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
        if request.method == "POST" and request.route.endswith("/dns_records"):
            created += 1
        elif request.route.endswith("/dns_records/batch") and isinstance(request.body, dict):
            created += len(request.body.get("posts") or [])
    return created


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def issue_on(origin: Origin, *names: str) -> None:
    result = origin.acmecf.issue(*names)
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
    issue_on(first, "alpha.example.com", "*.alpha.example.com")
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
        fullchain = origin.live_bytes(cert_names[0])["fullchain.pem"]
        assert f"{cert_names[0]} {sha(fullchain)}" in origin.hook_runs(), origin.name
    print(
        f"3 origins ran renew --force at once: {orders} orders at Pebble, {records} TXT records "
        f"created for {challenges} challenges, {renewed} renewed + {skipped} skipped, in "
        f"{elapsed:.1f} s; live files "
        "byte-identical on the 3 origins after sync"
    )
