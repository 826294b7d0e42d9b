"""A complete local sandbox: the Cloudflare emulator plus Pebble validating through it.

``start_sandbox`` starts the emulator (API, authoritative nameservers and a
resolver, each answering over UDP and TCP: today's Pebble asks over TCP only),
creates the demo zones with a few realistic records and a full-access API
token, then starts Pebble with the emulator's resolver as its DNS server and
Let's Encrypt's certificate profiles. ``Sandbox.client_environment`` is
exactly what the acmecf client needs to run against it; the same variables are
written to a shell-sourceable ``sandbox.env`` (0600, it holds the token).

Does not: speak ACME or the Cloudflare API itself, or touch real DNS.
"""

from __future__ import annotations

import logging
import secrets
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from acmecf.sandbox.emulator import CloudflareEmulator
from acmecf.sandbox.pebble import LETS_ENCRYPT_PROFILES, Pebble, Profile
from acmecf.storage.safe import write_file_atomic

logger = logging.getLogger(__name__)

DEFAULT_ZONES = ("example.com", "example.net", "acme-delegate.example.org")
ENV_FILE_NAME = "sandbox.env"
# Names the sandbox CA refuses by policy, like a real CA's blocklist. Keep entries at two labels:
# Pebble's blocklist check (2.4 through b1e1ca4) panics on a name with fewer labels than an entry.
BLOCKED_DOMAINS = ("blocked.test",)


@dataclass
class Sandbox:
    """A running emulator and Pebble pair; stop it with ``stop()`` or a ``with`` block.

    Not collected by pytest (no ``Test`` prefix). ``stop()`` is idempotent,
    stops Pebble before the emulator, and logs rather than raises a failure of
    the first so the second is always stopped.
    """

    emulator: CloudflareEmulator
    pebble: Pebble
    workdir: Path
    token: str
    env_file: Path

    def client_environment(self) -> dict[str, str]:
        """Return the environment variables the acmecf client reads to use this sandbox.

        Exactly: ACMECF_SERVER, ACMECF_CA_BUNDLE, CLOUDFLARE_BASE_URL,
        CLOUDFLARE_API_TOKEN, ACMECF_DNS_RESOLVER, ACMECF_NAMESERVER_PORT.
        The values match the contents of ``env_file``.
        """
        return {
            "ACMECF_SERVER": self.pebble.directory_url,
            "ACMECF_CA_BUNDLE": str(self.pebble.ca_bundle),
            "CLOUDFLARE_BASE_URL": self.emulator.base_url,
            "CLOUDFLARE_API_TOKEN": self.token,
            "ACMECF_DNS_RESOLVER": f"{self.emulator.resolver_address}:{self.emulator.dns_port}",
            "ACMECF_NAMESERVER_PORT": str(self.emulator.dns_port),
        }

    def write_env_file(self) -> Path:
        """Atomically (re)write ``env_file`` as ``export NAME='value'`` lines, mode 0600.

        Idempotent; returns the path.
        """
        lines = [
            f"export {name}={shlex.quote(value)}\n"
            for name, value in self.client_environment().items()
        ]
        write_file_atomic(self.env_file, "".join(lines).encode(), 0o600)
        return self.env_file

    def stop(self) -> None:
        """Stop Pebble, then the emulator. Idempotent."""
        try:
            self.pebble.stop()
        except Exception:
            logger.exception("stopping pebble failed; stopping the emulator anyway")
        self.emulator.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def add_fixture_records(emulator: CloudflareEmulator, zones: Sequence[str]) -> None:
    """Add the demo records: a proxied apex and www, and a delegated challenge name.

    Records for a zone not in ``zones`` are skipped. The delegation CNAME
    points ``_acme-challenge.delegated.example.com`` into
    ``acme-delegate.example.org``, where a client must then publish its TXT.
    """
    if "example.com" not in zones:
        return
    emulator.add_record("example.com", "A", "example.com", "192.0.2.10", proxied=True)
    emulator.add_record("example.com", "CNAME", "www.example.com", "example.com", proxied=True)
    if "acme-delegate.example.org" in zones:
        emulator.add_record(
            "example.com",
            "CNAME",
            "_acme-challenge.delegated.example.com",
            "_acme-challenge.delegated.example.com.acme-delegate.example.org",
            comment="acmecf sandbox: DNS-01 delegation fixture",
        )


def start_sandbox(
    workdir: Path,
    *,
    zones: Sequence[str] = DEFAULT_ZONES,
    nameserver_delays: Sequence[float] = (0.0, 0.0, 0.0),
    pebble_env: Mapping[str, str] | None = None,
    blocked_domains: Sequence[str] = BLOCKED_DOMAINS,
    profiles: Mapping[str, Profile] = LETS_ENCRYPT_PROFILES,
) -> Sandbox:
    """Start the emulator and Pebble, and return the running sandbox.

    The emulator holds ``zones`` with the fixture records and a fresh random
    token that may read and edit every one of them; Pebble resolves through
    the emulator's resolver, with ``pebble_env`` added to its environment, and
    offers ``profiles`` (an order naming none gets one of them at random).
    ``sandbox.env`` is written under ``workdir`` before returning. If any step
    fails, whatever was started is stopped before the error propagates
    (PebbleNotInstalled, PebbleStartupError or the emulator's own errors).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    zones = tuple(zones)
    emulator = CloudflareEmulator(nameserver_delays=nameserver_delays)
    for zone in zones:
        emulator.add_zone(zone)
    add_fixture_records(emulator, zones)
    # 30 random bytes encode to exactly 40 URL-safe characters: the shape of a real token.
    token = secrets.token_urlsafe(30)
    emulator.add_token(token, zones=list(zones))

    emulator.start()
    try:
        pebble = Pebble(
            workdir / "pebble",
            dns_server=(emulator.resolver_address, emulator.dns_port),
            env=pebble_env,
            blocked_domains=blocked_domains,
            profiles=profiles,
        )
        pebble.start()
    except BaseException:
        emulator.stop()
        raise
    sandbox = Sandbox(
        emulator=emulator,
        pebble=pebble,
        workdir=workdir,
        token=token,
        env_file=workdir / ENV_FILE_NAME,
    )
    try:
        sandbox.write_env_file()
    except BaseException:
        sandbox.stop()
        raise
    logger.info("sandbox running: ACME %s, API %s", pebble.directory_url, emulator.base_url)
    return sandbox
