"""Batched DNS changes through the CLI: certificates that publish together share batch calls,
a record Cloudflare refuses fails only its certificate, a run killed while its batch is in
flight leaves nothing the next run does not remove, and one certificate alone sends its two
records in one call each way.

The emulator answers with a latency here, as the real API takes a few hundred milliseconds:
without one, calls never overlap on loopback and nothing would be batched.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from acmecf.sandbox.testbed import Sandbox
from acmecf.settings.table import CertificateSettings
from acmecf.storage.files import FileStore
from acmecf.storage.model import StoredCertificate

from .conftest import Acmecf, challenge_records
from .test_issue import assert_valid_live_certificate

BATCH = "POST /zones/{zone_id}/dns_records/batch"
CREATE = "POST /zones/{zone_id}/dns_records"
DELETE = "DELETE /zones/{zone_id}/dns_records/{record_id}"


@contextlib.contextmanager
def api_latency(sandbox: Sandbox, seconds: float) -> Iterator[None]:
    sandbox.emulator.set_api_latency(seconds)
    try:
        yield
    finally:
        sandbox.emulator.set_api_latency(0)


@contextlib.contextmanager
def refused(sandbox: Sandbox, *names: str) -> Iterator[None]:
    sandbox.emulator.refuse_record_names(*names)
    try:
        yield
    finally:
        sandbox.emulator.refuse_record_names()


def store_certificates(acmecf: Acmecf, names: list[str]) -> None:
    """Settings for certificates (apex + wildcard) that `renew --force` will obtain."""
    store = FileStore(acmecf.config_dir)
    for name in names:
        store.save(
            StoredCertificate(CertificateSettings(cert_name=name, names=(name, f"*.{name}")))
        )


def register(acmecf: Acmecf) -> None:
    assert acmecf("account", "register", "--agree-tos", "--email", "ops@example.com").code == 0


def renewed(stdout: str) -> list[str]:
    return sorted(line.split()[1].rstrip(":") for line in stdout.splitlines() if "renewed" in line)


def test_certificates_that_publish_together_share_batch_calls(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    register(acmecf)
    names = [f"together{i}.example.com" for i in range(6)]
    store_certificates(acmecf, names)
    sandbox.emulator.clear_logs()
    with api_latency(sandbox, 0.3):
        result = acmecf("renew", "--force", "--parallel", "6", timeout=300)
    assert result.code == 0, result.output
    assert renewed(result.stdout) == names
    for name in names:
        assert_valid_live_certificate(acmecf.live(name), [name, f"*.{name}"], pebble_root)
    emulator = sandbox.emulator
    assert emulator.count_requests(BATCH) >= 1
    writes = sum(emulator.count_requests(route) for route in (BATCH, CREATE, DELETE))
    assert writes < 4 * len(names), "fewer calls than one per record and change"
    assert challenge_records(sandbox) == []


def test_batching_switched_off_sends_one_call_per_change(acmecf: Acmecf, sandbox: Sandbox) -> None:
    register(acmecf)
    names = [f"unbatched{i}.example.com" for i in range(3)]
    store_certificates(acmecf, names)
    sandbox.emulator.clear_logs()
    with api_latency(sandbox, 0.2):
        result = acmecf("renew", "--force", timeout=300, ACMECF_DNS_BATCH="off")
    assert result.code == 0, result.output
    emulator = sandbox.emulator
    assert emulator.count_requests(BATCH) == 0
    assert (emulator.count_requests(CREATE), emulator.count_requests(DELETE)) == (6, 6)
    assert challenge_records(sandbox) == []


def test_a_record_cloudflare_refuses_fails_only_its_certificate(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    register(acmecf)
    good = [f"fine{i}.example.com" for i in range(5)]
    bad = "zz-refused.example.com"
    store_certificates(acmecf, [*good, bad])
    sandbox.emulator.clear_logs()
    with api_latency(sandbox, 0.3), refused(sandbox, f"_acme-challenge.{bad}"):
        # A wait for company, so the refused record goes in a batch with others' records.
        result = acmecf("renew", "--force", timeout=300, ACMECF_DNS_BATCH_WAIT="2")
    assert result.code == 1
    assert renewed(result.stdout) == good
    for name in good:
        assert_valid_live_certificate(acmecf.live(name), [name, f"*.{name}"], pebble_root)
    failed = [line for line in result.output.splitlines() if line.startswith(f"failed {bad}:")]
    assert len(failed) == 1, result.output
    assert "DNS name is invalid" in failed[0]
    assert "Traceback" not in result.output
    emulator = sandbox.emulator
    assert emulator.count_requests(BATCH, status=400) >= 1, "the refused record spoilt a batch"
    assert emulator.count_requests(BATCH, status=200) >= 1, "its company went through"
    assert challenge_records(sandbox) == []


def journal_entries(config_dir: Path) -> list[dict[str, object]]:
    lines = [
        json.loads(line)
        for path in sorted((config_dir / "journal").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return [line for line in lines if line["op"] == "add"]


def test_a_run_killed_while_its_batch_is_in_flight_is_cleaned_up_by_the_next(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    register(acmecf)
    names = [f"killed{i}.example.com" for i in range(4)]
    store_certificates(acmecf, names)
    with api_latency(sandbox, 3.0):  # a batch is applied at once and answered 3 s later
        process = subprocess.Popen(
            acmecf.command("renew", "--force"),
            env=acmecf.environment(ACMECF_DNS_BATCH_WAIT="1"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while len(challenge_records(sandbox)) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            created = len(challenge_records(sandbox))
            assert created >= 3, "a batch of several records was applied"
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
    journaled = {(entry["name"], entry["value"]) for entry in journal_entries(acmecf.config_dir)}
    left = {
        (str(record["name"]), str(record["content"]).strip('"'))
        for record in challenge_records(sandbox)
    }
    assert left and left <= journaled, "every record that exists was journaled first"

    result = acmecf("renew", timeout=300)  # never issued, so due: after removing the leftovers

    assert result.code == 0, result.output
    assert "left by an earlier run" in result.stderr
    assert challenge_records(sandbox) == []
    assert journal_entries(acmecf.config_dir) == []
    for name in names:
        assert_valid_live_certificate(acmecf.live(name), [name, f"*.{name}"], pebble_root)


def test_one_certificate_alone_sends_its_records_at_once(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    result = acmecf.issue("alone.example.com", "*.alone.example.com")
    assert result.code == 0, result.output
    emulator = sandbox.emulator
    # Apex and wildcard: two records, created in one call and deleted in one.
    assert emulator.count_requests(BATCH) == 2
    assert (emulator.count_requests(CREATE), emulator.count_requests(DELETE)) == (0, 0)
    assert_valid_live_certificate(
        acmecf.live("alone.example.com"), ["alone.example.com", "*.alone.example.com"], pebble_root
    )
    off = acmecf.issue("off.example.com", "*.off.example.com", ACMECF_DNS_BATCH="off")
    assert off.code == 0, off.output
    assert (emulator.count_requests(CREATE), emulator.count_requests(DELETE)) == (2, 2)
