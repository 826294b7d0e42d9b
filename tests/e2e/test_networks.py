"""Real networks and the real Cloudflare, end to end: a CA that sees DNS later than the
nameservers, nameservers that never answer (port 53 dropped), IPv6-only nameservers, an
account of 2,000 zones, origin-pull certificates that take time to deploy."""

from __future__ import annotations

import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, Result, challenge_records
from .test_issue import assert_valid_live_certificate


@dataclass
class TimedResult:
    result: Result
    seconds: float
    lines: list[tuple[float, str]]  # stderr lines with the second each appeared

    def first(self, text: str) -> float | None:
        return next((at for at, line in self.lines if text in line), None)


def timed(acmecf: Acmecf, *args: str, timeout: float = 120, **env: str | None) -> TimedResult:
    """Run acmecf, noting when each line of its stderr appeared."""
    started = time.monotonic()
    process = subprocess.Popen(
        acmecf.command(*args),
        env=acmecf.environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None and process.stdout is not None
    lines = [(time.monotonic() - started, line.rstrip("\n")) for line in process.stderr]
    stdout = process.stdout.read()
    code = process.wait(timeout=timeout)
    stderr = "".join(line + "\n" for _, line in lines)
    return TimedResult(Result(code, stdout, stderr), time.monotonic() - started, lines)


def issue_args(*names: str) -> list[str]:
    args = ["issue", "--agree-tos", "--email", "ops@example.com"]
    for name in names:
        args += ["-d", name]
    return args


@pytest.fixture
def lagging_ca(sandbox: Sandbox) -> Iterator[None]:
    """The resolver Pebble validates through sees every change 3 s after every nameserver."""
    sandbox.emulator.set_resolver_lag(3.0)
    yield
    sandbox.emulator.set_resolver_lag(0.0)


def test_a_ca_view_that_lags_every_nameserver_still_yields_a_certificate_in_one_run(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path, lagging_ca: None
) -> None:
    # A settle time shorter than the lag: the first validation fails, the retry's does not.
    run = timed(acmecf, *issue_args("far.example.com"), "--propagation-settle", "0.5s")
    assert run.result.code == 0, run.result.output
    assert_valid_live_certificate(acmecf.live("far.example.com"), ["far.example.com"], pebble_root)
    retries = [line for _, line in run.lines if "ordering again" in line]
    assert len(retries) == 1, run.result.stderr
    assert "retry 1 of 1" in retries[0] and "waiting 6s longer" in retries[0]
    assert challenge_records(sandbox) == []
    print(
        f"\nlagging CA: retry line at {run.first('ordering again'):.1f}s, done {run.seconds:.1f}s"
    )


def test_a_settle_time_that_covers_the_lag_needs_no_retry(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path, lagging_ca: None
) -> None:
    run = timed(acmecf, *issue_args("near.example.com"), "--propagation-settle", "5s")
    assert run.result.code == 0, run.result.output
    assert "ordering again" not in run.result.stderr
    assert "waiting 5s more so that the CA's resolvers see it too" in run.result.stderr
    assert_valid_live_certificate(
        acmecf.live("near.example.com"), ["near.example.com"], pebble_root
    )
    print(f"\nlag covered by the settle time: no retry, done {run.seconds:.1f}s")


@pytest.fixture
def port_53_dropped(sandbox: Sandbox) -> Iterator[None]:
    """Every nameserver address silent, as when outbound port 53 is filtered."""
    count = len(sandbox.emulator.nameservers)
    for index in range(count):
        sandbox.emulator.set_nameserver_reachable(index, False)
    yield
    for index in range(count):
        sandbox.emulator.set_nameserver_reachable(index, True)


def test_unanswered_nameservers_end_the_run_within_seconds_then_resolver_check_succeeds(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path, port_53_dropped: None
) -> None:
    run = timed(acmecf, *issue_args("blocked53.example.com"))
    assert run.result.code == 1, run.result.output
    assert run.seconds < 15, f"took {run.seconds:.1f}s: the timeout must not be waited out"
    errors = [line for line in run.result.stderr.splitlines() if line.startswith("acmecf: error")]
    assert len(errors) == 1, run.result.stderr
    assert "no nameserver answered a DNS query" in errors[0]
    assert "ada.ns.cloudflare.com at 127.0.53.1" in errors[0]
    assert "port 53" in errors[0] and "may be blocked" in errors[0]
    assert "--dns-check resolver" in errors[0]
    assert "Traceback" not in run.result.output
    assert challenge_records(sandbox) == []
    assert not acmecf.live("blocked53.example.com").exists()
    print(f"\nport 53 dropped: failed after {run.seconds:.1f}s")

    through_resolver = timed(
        acmecf, *issue_args("blocked53.example.com"), "--dns-check", "resolver"
    )
    assert through_resolver.result.code == 0, through_resolver.result.output
    assert "every resolver serves the challenge records" in through_resolver.result.stderr
    assert_valid_live_certificate(
        acmecf.live("blocked53.example.com"), ["blocked53.example.com"], pebble_root
    )
    stored = (acmecf.config_dir / "renewal" / "blocked53.example.com.toml").read_text()
    assert 'dns_check = "resolver"' in stored, "the next renewal polls the resolver too"
    print(f"--dns-check resolver: done {through_resolver.seconds:.1f}s")


def test_dns_check_none_waits_the_fixed_delay(acmecf: Acmecf, sandbox: Sandbox) -> None:
    run = timed(
        acmecf,
        *issue_args("fixed.example.com"),
        "--dns-check",
        "none",
        "--propagation-delay",
        "3s",
    )
    assert run.result.code == 0, run.result.output
    assert "waiting a fixed 3s (--dns-check none" in run.result.stderr
    assert not [
        q
        for q in sandbox.emulator.dns_queries
        if q.qname.startswith("_acme-challenge.fixed")
        and q.server != sandbox.emulator.resolver_address
    ], "no nameserver was asked"


@pytest.fixture
def ipv6_nameserver(sandbox: Sandbox) -> Iterator[str]:
    if not sandbox.emulator.ipv6_available:
        pytest.skip("this machine has no IPv6 loopback")
    sandbox.emulator.set_nameserver_ipv6(0)
    yield sandbox.emulator.nameservers[0].address
    sandbox.emulator.set_nameserver_ipv6(0, False)


def test_an_ipv6_only_nameserver_is_asked_over_ipv6(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path, ipv6_nameserver: str
) -> None:
    sandbox.emulator.set_nameserver_delay(0, 1.0)  # the IPv6 one is the laggard: it is waited for
    result = acmecf.issue("six.example.com")
    assert result.code == 0, result.output
    assert_valid_live_certificate(acmecf.live("six.example.com"), ["six.example.com"], pebble_root)
    served = [
        q
        for q in sandbox.emulator.dns_queries
        if q.server == ipv6_nameserver and q.qname.startswith("_acme-challenge.six") and q.answers
    ]
    assert served, "the IPv6 nameserver was asked until it served the value"


def test_an_account_of_2000_zones_costs_at_most_3_zone_calls_per_name(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    emulator = sandbox.emulator
    if not any(z["name"].endswith(".bulk") for z in emulator.zones()):
        emulator.add_zones(2000, suffix="bulk")
    token = secrets.token_urlsafe(30)
    emulator.add_token(token)  # sees every zone of the account
    emulator.clear_logs()
    names = ("example.net", "*.example.net", "www.a.example.net")
    result = acmecf.issue(*names, CLOUDFLARE_API_TOKEN=token)
    assert result.code == 0, result.output
    zone_calls = emulator.count_requests("GET /zones")
    assert zone_calls <= 3 * len(names), zone_calls
    assert emulator.count_requests("GET /zones", status=429) == 0
    print(f"\n2,000 zones: {zone_calls} zone calls for {len(names)} names")


def test_a_pending_deployment_client_certificate_is_not_deleted_before_it_is_active(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    emulator = sandbox.emulator
    zone = f"z{uuid.uuid4().hex[:10]}.test"
    emulator.add_zone(zone)
    token = secrets.token_urlsafe(30)
    emulator.add_token(token, zones=[zone])
    emulator.set_zone_setting(zone, "ssl", "full")
    emulator.set_origin_pull_deploy_delay(2.0)
    try:
        enabled = timed(
            acmecf, "cloudflare", "origin-pulls", "--zone", zone, "enable", "--own-ca",
            CLOUDFLARE_API_TOKEN=token,
        )  # fmt: skip
        assert enabled.result.code == 0, enabled.result.output
        assert enabled.seconds >= 2.0, "the user is told to reload only once it is active"
        assert "reports the client certificate active" in enabled.result.stdout
        first = emulator.edge_client_certificate(f"www.{zone}")
        assert first is not None and first.kind == "zone"

        emulator.clear_logs()
        renewed = timed(acmecf, "renew", "--force", CLOUDFLARE_API_TOKEN=token)
        assert renewed.result.code == 0, renewed.result.output
        uploads = [
            r for r in emulator.requests
            if r.method == "POST" and r.path.endswith("/origin_tls_client_auth")
        ]  # fmt: skip
        deletes = [
            r for r in emulator.requests
            if r.method == "DELETE" and "/origin_tls_client_auth/" in r.path
        ]  # fmt: skip
        assert len(uploads) == 1 and len(deletes) == 1, [r.route for r in emulator.requests]
        gap = deletes[0].time - uploads[0].time
        assert gap >= 2.0, f"the old certificate went {gap:.2f}s after the upload"
        after = emulator.edge_client_certificate(f"www.{zone}")
        client = (acmecf.config_dir / "origin-pull" / zone / "client.pem").read_text()
        assert after is not None and after.certificate == client != first.certificate
        print(f"\norigin pull rotation: old certificate deleted {gap:.1f}s after the upload")
    finally:
        emulator.set_origin_pull_deploy_delay(0.05)
