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
            "issue",
            "--agree-tos",
            "--batch",
            str(batch),
            "--parallel",
            "16",
            "--debug",
            timeout=900,
        )
    finally:
        storm.emulator.set_faults()
        storm.emulator.set_nameserver_delay(0, 0.0)
    assert result.code == 0, result.stderr[-3000:]
    issued = sorted(
        line.split()[1].rstrip(":")
        for line in result.stdout.splitlines()
        if line.startswith("issued")
    )
    assert issued == sorted(names)
    assert challenge_records(storm) == []
    faults = [r for r in storm.emulator.requests if r.fault]
    assert len(faults) >= CERTIFICATES // 5, "the storm really blew"
    throttled = [r for r in storm.emulator.requests if r.fault == "throttle"]
    # From acmecf's side (its --debug log): once it has a 429 in hand, nothing is sent
    # before the Retry-After (1 s) has passed, by any worker.
    waits, sends = [], []
    for line in result.stderr.splitlines():
        stamp = _stamp(line)
        if stamp is None:
            continue
        if "Cloudflare rate limit: waiting" in line:
            waits.append(stamp)
        elif "acmecf.cloudflare.api DEBUG sending" in line:
            sends.append(stamp)
    assert waits, "the client met 429s"
    for wait in waits:
        # a request that passed the check in the same instant as the 429 may still go
        early = [send for send in sends if wait + 0.02 < send < wait + 0.95]
        assert early == [], f"sent {early[0] - wait:.3f}s after a 429 was received"
    print(
        f"{len(names)} certificates issued through {len(faults)} API faults "
        f"({len(throttled)} throttled) and a 50% nonce rejection"
    )


def _stamp(line: str) -> float | None:
    """Seconds of a --debug line's time stamp (2026-12-01 21:30:00,123, after the certificate's
    name in a parallel run), or None."""
    import datetime
    import re

    found = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", line)
    if found is None:
        return None
    return datetime.datetime.strptime(found.group(0), "%Y-%m-%d %H:%M:%S,%f").timestamp()
