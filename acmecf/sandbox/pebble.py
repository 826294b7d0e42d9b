"""Launch a real Pebble ACME test server on free loopback ports.

The launcher owns one Pebble process and its working files: a throwaway
HTTPS test CA, the server certificate signed by it, the Pebble config and
the log. Clients reach Pebble over verified TLS by trusting ``ca_bundle``;
nothing here ever disables certificate verification.

Does not: provide DNS (the caller passes the resolver Pebble validates
against), speak ACME, or reuse Pebble's fixed default ports.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from acmecf.errors import AcmecfError
from acmecf.pki.authority import self_signed_ca
from acmecf.storage.safe import write_file_atomic

logger = logging.getLogger(__name__)

DEFAULT_BINARY = "/usr/bin/pebble"
BINARY_VARIABLE = "ACMECF_PEBBLE"
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
LOG_TAIL_CHARACTERS = 4000


class PebbleError(AcmecfError):
    """Base class for failures of the Pebble test server launcher (sandbox and demo only)."""


class PebbleNotInstalled(PebbleError):
    """No Pebble binary was found where the launcher looks for it."""

    def __init__(self, detail: str = "") -> None:
        message = (
            "pebble is not installed: run `apt-get install pebble` (Debian/Ubuntu) "
            f"or set {BINARY_VARIABLE}=/path/to/pebble"
        )
        super().__init__(f"{message} ({detail})" if detail else message)


class PebbleStartupError(PebbleError):
    """Pebble exited or did not serve its directory in time; the message holds its log tail."""


def find_binary(binary: str | None = None) -> str:
    """Return the Pebble executable to run.

    Looks at ``binary``, then ``$ACMECF_PEBBLE``, then ``pebble`` on PATH,
    then /usr/bin/pebble; the first one given (or found) wins and must be an
    executable file. Raises PebbleNotInstalled otherwise.
    """
    candidate = (
        binary or os.environ.get(BINARY_VARIABLE) or shutil.which("pebble") or DEFAULT_BINARY
    )
    path = Path(candidate)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise PebbleNotInstalled(f"no executable at {candidate}")
    return str(path)


def find_free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that was free a moment ago (bind to port 0).

    The port is released before returning, so another process could take it
    in between; on loopback in a test run that race is acceptable.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def generate_https_certificates(workdir: Path) -> tuple[Path, Path, Path]:
    """Create a throwaway test CA and a server certificate for Pebble's HTTPS listeners.

    The server certificate names ``localhost`` and IP 127.0.0.1 and is signed
    by the test CA. Only the CA certificate, the server certificate and the
    server key are written (key 0600); the CA key is discarded, so nothing
    else can ever be signed by this CA. Returns (ca_bundle, certificate, key).
    """
    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acmecf sandbox HTTPS test CA")])
    ca_certificate = self_signed_ca(ca_key, ca_name, not_before, not_after)

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_bundle = workdir / "https-test-ca.pem"
    certificate = workdir / "https-server.pem"
    key = workdir / "https-server.key"
    ca_bundle.write_bytes(ca_certificate.public_bytes(serialization.Encoding.PEM))
    certificate.write_bytes(server_certificate.public_bytes(serialization.Encoding.PEM))
    write_file_atomic(
        key,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return ca_bundle, certificate, key


class Pebble:
    """One Pebble process serving ACME on free loopback ports, with verified HTTPS.

    ``start()`` writes certificates and config into ``workdir``, launches
    Pebble against ``dns_server`` and returns once the directory answers over
    TLS verified with ``ca_bundle``. ``stop()`` is idempotent and always reaps
    the process; it is also registered with atexit while running. Pebble's
    environment is the caller's minus any inherited ``PEBBLE_*`` variables
    (so a developer's shell cannot silently change test behaviour), plus
    ``PEBBLE_VA_NOSLEEP=1``, plus ``env`` on top. Pebble's default nonce
    rejection stays on: clients must retry badNonce.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        dns_server: tuple[str, int],
        env: Mapping[str, str] | None = None,
        eab_keys: Mapping[str, str] | None = None,
        blocked_domains: Sequence[str] = (),
        binary: str | None = None,
    ) -> None:
        """Prepare (but do not start) Pebble; ``eab_keys`` maps kid to base64url HMAC key.

        Giving ``eab_keys`` makes external account binding required; names in
        ``blocked_domains`` (and below them) are refused with rejectedIdentifier,
        as a CA's policy would refuse them. Raises
        PebbleNotInstalled at once if no binary can be found.
        """
        # Absolute, because Pebble runs with workdir as its cwd and reads the config paths.
        self.workdir = Path(workdir).resolve()
        self.dns_server = dns_server
        self.env: dict[str, str] = dict(env or {})
        self.eab_keys: dict[str, str] = dict(eab_keys or {})
        self.blocked_domains = list(blocked_domains)
        self.binary = find_binary(binary)
        self.port = 0
        self.management_port = 0
        self.directory_url = ""
        self.management_url = ""
        self.ca_bundle = self.workdir / "https-test-ca.pem"
        self.config_path = self.workdir / "pebble-config.json"
        self.log_path = self.workdir / "pebble.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    def start(self) -> None:
        """Launch Pebble and wait until its directory answers over verified TLS.

        Raises PebbleStartupError (with the log tail) if Pebble exits or does
        not answer within 15 seconds; the process is stopped before raising.
        Raises PebbleError if already running.
        """
        if self.process is not None:
            raise PebbleError("pebble is already running; call stop() first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        ca_bundle, certificate, key = generate_https_certificates(self.workdir)
        self.ca_bundle = ca_bundle
        self.port = find_free_port()
        self.management_port = find_free_port()
        self.directory_url = f"https://{LOOPBACK}:{self.port}/dir"
        self.management_url = f"https://{LOOPBACK}:{self.management_port}"
        self._write_config(certificate, key)

        dns_host, dns_port = self.dns_server
        command = [
            self.binary,
            "-config",
            str(self.config_path),
            "-dnsserver",
            f"{dns_host}:{dns_port}",
        ]
        self._log_handle = self.log_path.open("wb")
        logger.debug("starting pebble: %s", command)
        self.process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )
        atexit.register(self.stop)
        try:
            self._wait_until_ready(self.process)
        except BaseException:
            self.stop()
            raise
        logger.info("pebble serving %s (pid %d)", self.directory_url, self.process.pid)

    def stop(self) -> None:
        """Terminate Pebble, kill it if it ignores SIGTERM for 5 seconds, and reap it.

        Idempotent; never raises for a process that already exited.
        """
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    logger.warning("pebble (pid %d) ignored SIGTERM; killing it", process.pid)
                    process.kill()
                    process.wait()
            logger.debug("pebble (pid %d) exited with %s", process.pid, process.returncode)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Pebble:
        self.start()
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def root_pem(self) -> bytes:
        """Return Pebble's ACME issuing root (PEM), regenerated on every launch.

        This is the root of issued certificates, not the HTTPS test CA.
        Raises requests.RequestException on failure.
        """
        return self._management_get("/roots/0")

    def intermediate_pem(self) -> bytes:
        """Return Pebble's ACME issuing intermediate (PEM). Raises requests.RequestException."""
        return self._management_get("/intermediates/0")

    def log_text(self) -> str:
        """Return Pebble's combined stdout and stderr so far ("" before the first start)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _management_get(self, path: str) -> bytes:
        if not self.management_url:
            raise PebbleError("pebble has not been started")
        response = requests.get(self.management_url + path, verify=str(self.ca_bundle), timeout=10)
        response.raise_for_status()
        return response.content

    def _write_config(self, certificate: Path, key: Path) -> None:
        # Same layout as /usr/share/doc/pebble/examples/pebble-config*.json.
        # httpPort/tlsPort are where Pebble's VA would connect for HTTP-01 and
        # TLS-ALPN-01; pick free ports so validation never reaches a stranger.
        settings: dict[str, object] = {
            "listenAddress": f"{LOOPBACK}:{self.port}",
            "managementListenAddress": f"{LOOPBACK}:{self.management_port}",
            "certificate": str(certificate),
            "privateKey": str(key),
            "httpPort": find_free_port(),
            "tlsPort": find_free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(self.eab_keys),
        }
        if self.eab_keys:
            settings["externalAccountMACKeys"] = self.eab_keys
        if self.blocked_domains:
            settings["domainBlocklist"] = self.blocked_domains
        # The config holds EAB HMAC keys, so keep it owner-only.
        config = json.dumps({"pebble": settings}, indent=2).encode()
        write_file_atomic(self.config_path, config, 0o600)

    def _environment(self) -> dict[str, str]:
        environment = {
            name: value for name, value in os.environ.items() if not name.startswith("PEBBLE_")
        }
        environment["PEBBLE_VA_NOSLEEP"] = "1"
        environment.update(self.env)
        return environment

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last_error: Exception | None = None
        while True:
            if process.poll() is not None:
                raise PebbleStartupError(
                    f"pebble exited with status {process.returncode} during startup; log tail:\n"
                    + self._log_tail()
                )
            try:
                response = requests.get(self.directory_url, verify=str(self.ca_bundle), timeout=2)
                if response.ok:
                    return
                last_error = PebbleError(f"HTTP {response.status_code}")
            except requests.exceptions.SSLError as error:
                # A TLS failure is our bug (certificate mismatch), not slowness: fail fast.
                raise PebbleStartupError(
                    f"pebble's HTTPS certificate did not verify against {self.ca_bundle}: "
                    f"{error}; log tail:\n" + self._log_tail()
                ) from error
            except requests.RequestException as error:
                last_error = error
            if time.monotonic() > deadline:
                raise PebbleStartupError(
                    f"pebble did not serve {self.directory_url} within {STARTUP_TIMEOUT:.0f} s "
                    f"(last error: {last_error}); log tail:\n" + self._log_tail()
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        return self.log_text()[-LOG_TAIL_CHARACTERS:]
