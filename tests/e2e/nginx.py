"""A real nginx for end-to-end tests: its own prefix, pid, logs and a free loopback port.

The system nginx and its configuration are never touched: the test's nginx runs in the
foreground (`daemon off`) from a temporary prefix, and is stopped by the fixture. Also small
TLS clients that talk to it the way Cloudflare's edge (or an intruder) would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Nginx:
    """One nginx master process serving the server blocks it is given, in `workdir`."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.prefix = workdir
        self.port = free_port()
        self.docroot = workdir / "html"
        self.process: subprocess.Popen[bytes] | None = None
        for directory in ("html", "logs", "temp"):
            (workdir / directory).mkdir(parents=True, exist_ok=True)
        (self.docroot / "index.html").write_text("hello from the origin\n")

    @property
    def listen(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, server_blocks: str) -> None:
        """(Re)start nginx with these server blocks; fails the test if it does not come up."""
        self.stop()
        (self.prefix / "site.conf").write_text(server_blocks)
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = self.prefix / "temp"
        (self.prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\n"
            f"pid {self.prefix}/nginx.pid;\n"
            f"error_log {self.prefix}/logs/error.log info;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            f"    access_log {self.prefix}/logs/access.log;\n"
            f"    client_body_temp_path {temp}/body;\n"
            f"    proxy_temp_path {temp}/proxy;\n"
            f"    fastcgi_temp_path {temp}/fastcgi;\n"
            f"    uwsgi_temp_path {temp}/uwsgi;\n"
            f"    scgi_temp_path {temp}/scgi;\n"
            f"    include {self.prefix}/site.conf;\n"
            "}\n"
        )
        command = [self.binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]
        self.process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _, stderr = self.process.communicate()
                self.process = None
                pytest.fail(f"nginx did not start: {stderr.decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("nginx did not listen within 10 seconds")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)  # fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def error_log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text() if path.exists() else ""


def start_nginx(tmp_path: Path) -> Nginx:
    """An Nginx in `tmp_path`; fails in CI (skips elsewhere) when nginx is not installed."""
    binary = find_nginx()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("the real-nginx tests need nginx in CI: run scripts/install-system-deps")
        pytest.skip("nginx is not installed (scripts/install-system-deps installs it)")
    return Nginx(binary, tmp_path / "nginx")


@dataclass
class Answer:
    """What a TLS client got: `status` None when the server closed without an HTTP answer."""

    status: int | None
    body: str


def https_get(
    port: int,
    server_name: str,
    *,
    host_header: str | None = None,
    client: tuple[Path, Path] | None = None,
    ca: Path | None = None,
) -> Answer:
    """GET / over TLS from 127.0.0.1:`port` with SNI `server_name` (and a client certificate).

    Raises ssl.SSLError when the handshake is refused.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is not None:
        context.load_verify_locations(str(ca))
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        host = host_header or server_name
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        try:
            while chunk := tls.recv(65536):
                data += chunk
        except (ssl.SSLError, ConnectionResetError):
            if not data:
                return Answer(None, "")
    if not data:
        return Answer(None, "")
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode()
    return Answer(int(status_line.split()[1]), body.decode(errors="replace"))
