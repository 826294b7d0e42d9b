"""Launch a real Pebble ACME test server on free loopback ports, and tell what it offers.

The launcher owns one Pebble process and its working files: a throwaway
HTTPS test CA, the server certificate signed by it, the Pebble config and
the log. Clients reach Pebble over verified TLS by trusting ``ca_bundle``;
nothing here ever disables certificate verification.

The tests need Pebble as Let's Encrypt runs it today: upstream commit
b1e1ca4 (tagged v2.10.1) or later. Its ``-version`` flag prints "dev" for
every build but a release, so currency is told from behaviour instead:
``Pebble.features`` reads the directory (RFC 9773 ``renewalInfo``,
``meta.profiles``) and opens one throwaway order to see the challenges it
offers (dns-persist-01 carrying ``accounturi`` arrived in b1e1ca4, one
release after DNS over TCP only and ``alreadyReplaced``).

Does not: provide DNS (the caller passes the resolver Pebble validates
against), act as an ACME client beyond that one probe order, build Pebble
(scripts/provide_pebble.py does), or reuse Pebble's fixed default ports.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests
from acme import client as acme_client
from acme import crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from acmecf.errors import PebbleError, PebbleNotInstalled, PebbleStartupError
from acmecf.pki.authority import self_signed_ca
from acmecf.storage.safe import write_file_atomic

logger = logging.getLogger(__name__)

DEFAULT_BINARY = "/usr/bin/pebble"
BINARY_VARIABLE = "ACMECF_PEBBLE"
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
LOG_TAIL_CHARACTERS = 4000

CURRENT_COMMIT = "b1e1ca4"
CURRENT_VERSION = "v2.10.1"
"""The oldest Pebble the test bed accepts: the commit (and the tag upstream gave it)."""
CURRENT_MODULE = "github.com/letsencrypt/pebble/v2/cmd/pebble"

DNS_PERSIST_01 = "dns-persist-01"
# The throwaway order of the feature probe: never validated, so no DNS is asked. Three labels,
# because Pebble's blocklist check panics on a name with fewer labels than a blocked entry.
PROBE_NAME = "feature-probe.pebble.invalid"
PROBE_USER_AGENT = "acmecf-sandbox-feature-probe"
PROBE_ATTEMPTS = 3


@dataclass(frozen=True)
class Profile:
    """One certificate profile as Pebble's config declares it (``profiles`` map)."""

    validity: datetime.timedelta
    description: str
    promote_common_name: bool = False

    def config(self) -> dict[str, object]:
        """The profile's entry in Pebble's JSON config (validity in whole seconds)."""
        return {
            "description": self.description,
            "validityPeriod": int(self.validity.total_seconds()),
            "promoteCommonName": self.promote_common_name,
        }


LETS_ENCRYPT_PROFILES: Mapping[str, Profile] = {
    # Let's Encrypt's own descriptions are these links; classic still puts the first name
    # in the subject's common name, the two newer profiles leave the subject empty.
    "classic": Profile(
        datetime.timedelta(days=90),
        "https://letsencrypt.org/docs/profiles#classic",
        promote_common_name=True,
    ),
    "tlsserver": Profile(
        datetime.timedelta(days=45), "https://letsencrypt.org/docs/profiles#tlsserver"
    ),
    "shortlived": Profile(
        datetime.timedelta(hours=160), "https://letsencrypt.org/docs/profiles#shortlived"
    ),
}
"""Let's Encrypt's profiles and lifetimes. Let's Encrypt issues ``classic`` for an order that
names no profile; Pebble cannot be told a default and picks one of these at random instead."""


def not_installed(detail: str = "") -> PebbleNotInstalled:
    """The error for a missing (or too old) Pebble, with every way to get one."""
    message = (
        f"pebble is not installed: set {BINARY_VARIABLE}=/path/to/pebble, or run "
        f"`go install {CURRENT_MODULE}@{CURRENT_COMMIT}`, or `apt-get install pebble` "
        "(Debian's is older: enough for the demo, not for the tests)"
    )
    return PebbleNotInstalled(f"{message} ({detail})" if detail else message)


@dataclass(frozen=True)
class PebbleFeatures:
    """What one running Pebble offers, as its directory and a probe order show it.

    ``challenge_types`` is empty when the probe could not open an order (a CA that requires
    External Account Binding); ``missing()`` then names dns-persist-01 as missing.
    """

    renewal_info: bool
    profiles: tuple[str, ...]
    challenge_types: tuple[str, ...]
    persist_account_uri: bool

    def missing(self) -> list[str]:
        """What a Pebble of b1e1ca4 or later offers and this one lacks; empty when current."""
        lacking = []
        if not self.renewal_info:
            lacking.append("ACME Renewal Information (renewalInfo in the directory)")
        if not self.profiles:
            lacking.append("certificate profiles (meta.profiles in the directory)")
        if DNS_PERSIST_01 not in self.challenge_types:
            lacking.append("the dns-persist-01 challenge")
        elif not self.persist_account_uri:
            lacking.append("accounturi in dns-persist-01 challenges")
        return lacking


def virtualenv_binary() -> Path | None:
    """Where ``make test`` keeps the Pebble it built: the running virtualenv's bin directory.

    ``None`` outside a virtualenv (nothing is ever built into a system directory).
    """
    if sys.prefix == sys.base_prefix:
        return None
    return Path(sys.prefix) / "bin" / "pebble"


def find_binary(binary: str | None = None) -> str:
    """Return the Pebble executable to run.

    Looks at ``binary``, then ``$ACMECF_PEBBLE``, then the Pebble built into
    the running virtualenv (``virtualenv_binary``), then ``pebble`` on PATH,
    then /usr/bin/pebble; the first one given (or found) wins and must be an
    executable file. Raises PebbleNotInstalled otherwise. Says nothing about
    how current the binary is: see ``Pebble.features``.
    """
    built = virtualenv_binary()
    candidate = (
        binary
        or os.environ.get(BINARY_VARIABLE)
        or (str(built) if built is not None and built.is_file() else None)
        or shutil.which("pebble")
        or DEFAULT_BINARY
    )
    path = Path(candidate)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise not_installed(f"no executable at {candidate}")
    return str(path)


def probe_binary(binary: str, workdir: Path) -> PebbleFeatures:
    """Start ``binary`` as Pebble in ``workdir``, read its features, and stop it again.

    Takes about a second. Raises PebbleStartupError when ``binary`` does not start as
    Pebble, PebbleError when the probe itself fails.
    """
    # No nonce rejection, so the probe order needs no retries.
    with Pebble(
        workdir, dns_server=(LOOPBACK, 9), binary=binary, env={"PEBBLE_WFE_NONCEREJECT": "0"}
    ) as pebble:
        return pebble.features()


def find_free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that was free a moment ago (bind to port 0).

    The port is released before returning, so another process could take it
    in between; on loopback in a test run that race is acceptable.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(
    process: subprocess.Popen[bytes],
    name: str,
    log: logging.Logger,
    timeout: float,
    *,
    how: signal.Signals = signal.SIGTERM,
    thaw: bool = False,
) -> None:
    """Send ``how`` to a test-bed server still running, kill it if it has not exited after
    ``timeout`` seconds, and reap it. With ``thaw``, SIGCONT follows ``how``: a process frozen
    by SIGSTOP cannot act on SIGTERM. Never raises for a process that already exited.

    Logs to ``log`` as ``name`` (its owner's logger, so its messages stay with its server).
    """
    if process.poll() is None:
        process.send_signal(how)
        if thaw:
            process.send_signal(signal.SIGCONT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM; killing it", name)
            process.kill()
            process.wait()
    log.debug("%s exited with %s", name, process.returncode)


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
    rejection stays on: clients must retry badNonce. The variables Pebble
    reads include PEBBLE_WFE_NONCEREJECT (percent of good nonces refused),
    PEBBLE_AUTHZREUSE (percent of valid authorizations reused),
    PEBBLE_ALTERNATE_ROOTS (extra chains), PEBBLE_CHAIN_LENGTH and
    PEBBLE_VA_ALWAYS_VALID (every challenge passes, no DNS asked).

    The config offers ``profiles`` (Let's Encrypt's three by default). An
    order that names no profile gets one of them at random: Pebble has no
    default profile, where Let's Encrypt picks ``classic``. Give a single
    profile to make un-named orders deterministic.

    The management API listens on ``management_url`` (``LOOPBACK`` port
    ``management_port``), over HTTPS with the same server certificate, so
    verify it with ``ca_bundle``. It is not ACME (no JWS) and offers:

    - ``GET /roots/<i>``, ``/intermediates/<i>``: the PEM of chain ``i``
      (0 is the default chain; 1.. exist with PEBBLE_ALTERNATE_ROOTS), with
      ``Link: rel="alternate"`` headers to the others; ``/root-keys/<i>``
      and ``/intermediate-keys/<i>`` give their private keys.
    - ``GET /cert-status-by-serial/<hex serial>``: JSON ``Status`` ("Valid"
      or "Revoked"), ``Serial``, ``Certificate`` (PEM) and, once revoked,
      ``Reason`` and ``RevokedAt``; 404 for a serial Pebble never issued.
      See ``certificate_status``.
    - ``POST /set-renewal-info/`` with JSON ``{"Certificate": PEM,
      "ARIResponse": text}``: from then on the certificate's renewalInfo
      (RFC 9773) answers ``text`` verbatim (it is not checked, so it may be
      malformed on purpose) with ``Retry-After: 21600``. Without it Pebble
      answers a window of two days around the last third of the lifetime,
      or "now" for a revoked certificate. See ``set_renewal_info``. This
      one is served by Pebble's ACME handler chain, so its log shows it as
      ``POST /set-renewal-info/ -> calling handler()``, like ACME requests.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        dns_server: tuple[str, int],
        env: Mapping[str, str] | None = None,
        eab_keys: Mapping[str, str] | None = None,
        blocked_domains: Sequence[str] = (),
        profiles: Mapping[str, Profile] = LETS_ENCRYPT_PROFILES,
        binary: str | None = None,
    ) -> None:
        """Prepare (but do not start) Pebble; ``eab_keys`` maps kid to base64url HMAC key.

        Giving ``eab_keys`` makes external account binding required; names in
        ``blocked_domains`` (and below them) are refused with rejectedIdentifier,
        as a CA's policy would refuse them. ``profiles`` become the directory's
        ``meta.profiles``; an empty mapping leaves Pebble's own single
        ``default`` profile (5 years). Pebbles older than 2.7 ignore them.
        Raises PebbleNotInstalled at once if no binary can be found.
        """
        # Absolute, because Pebble runs with workdir as its cwd and reads the config paths.
        self.workdir = Path(workdir).resolve()
        self.dns_server = dns_server
        self.env: dict[str, str] = dict(env or {})
        self.eab_keys: dict[str, str] = dict(eab_keys or {})
        self.blocked_domains = list(blocked_domains)
        self.profiles: dict[str, Profile] = dict(profiles)
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
        self._features: PebbleFeatures | None = None

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
        self._features = None
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
            stop_process(process, f"pebble (pid {process.pid})", logger, STOP_TIMEOUT)
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

    def directory(self) -> dict[str, Any]:
        """Return the ACME directory (RFC 8555 §7.1.1) as JSON. Raises requests.RequestException."""
        if not self.directory_url:
            raise PebbleError("pebble has not been started")
        response = requests.get(self.directory_url, verify=str(self.ca_bundle), timeout=10)
        response.raise_for_status()
        directory: dict[str, Any] = response.json()
        return directory

    def features(self) -> PebbleFeatures:
        """Return what this running Pebble offers; the answer is kept until the next start.

        Reads the directory, then (unless the CA requires External Account Binding) registers
        a throwaway account and opens one order for ``PROBE_NAME`` to list the challenges it
        offers; the order is never answered, so Pebble asks no DNS and issues nothing. The
        probe shows in Pebble's log like any client. Raises PebbleError when the probe fails.
        """
        if self._features is not None:
            return self._features
        try:
            directory = self.directory()
            meta = directory.get("meta") or {}
            challenges: list[dict[str, Any]] = []
            if not meta.get("externalAccountRequired"):
                challenges = self._probe_challenges()
        except (requests.RequestException, messages.Error, ValueError) as error:
            raise PebbleError(
                f"could not read the features of pebble at {self.directory_url}: {error}"
            ) from error
        self._features = PebbleFeatures(
            renewal_info="renewalInfo" in directory,
            profiles=tuple(sorted(meta.get("profiles") or {})),
            challenge_types=tuple(sorted(str(challenge.get("type")) for challenge in challenges)),
            persist_account_uri=any(
                challenge.get("type") == DNS_PERSIST_01 and challenge.get("accounturi")
                for challenge in challenges
            ),
        )
        return self._features

    def certificate_status(self, serial: int) -> dict[str, Any] | None:
        """Return the management API's status of the certificate with ``serial``.

        The JSON has ``Status`` ("Valid" or "Revoked"), ``Serial``, ``Certificate`` and, once
        revoked, ``Reason`` and ``RevokedAt``. ``None`` when Pebble never issued that serial.
        Raises requests.RequestException on any other failure.
        """
        response = self._management_request("GET", f"/cert-status-by-serial/{serial:x}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    def set_renewal_info(self, certificate_pem: bytes, reply: Mapping[str, Any] | str) -> None:
        """Make renewalInfo (RFC 9773 §4.2) answer ``reply`` for the certificate from now on.

        ``reply`` is sent as JSON when it is a mapping, e.g. ``{"suggestedWindow": {"start":
        ..., "end": ...}}``, and verbatim when it is text (malformed on purpose, say).
        Raises requests.RequestException, also when Pebble did not issue the certificate.
        """
        body = {
            "Certificate": certificate_pem.decode(),
            "ARIResponse": reply if isinstance(reply, str) else json.dumps(reply),
        }
        self._management_request("POST", "/set-renewal-info/", json=body).raise_for_status()

    def log_text(self) -> str:
        """Return Pebble's combined stdout and stderr so far ("" before the first start)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _management_get(self, path: str) -> bytes:
        response = self._management_request("GET", path)
        response.raise_for_status()
        return response.content

    def _management_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if not self.management_url:
            raise PebbleError("pebble has not been started")
        return requests.request(
            method, self.management_url + path, verify=str(self.ca_bundle), timeout=10, **kwargs
        )

    def _probe_challenges(self) -> list[dict[str, Any]]:
        """Register a throwaway account, open one order, return its challenges as JSON."""
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        network = acme_client.ClientNetwork(
            JWKEC(key=key),
            alg=ES256,
            verify_ssl=str(self.ca_bundle),  # type: ignore[arg-type]  # requests takes a path
            user_agent=PROBE_USER_AGENT,
        )
        for attempt in range(1, PROBE_ATTEMPTS + 1):
            try:
                directory = acme_client.ClientV2.get_directory(self.directory_url, network)
                acme = acme_client.ClientV2(directory, network)
                if network.account is None:
                    acme.new_account(
                        messages.NewRegistration.from_data(terms_of_service_agreed=True)
                    )
                order = acme.new_order(crypto_util.make_csr(key_pem, [PROBE_NAME]))
                break
            except messages.Error as error:
                # The library retries badNonce once; Pebble may refuse the fresh nonce too.
                if error.code != "badNonce" or attempt == PROBE_ATTEMPTS:
                    raise
        return [
            challenge.to_json()
            for authorization in order.authorizations
            for challenge in authorization.body.challenges
        ]

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
        if self.profiles:
            settings["profiles"] = {
                name: profile.config() for name, profile in self.profiles.items()
            }
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
