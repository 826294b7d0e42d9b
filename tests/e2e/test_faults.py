"""Faults at 3 am, end to end: SIGKILL at random moments, signals during cleanup, a settings
file that cannot be written, a full disk, planted links and foreign hooks, a CA and an API
that never answer. Each ends with nothing lost: no TXT record left once the next run is done,
every live key matching its certificate, one line for the user."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, challenge_records, credentials_file, require_root


def assert_live_set_consistent(config_dir: Path) -> list[str]:
    """Every live certificate's key matches its certificate, and cert + chain = fullchain;
    returns the names of the live certificates."""
    live_root = config_dir / "live"
    names = []
    for link in sorted(live_root.iterdir()) if live_root.is_dir() else []:
        if link.name.startswith("."):
            continue
        names.append(link.name)
        cert = (link / "cert.pem").read_bytes()
        leaf = x509.load_pem_x509_certificate(cert)
        key = serialization.load_pem_private_key((link / "privkey.pem").read_bytes(), None)
        assert key.public_key() == leaf.public_key(), f"{link.name}: key and certificate differ"
        assert (link / "fullchain.pem").read_bytes() == cert + (link / "chain.pem").read_bytes()
    return names


def start(acmecf: Acmecf, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        acmecf.command(*args),
        env=acmecf.environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.fixture
def lagging(sandbox: Sandbox) -> Iterator[None]:
    """One nameserver a second behind, so every run spends time with records published."""
    sandbox.emulator.set_nameserver_delay(0, 1.0)
    yield
    sandbox.emulator.set_faults()


def test_sigkill_at_random_moments_of_issue_leaves_nothing_after_the_next_run(
    acmecf: Acmecf, sandbox: Sandbox, lagging: None
) -> None:
    rng = random.Random(9)
    kills, left_after_kills = 0, 0
    for attempt in range(8):
        name = f"kill{attempt}.example.com"
        process = start(acmecf, "issue", "--agree-tos", "-d", name, "-d", f"*.{name}")
        time.sleep(rng.uniform(0.2, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        left_after_kills = max(left_after_kills, len(challenge_records(sandbox)))
    result = acmecf("renew")
    assert result.code == 0, result.output
    assert challenge_records(sandbox) == [], "the next run removes what killed runs left"
    live = assert_live_set_consistent(acmecf.config_dir)
    listed = acmecf("list", "--json")
    assert listed.code == 0
    print(f"{kills} SIGKILLs, up to {left_after_kills} records left, 0 after; live: {live}")


def test_sigkill_during_a_parallel_renewal_leaves_nothing_after_the_next_run(
    acmecf: Acmecf, sandbox: Sandbox, lagging: None
) -> None:
    names = [f"par{i}.example.com" for i in range(4)]
    for name in names:
        assert acmecf.issue(name).code == 0
    rng = random.Random(4)
    for _ in range(3):
        process = start(acmecf, "renew", "--force", "--parallel", "4")
        time.sleep(rng.uniform(0.3, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        result = acmecf("renew")
        assert result.code == 0, result.output
        assert challenge_records(sandbox) == []
        assert assert_live_set_consistent(acmecf.config_dir) == names


def _faulty_deletes_seen(sandbox: Sandbox) -> bool:
    return any(r.method == "DELETE" and r.fault for r in sandbox.emulator.requests)


def test_the_first_signal_lets_cleanup_finish(
    acmecf: Acmecf, sandbox: Sandbox, lagging: None
) -> None:
    process = start(acmecf, "issue", "--agree-tos", "-d", "calm.example.com")
    wait_for(lambda: challenge_records(sandbox))
    sandbox.emulator.set_faults(errors=1.0, statuses=(503,))  # the API goes down
    wait_for(lambda: _faulty_deletes_seen(sandbox))  # cleanup has begun, and fails
    process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    sandbox.emulator.set_faults()  # the API comes back while cleanup retries
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "removing this run's challenge records first" in stderr
    assert stderr.strip().splitlines()[-1].startswith("acmecf: error: interrupted")
    assert "Traceback" not in stderr
    assert challenge_records(sandbox) == [], "the first signal let cleanup finish"


def test_a_second_signal_stops_at_once_and_the_next_run_removes_the_records(
    acmecf: Acmecf, sandbox: Sandbox, lagging: None
) -> None:
    process = start(acmecf, "issue", "--agree-tos", "-d", "impatient.example.com")
    wait_for(lambda: challenge_records(sandbox))
    sandbox.emulator.set_faults(errors=1.0, statuses=(503,))
    wait_for(lambda: _faulty_deletes_seen(sandbox))
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 5, "a second signal ends the run at once"
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == (
        "acmecf: error: interrupted again: stopped at once; challenge records this run could "
        "not remove yet are in the journal, and the next acmecf run removes them"
    )
    assert challenge_records(sandbox), "the record is still there"
    sandbox.emulator.set_faults()
    after = acmecf("renew")
    assert after.code == 0, after.output
    assert challenge_records(sandbox) == []


def test_deletes_that_keep_failing_are_reported_and_cleaned_up_by_the_next_run(
    acmecf: Acmecf, sandbox: Sandbox, lagging: None
) -> None:
    process = start(
        acmecf, "issue", "--agree-tos", "-d", "outage.example.com", ACMECF_CLEANUP_PATIENCE="15"
    )
    wait_for(lambda: challenge_records(sandbox))
    sandbox.emulator.set_faults(errors=1.0, statuses=(502, 503))
    _, stderr = process.communicate(timeout=120)
    sandbox.emulator.set_faults()
    assert process.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1] == (
        "acmecf: error: outage.example.com is live, but 1 challenge record could not be "
        "removed (_acme-challenge.outage.example.com): they are in the journal, and the next "
        "acmecf run removes them"
    )
    assert challenge_records(sandbox)
    assert acmecf("renew").code == 0
    assert challenge_records(sandbox) == []


def _chattr(path: Path, flag: str) -> None:
    require_root("chattr +i makes a file that even root cannot replace")
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


def test_a_settings_file_that_cannot_be_written_fails_that_certificate_alone(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    names = ["a.example.net", "b.example.net", "c.example.net"]
    for name in names:
        hook = f"echo {name} >> {tmp_path / 'deployed'}"
        assert acmecf.issue(name, extra=("--deploy-hook", hook)).code == 0
    (tmp_path / "deployed").unlink()
    frozen = acmecf.config_dir / "renewal" / "b.example.net.toml"
    _chattr(frozen, "+i")
    try:
        result = acmecf("renew", "--force")
    finally:
        _chattr(frozen, "-i")
    assert result.code == 1, result.output
    renewed = sorted(line.split()[1].rstrip(":") for line in result.stdout.splitlines())
    assert renewed == names, "b went live and is reported as renewed"
    assert sorted((tmp_path / "deployed").read_text().split()) == names, "b got its hook"
    assert "b.example.net: its state was not recorded" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "acmecf: error: b.example.net went live, but with problems (see above)"
    )
    assert assert_live_set_consistent(acmecf.config_dir) == names
    again = acmecf("renew")
    assert again.code == 0, again.output
    assert "deployed b.example.net" in again.stdout, "the next run records what went live"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    require_root("a full disk is a small tmpfs")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"a full-disk test needs a small tmpfs (mount as root): {done.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_orders_nothing_and_keeps_the_live_certificate(
    sandbox: Sandbox, small_disk: Path, pebble_root: Path
) -> None:
    acmecf = Acmecf(sandbox, small_disk / "config")
    assert acmecf.issue("full.example.com").code == 0
    before = (acmecf.live("full.example.com") / "fullchain.pem").read_bytes()
    filler = small_disk / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    sandbox.emulator.clear_logs()
    result = acmecf("renew", "--force")
    assert result.code == 1
    assert "is full" in result.stderr and "nothing was ordered" in result.stderr
    assert "Traceback" not in result.stderr
    assert not [r for r in sandbox.emulator.requests if r.method == "POST"], "no record made"
    assert (acmecf.live("full.example.com") / "fullchain.pem").read_bytes() == before
    filler.unlink()
    assert acmecf("renew", "--force").code == 0
    assert challenge_records(sandbox) == []


def test_a_planted_link_is_refused_and_nothing_outside_is_touched(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    acmecf.config_dir.mkdir(mode=0o700)
    (acmecf.config_dir / "archive").symlink_to(outside)
    result = acmecf.issue("planted.example.com")
    assert result.code == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"acmecf: error: {acmecf.config_dir / 'archive'} is a symbolic link")
    )
    assert list(outside.iterdir()) == [] and oct(outside.stat().st_mode)[-3:] == "755"
    assert challenge_records(sandbox) == []


def test_a_hook_another_user_could_have_written_is_not_run(acmecf: Acmecf, tmp_path: Path) -> None:
    hooks = acmecf.config_dir / "hooks" / "deploy"
    hooks.mkdir(parents=True)
    marker = tmp_path / "ran"
    hook = hooks / "50-planted"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o777)
    result = acmecf.issue("hooked.example.com")
    assert result.code == 1
    assert "was not run" in result.stderr and "writable by group or others" in result.stderr
    assert not marker.exists()
    assert acmecf.live("hooked.example.com").joinpath("fullchain.pem").exists()
    require_root("a hook owned by another user")
    os.chown(hook, 65534, 65534)
    hook.chmod(0o755)
    renewed = acmecf("renew", "--force")
    assert renewed.code == 1 and "owned by uid 65534" in renewed.stderr
    assert not marker.exists()


def test_debug_output_holds_no_secret(acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path) -> None:
    token = sandbox.token
    credentials = credentials_file(tmp_path / "cloudflare.ini", token)
    result = acmecf(
        "issue",
        "--agree-tos",
        "--debug",
        "-d",
        "debug.example.com",
        "--cloudflare-credentials",
        str(credentials),
        CLOUDFLARE_API_TOKEN=None,
    )
    assert result.code == 0, result.stderr[-2000:]
    assert "Authorization" in result.output or "authorization" in result.output, "API detail shown"
    assert token not in result.output
    key_lines = (acmecf.live("debug.example.com") / "privkey.pem").read_text().splitlines()[1:-1]
    account_key = next((acmecf.config_dir / "accounts").rglob("key.pem")).read_text()
    for line in key_lines + account_key.splitlines()[1:-1]:
        assert line not in result.output, "a private key line reached the output"


def test_a_broken_settings_file_fails_that_certificate_and_shows_in_list(
    acmecf: Acmecf,
) -> None:
    assert acmecf.issue("fine.example.com").code == 0
    broken = acmecf.config_dir / "renewal" / "broken.example.com.toml"
    broken.write_text('[certificate]\nnames = "broken.example.com"\n[hooks]\ndeploy = "echo x"\n')
    result = acmecf("renew")
    assert result.code == 1
    assert result.stderr.strip().splitlines() == [
        f"failed broken.example.com: {broken}: certificate.names: must be a list of strings, "
        "not a string; fix the file (or remove it and issue the certificate again)",
        "acmecf: error: 1 of 1 renewals failed: broken.example.com (see above)",
    ]
    listed = acmecf("list")
    assert listed.code == 0
    assert any(
        line.startswith("broken.example.com") and "BROKEN" in line
        for line in listed.stdout.splitlines()
    )
    assert any(line.startswith("fine.example.com") for line in listed.stdout.splitlines())


def test_a_silent_cloudflare_api_fails_within_the_bound_with_one_line(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    sandbox.emulator.set_api_silent(True)
    try:
        started = time.monotonic()
        result = acmecf.issue("silent.example.com", timeout=120)
        elapsed = time.monotonic() - started
    finally:
        sandbox.emulator.set_api_silent(False)
    assert result.code == 1
    assert elapsed < 60, f"took {elapsed:.0f}s"
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("acmecf: error: no usable answer from the Cloudflare API")
    assert not (acmecf.config_dir / "accounts").exists(), "no account registered before"


def test_a_silent_acme_server_fails_within_the_bound_with_one_line(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = acmecf.issue(
            "mute.example.com", ACMECF_SERVER=f"https://127.0.0.1:{port}/dir", timeout=120
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()
    assert result.code == 1
    assert elapsed < 60, f"took {elapsed:.0f}s"
    [line] = result.stderr.strip().splitlines()
    assert "did not answer in time" in line and "ACME server" in line


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has its own SIGTERM handler yet (SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8])
def test_a_signal_at_any_moment_of_start_up_or_exit_ends_in_one_line(
    acmecf: Acmecf, sandbox: Sandbox, delay: float
) -> None:
    """From the moment acmecf's first line of code has run (the interpreter's own start-up,
    a few milliseconds, is before anything acmecf can do), through imports, the run and exit."""
    assert acmecf.issue("early.example.com").code == 0
    process = start(acmecf, "renew", "--force", "--cert-name", "early.example.com")
    wait_for(lambda: _catches_sigterm(process.pid), timeout=10)
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode in (0, 130), (process.returncode, stderr)
    assert "Traceback" not in stderr
    if process.returncode == 130:
        assert stderr.strip().splitlines()[-1].startswith("acmecf: error: interrupted")
    assert challenge_records(sandbox) == []
