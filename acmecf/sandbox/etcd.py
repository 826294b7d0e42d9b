"""Launch a real etcd cluster on free loopback ports, for tests of the etcd store.

`EtcdCluster` owns N etcd processes (3 by default) and their working files in one directory:
a data directory and a log per member, and, when asked for, a throwaway test CA with server
and client certificates (client-certificate authentication) and users with passwords
(etcd's role-based auth). It starts every member, waits until each one serves linearizable
reads (so the cluster has quorum and a leader), and can stop, kill and restart one member at a
time, so fault tests can lose one member (quorum kept) or two (quorum lost).

Does not: speak the store's key layout, reuse etcd's fixed default ports (2379/2380), or touch
a system etcd service: every member listens on ports taken from the kernel (bind to port 0)
and inherits no ``ETCD_*`` variable from the caller's environment.
"""

from __future__ import annotations

import atexit
import base64
import datetime
import ipaddress
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from acmecf.errors import EtcdClusterError, EtcdNotInstalled, EtcdStartupError
from acmecf.pki.authority import self_signed_ca
from acmecf.sandbox.pebble import find_free_port, stop_process

logger = logging.getLogger(__name__)

DEFAULT_BINARY = "/usr/bin/etcd"
BINARY_VARIABLE = "ACMECF_ETCD"
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
PROBE_TIMEOUT = 2.0
LOG_TAIL_CHARACTERS = 3000
ROOT_USER = "root"
USER = "acmecf"
# The user made by `auth=True` may read and write under this prefix only.
USER_PREFIX = "/acmecf/"


def find_binary(binary: str | None = None) -> str:
    """Return the etcd executable to run.

    Looks at ``binary``, then ``$ACMECF_ETCD``, then ``etcd`` on PATH, then /usr/bin/etcd; the
    first one given (or found) must be an executable file. Raises EtcdNotInstalled otherwise.
    """
    candidate = binary or os.environ.get(BINARY_VARIABLE) or shutil.which("etcd") or DEFAULT_BINARY
    path = Path(candidate)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise EtcdNotInstalled(f"no executable at {candidate}")
    return str(path)


@dataclass(frozen=True)
class ClusterTLS:
    """The test CA and the certificates of a TLS cluster (all PEM files in one directory).

    Members present ``server_certificate`` (for 127.0.0.1 and localhost) and accept only client
    certificates signed by ``ca_file``, such as ``client_certificate``.
    """

    ca_file: Path
    server_certificate: Path
    server_key: Path
    client_certificate: Path
    client_key: Path


def write_test_ca(directory: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    """Write a new self-signed test CA certificate to ``directory/<name>-ca.pem``.

    Returns its path and its key (kept in memory only, so nothing outside this process can
    sign with it).
    """
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"acmecf etcd test CA {name}")])
    certificate = self_signed_ca(
        key, subject, now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)
    )
    path = directory / f"{name}-ca.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path, key


def write_tls_material(directory: Path) -> ClusterTLS:
    """Create a test CA, a server certificate for the members and a client certificate.

    The server certificate also allows client authentication: etcd 3.4's HTTP gateway dials its
    own gRPC server with it, and that dial must pass client-certificate checks. The client
    certificate's common name is the user ``acmecf``. Keys are written 0600.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, ca_key = write_test_ca(directory, "etcd")
    ca_certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
    server_certificate, server_key = _write_leaf(
        directory,
        "server",
        ca_certificate,
        ca_key,
        common_name="localhost",
        usages=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        alternative_names=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.IPv4Address(LOOPBACK)),
        ],
    )
    client_certificate, client_key = _write_leaf(
        directory,
        "client",
        ca_certificate,
        ca_key,
        common_name=USER,
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
        alternative_names=[],
    )
    return ClusterTLS(ca_file, server_certificate, server_key, client_certificate, client_key)


def _write_leaf(
    directory: Path,
    name: str,
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    common_name: str,
    usages: list[x509.ObjectIdentifier],
    alternative_names: list[x509.GeneralName],
) -> tuple[Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    certificate = builder.sign(ca_key, hashes.SHA256())
    certificate_path = directory / f"{name}.pem"
    key_path = directory / f"{name}.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return certificate_path, key_path


def _write_private(path: Path, data: bytes) -> None:
    """Write a throwaway test secret readable by its owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


@dataclass
class EtcdMember:
    """One member of the cluster: its name, ports, data directory and process (if running)."""

    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_handle: IO[bytes] | None = None
    paused: bool = False

    @property
    def running(self) -> bool:
        """Whether the process is alive (a paused member is alive, but answers nothing)."""
        return self.process is not None and self.process.poll() is None

    def endpoint(self) -> str:
        """``host:port`` of the member's client listener."""
        return f"{LOOPBACK}:{self.client_port}"


class EtcdCluster:
    """An etcd cluster of ``size`` members on free loopback ports under ``workdir``.

    ``start()`` launches every member and returns once each serves linearizable reads;
    ``stop()`` is idempotent, always reaps every process, and is registered with atexit while
    the cluster runs. With ``tls=True`` clients must speak HTTPS, trust ``tls.ca_file`` and
    present a client certificate (``tls.client_certificate``/``tls.client_key``). With
    ``auth=True`` etcd's auth is enabled: ``root`` may do anything, ``acmecf`` may read and
    write keys under ``/acmecf/`` only; their passwords are in ``password_file(user)`` (0600).
    Members inherit the caller's environment without its ``ETCD_*`` variables.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        size: int = 3,
        tls: bool = False,
        auth: bool = False,
        binary: str | None = None,
    ) -> None:
        """Prepare (but do not start) the cluster; raises EtcdNotInstalled at once if no binary."""
        if size < 1:
            raise EtcdClusterError(f"an etcd cluster needs at least one member, not {size}")
        self.workdir = Path(workdir).resolve()
        self.size = size
        self.binary = find_binary(binary)
        self.tls: ClusterTLS | None = None
        self._want_tls = tls
        self.auth = auth
        self.passwords: dict[str, str] = {}
        self.members: list[EtcdMember] = []
        self._started = False

    # -- what clients need -------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self._want_tls else "http"

    def endpoints(self) -> list[str]:
        """``host:port`` of every member's client listener, in member order (running or not)."""
        return [member.endpoint() for member in self.members]

    def urls(self) -> list[str]:
        """Client URLs (``http(s)://host:port``) of every member, in member order."""
        return [f"{self.scheme}://{endpoint}" for endpoint in self.endpoints()]

    def password_file(self, user: str = USER) -> Path:
        """The 0600 file holding ``user``'s password (auth clusters only)."""
        if user not in self.passwords:
            raise EtcdClusterError(f"the cluster has no user {user!r} (start it with auth=True)")
        return self.workdir / f"{user}.password"

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Launch every member of a new cluster and wait until each serves linearizable reads.

        Data directories of an earlier cluster in ``workdir`` are removed first. Waits 30 s at
        most.
        Raises EtcdStartupError (with the log tails) if a member exits or the cluster does not
        become healthy in time; every process is stopped before raising. Raises
        EtcdClusterError if already started.
        """
        if self._started:
            raise EtcdClusterError("the etcd cluster is already started; call stop() first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._want_tls:
            self.tls = write_tls_material(self.workdir / "tls")
        self.members = [
            EtcdMember(
                name=f"member{index}",
                client_port=find_free_port(),
                peer_port=find_free_port(),
                data_dir=self.workdir / f"member{index}.etcd",
                log_path=self.workdir / f"member{index}.log",
            )
            for index in range(self.size)
        ]
        for member in self.members:
            # A data directory left by an earlier cluster names its old peers: start afresh.
            shutil.rmtree(member.data_dir, ignore_errors=True)
        self._started = True
        atexit.register(self.stop)
        try:
            for index in range(self.size):
                self._launch(index, initial_state="new")
            self.wait_until_healthy()
            if self.auth:
                self._enable_auth()
        except BaseException:
            self.stop()
            raise
        logger.info("etcd cluster of %d serving %s", self.size, ",".join(self.urls()))

    def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL after 10 s) and reap it. Idempotent."""
        for index in range(len(self.members)):
            self._halt(index, signal.SIGTERM)
        self._started = False
        atexit.unregister(self.stop)

    def stop_member(self, index: int) -> None:
        """Stop member ``index`` gracefully (SIGTERM) and reap it; a stopped member is a no-op."""
        self._halt(index, signal.SIGTERM)

    def kill_member(self, index: int) -> None:
        """Kill member ``index`` with SIGKILL, as a power loss would, and reap it."""
        self._halt(index, signal.SIGKILL)

    def pause_member(self, index: int) -> None:
        """Freeze member ``index`` (SIGSTOP): it keeps its sockets but answers nothing, as a hung
        or partitioned host would. `resume_member` thaws it."""
        process = self.members[index].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGSTOP)
            self.members[index].paused = True

    def resume_member(self, index: int) -> None:
        """Thaw a member frozen by `pause_member` (SIGCONT); a running member is left alone."""
        process = self.members[index].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)
        self.members[index].paused = False

    def start_member(self, index: int, *, wait: bool = True) -> None:
        """Restart a stopped member on its old ports and data directory.

        With ``wait`` returns once it serves linearizable reads again (needs quorum: pass
        ``wait=False`` when restarting a member of a cluster that has lost it, then call
        `wait_until_healthy`). A running member is left alone.
        """
        if self.members[index].running:
            return
        self._launch(index, initial_state="existing")
        if wait:
            self._wait_until(lambda: self._healthy(index), f"member{index} healthy", [index])

    def wait_until_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait until every running, unpaused member serves linearizable reads (so quorum).

        Raises EtcdStartupError with the log tails after ``timeout`` seconds or if a running
        member exits.
        """
        running = self._answering()
        self._wait_until(
            lambda: all(self._healthy(index) for index in running),
            "every running member healthy",
            running,
            timeout,
        )

    def has_quorum(self) -> bool:
        """Whether some running member serves a linearizable read right now."""
        return any(self._healthy(index) for index in self._answering())

    def leader(self) -> int | None:
        """Index of the member that is the raft leader now, or None if no member knows one."""
        identities: dict[str, int] = {}
        leader = ""
        with self._session() as session:
            for index in self._answering():
                url = f"{self.scheme}://{self.members[index].endpoint()}"
                try:
                    status = session.post(
                        f"{url}/v3/maintenance/status",
                        json={},
                        headers=self._token_header(session, url),
                        timeout=PROBE_TIMEOUT,
                    ).json()
                except (requests.RequestException, ValueError):
                    continue
                identities[str(status["header"]["member_id"])] = index
                leader = str(status.get("leader", "")) or leader
        return identities.get(leader)

    def heal(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Undo every fault: thaw paused members, restart stopped ones, wait until all are
        healthy. A no-op on a healthy cluster; fixtures call it between tests."""
        for index, member in enumerate(self.members):
            if member.paused:
                self.resume_member(index)
            if not member.running:
                self._launch(index, initial_state="existing")
        self.wait_until_healthy(timeout)

    def _answering(self) -> list[int]:
        """Members whose process is alive and not paused."""
        return [
            index
            for index, member in enumerate(self.members)
            if member.running and not member.paused
        ]

    def log_text(self, index: int) -> str:
        """Member ``index``'s combined stdout and stderr so far."""
        try:
            return self.members[index].log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> EtcdCluster:
        self.start()
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- processes ----------------------------------------------------------------------------

    def _command(self, index: int, initial_state: str) -> list[str]:
        member = self.members[index]
        client_url = f"{self.scheme}://{member.endpoint()}"
        peer_url = f"http://{LOOPBACK}:{member.peer_port}"
        initial_cluster = ",".join(
            f"{other.name}=http://{LOOPBACK}:{other.peer_port}" for other in self.members
        )
        command = [
            self.binary,
            "--name", member.name,
            "--data-dir", str(member.data_dir),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", initial_cluster,
            "--initial-cluster-state", initial_state,
            "--initial-cluster-token", f"acmecf-test-{id(self):x}",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]  # fmt: skip
        if self.tls is not None:
            command += [
                "--cert-file", str(self.tls.server_certificate),
                "--key-file", str(self.tls.server_key),
                "--trusted-ca-file", str(self.tls.ca_file),
                "--client-cert-auth",
            ]  # fmt: skip
        return command

    def _launch(self, index: int, initial_state: str) -> None:
        member = self.members[index]
        command = self._command(index, initial_state)
        member.log_handle = member.log_path.open("ab")
        logger.debug("starting etcd %s: %s", member.name, command)
        member.process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=_environment(),
            stdin=subprocess.DEVNULL,
            stdout=member.log_handle,
            stderr=subprocess.STDOUT,
        )

    def _halt(self, index: int, how: signal.Signals) -> None:
        member = self.members[index]
        process, member.process = member.process, None
        if process is not None:
            thaw = member.paused and process.poll() is None
            if thaw:
                member.paused = False
            name = f"etcd {member.name}"
            stop_process(process, name, logger, STOP_TIMEOUT, how=how, thaw=thaw)
        if member.log_handle is not None:
            member.log_handle.close()
            member.log_handle = None

    # -- health -------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = requests.Session()
        # Otherwise REQUESTS_CA_BUNDLE (set on many hosts) silently replaces session.verify.
        session.trust_env = False
        if self.tls is not None:
            session.verify = str(self.tls.ca_file)
            session.cert = (str(self.tls.client_certificate), str(self.tls.client_key))
        return session

    def _healthy(self, index: int) -> bool:
        # A linearizable range read through the member's HTTP gateway succeeds only while the
        # cluster has a leader and a quorum. (/health would do, but needs a token with auth.)
        member = self.members[index]
        url = f"{self.scheme}://{member.endpoint()}"
        with self._session() as session:
            try:
                headers = self._token_header(session, url)
                response = session.post(
                    f"{url}/v3/kv/range",
                    json={"key": _encode(b"/health-probe"), "limit": 1},
                    headers=headers,
                    timeout=PROBE_TIMEOUT,
                )
            except requests.exceptions.SSLError as error:
                raise EtcdStartupError(
                    f"etcd {member.name} at {url} failed the TLS handshake: {error}"
                ) from error
            except requests.RequestException:
                return False
        return response.ok

    def _token_header(self, session: requests.Session, url: str) -> dict[str, str]:
        if not self.passwords:
            return {}
        response = session.post(
            f"{url}/v3/auth/authenticate",
            json={"name": ROOT_USER, "password": self.passwords[ROOT_USER]},
            timeout=PROBE_TIMEOUT,
        )
        response.raise_for_status()
        return {"Authorization": str(response.json()["token"])}

    def _wait_until(
        self,
        condition: Any,
        what: str,
        watched: list[int],
        timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for index in watched:
                process = self.members[index].process
                if process is None or process.poll() is not None:
                    code = None if process is None else process.returncode
                    raise EtcdStartupError(
                        f"etcd member{index} exited with status {code} while waiting for {what}; "
                        f"log tail:\n{self._log_tails(watched)}"
                    )
            if condition():
                return
            if time.monotonic() > deadline:
                raise EtcdStartupError(
                    f"etcd: no {what} within {timeout:.0f} s; log tail:\n{self._log_tails(watched)}"
                )
            time.sleep(0.1)

    def _log_tails(self, indexes: list[int]) -> str:
        share = LOG_TAIL_CHARACTERS // max(1, len(indexes))
        return "\n".join(f"[member{index}] {self.log_text(index)[-share:]}" for index in indexes)

    # -- auth ---------------------------------------------------------------------------------

    def _enable_auth(self) -> None:
        """Create root and acmecf (read-write under /acmecf/), then turn etcd's auth on."""
        self.passwords = {ROOT_USER: secrets.token_urlsafe(18), USER: secrets.token_urlsafe(18)}
        prefix = USER_PREFIX.encode()
        steps: list[tuple[str, Mapping[str, object]]] = [
            ("auth/user/add", {"name": ROOT_USER, "password": self.passwords[ROOT_USER]}),
            ("auth/role/add", {"name": ROOT_USER}),
            ("auth/user/grant", {"user": ROOT_USER, "role": ROOT_USER}),
            ("auth/user/add", {"name": USER, "password": self.passwords[USER]}),
            ("auth/role/add", {"name": USER}),
            (
                "auth/role/grant",
                {
                    "name": USER,
                    "perm": {
                        "permType": "READWRITE",
                        "key": _encode(prefix),
                        "range_end": _encode(_prefix_end(prefix)),
                    },
                },
            ),
            ("auth/user/grant", {"user": USER, "role": USER}),
            ("auth/enable", {}),
        ]
        url = self.urls()[0]
        passwords, self.passwords = self.passwords, {}  # no token until auth is on
        with self._session() as session:
            for path, body in steps:
                response = session.post(f"{url}/v3/{path}", json=body, timeout=PROBE_TIMEOUT * 5)
                if not response.ok:
                    raise EtcdStartupError(
                        f"etcd refused {path} while enabling auth: "
                        f"HTTP {response.status_code} {response.text.strip()}"
                    )
        self.passwords = passwords
        for user, password in passwords.items():
            _write_private(self.workdir / f"{user}.password", f"{password}\n".encode())


def _environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("ETCD")}


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key that starts with ``prefix`` (etcd's range end)."""
    trimmed = prefix.rstrip(b"\xff")
    return trimmed[:-1] + bytes([trimmed[-1] + 1]) if trimmed else b"\0"
