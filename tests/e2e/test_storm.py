"""A storm, in one run: the CA rejects half of all nonces, a fifth of Cloudflare calls are
throttled or fail (writes applied and then answered 5xx among them), and one nameserver is
seconds behind. Every certificate of a 50-certificate batch must still be issued, no record
may be left, and after a 429 no request may leave before its Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acmecf.sandbox.pebble import LETS_ENCRYPT_PROFILES
from acmecf.sandbox.testbed import Sandbox, start_sandbox

from .conftest import ZONES, Acmecf, challenge_records

CERTIFICATES = 50


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    bed = start_sandbox(
        tmp_path_factory.mktemp("storm"),
        zones=ZONES,
        pebble_env={"PEBBLE_WFE_NONCEREJECT": "50", "PEBBLE_AUTHZREUSE": "0"},
        profiles={"classic": LETS_ENCRYPT_PROFILES["classic"]},
    )
    try:
        yield bed
    finally:
        bed.stop()


def test_a_fifty_certificate_batch_is_issued_through_a_storm(
    storm: Sandbox, tmp_path: Path
) -> None:
    acmecf = Acmecf(storm, tmp_path / "config")
    names = [f"storm{i}.example.{'com' if i % 2 else 'net'}" for i in range(CERTIFICATES)]
    batch = tmp_path / "batch"
    batch.write_text("".join(f"{name} *.{name}\n" for name in names))
    storm.emulator.set_nameserver_delay(0, 3.0)
    storm.emulator.set_faults(throttle=0.1, errors=0.05, applied_errors=0.05, seed=7)
    try:
        result = acmecf(
            "issue", "--agree-tos", "--batch", str(batch), "--parallel", "16", timeout=900
        )
    finally:
        storm.emulator.set_faults()
        storm.emulator.set_nameserver_delay(0, 0.0)
    assert result.code == 0, result.stderr[-3000:]
    issued = sorted(line.split()[1].rstrip(":") for line in result.stdout.splitlines())
    assert issued == sorted(names)
    assert challenge_records(storm) == []
    faults = [r for r in storm.emulator.requests if r.fault]
    assert len(faults) >= CERTIFICATES // 5, "the storm really blew"
    throttled = [r for r in storm.emulator.requests if r.fault == "throttle"]
    for refusal in throttled:
        too_soon = [
            r
            for r in storm.emulator.requests
            # a request that arrives within 50 ms may have left before the 429 came back
            if refusal.time + 0.05 < r.time < refusal.time + 0.9 and r.auth == refusal.auth
        ]
        assert too_soon == [], "a request left before the 429's Retry-After (1 s)"
    print(
        f"{len(names)} certificates issued through {len(faults)} API faults "
        f"({len(throttled)} throttled) and a 50% nonce rejection"
    )
