"""Fixtures for end-to-end tests: real Pebble and the Cloudflare emulator, acmecf as a process.

One test bed serves the whole session (Pebble takes a moment to start); each test gets its own
configuration directory, hence its own ACME account, so no authorization is reused across tests.
The tests expect Pebble as Let's Encrypt runs it today (b1e1ca4 or later: ARI, profiles,
dns-persist-01, DNS over TCP only); `make test` provides one. Integration tests fail, not skip,
in CI (CI set) when Pebble is missing or older.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from acmecf.sandbox.pebble import (
    CURRENT_COMMIT,
    LETS_ENCRYPT_PROFILES,
    PebbleNotInstalled,
    find_binary,
)
from acmecf.sandbox.testbed import Sandbox, start_sandbox
from tests.etcd_fixtures import (  # noqa: F401 (pytest finds fixtures by name)
    _etcd_auth_cluster,
    _etcd_cluster_of_three,
    etcd_auth_cluster,
    etcd_binary,
    etcd_cluster,
    etcd_prefix,
    etcd_tls_cluster,
)

ZONES = ("example.com", "example.net", "acme-delegate.example.org", "blocked.test")
# Let's Encrypt issues classic (90 days) for an order that names no profile. Pebble has no
# default profile and picks one of those it offers at random, so the shared bed offers classic
# alone: every un-named order then gets what Let's Encrypt would give. A test of the other
# profiles starts its own Pebble with all of LETS_ENCRYPT_PROFILES, as the EAB tests do.
BED_PROFILES = {"classic": LETS_ENCRYPT_PROFILES["classic"]}


def missing_part(reason: str) -> None:
    """Skip, or fail in CI, where a part the end-to-end tests need is missing."""
    if os.environ.get("CI"):
        pytest.fail(f"end-to-end tests need it in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    try:
        find_binary()
    except PebbleNotInstalled as err:
        missing_part(str(err))
    bed = start_sandbox(
        tmp_path_factory.mktemp("sandbox"),
        zones=ZONES,
        pebble_env={"PEBBLE_ALTERNATE_ROOTS": "1"},  # a second chain, for --preferred-chain
        profiles=BED_PROFILES,
    )
    try:
        lacking = bed.pebble.features().missing()
        if lacking:
            missing_part(
                f"{bed.pebble.binary} is older than Pebble {CURRENT_COMMIT}: it lacks "
                + ", ".join(lacking)
                + "; run `make test`, or set ACMECF_PEBBLE to a current build"
            )
        yield bed
    finally:
        bed.stop()


@pytest.fixture(autouse=True)
def _fresh_bed(sandbox: Sandbox) -> Iterator[None]:
    """Each test starts with nameservers in step and clean logs."""
    for index in range(len(sandbox.emulator.nameservers)):
        sandbox.emulator.set_nameserver_delay(index, 0.0)
    sandbox.emulator.clear_logs()
    yield


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Acmecf:
    """Runs the `acmecf` command in a child process against the test bed."""

    def __init__(self, sandbox: Sandbox, config_dir: Path) -> None:
        self.sandbox = sandbox
        self.config_dir = config_dir

    def environment(self, **overrides: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "ACMECF_"))}
        env.update(self.sandbox.client_environment())
        env["ACMECF_CONFIG_DIR"] = str(self.config_dir)
        # Pebble resolves straight from the emulated nameservers (no anycast sites far away),
        # so the settle time for the CA's far view is 0 here; tests of it set it themselves.
        env["ACMECF_PROPAGATION_SETTLE"] = "0"
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "acmecf", *args]

    def __call__(self, *args: str, timeout: float = 120, **env: str | None) -> Result:
        completed = subprocess.run(
            self.command(*args),
            env=self.environment(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def issue(self, *names: str, extra: tuple[str, ...] = (), **env: str | None) -> Result:
        args = ["issue", "--agree-tos", "--email", "ops@example.com"]
        for name in names:
            args += ["-d", name]
        return self(*args, *extra, **env)

    def live(self, cert_name: str) -> Path:
        return self.config_dir / "live" / cert_name


@pytest.fixture
def acmecf(sandbox: Sandbox, tmp_path: Path) -> Acmecf:
    return Acmecf(sandbox, tmp_path / "config")


@pytest.fixture
def pebble_root(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("root") / "pebble-root.pem"
    path.write_bytes(sandbox.pebble.root_pem())
    return path


def challenge_records(sandbox: Sandbox) -> list[dict[str, object]]:
    """Every _acme-challenge TXT record the emulator holds right now."""
    return [
        r
        for r in sandbox.emulator.records(type="TXT")
        if str(r["name"]).startswith("_acme-challenge")
    ]


def credentials_file(path: Path, token: str, mode: int = 0o600) -> Path:
    """A certbot-style Cloudflare credentials file holding `token`, with `mode`."""
    path.write_text(f"dns_cloudflare_api_token = {token}\n")
    path.chmod(mode)
    return path


def require_root(why: str) -> None:
    """Skip a test that needs root (mount, chattr, chown) when not root; fail under CI."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail(f"this test needs root in CI: {why}")
    pytest.skip(f"needs root: {why}")
