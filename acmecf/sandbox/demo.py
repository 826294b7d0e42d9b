"""The end-to-end demo: issue example.com + *.example.com on the local test bed and verify it.

Runs the real `acmecf issue` command in a child process against Pebble and the Cloudflare
emulator, then checks the written chain against Pebble's root (with `openssl verify` when it is
installed, and with our own signature checks always) and that no TXT record was left behind.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509

from acmecf.errors import AcmecfError
from acmecf.pki.chain import split_pem
from acmecf.sandbox.pebble import find_binary
from acmecf.sandbox.testbed import start_sandbox
from acmecf.storage.safe import write_file_atomic

NAMES = ("example.com", "*.example.com")


def run_demo(workdir: Path | None, delays: Sequence[float], *, echo: Callable[[str], None]) -> None:
    """Issue the demo certificate; raise AcmecfError if any step or check fails."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="acmecf-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config_dir = workdir / "config"
    echo(
        f"Starting Pebble ({find_binary()}) and the Cloudflare emulator "
        f"(nameserver delays {list(delays)} s)..."
    )
    with start_sandbox(workdir / "sandbox", nameserver_delays=delays) as bed:
        environment = {**_os_environ(), **bed.client_environment()}
        command = [
            sys.executable,
            "-m",
            "acmecf",
            "issue",
            "--agree-tos",
            "--email",
            "demo@example.com",
            "--config-dir",
            str(config_dir),
        ]
        for name in NAMES:
            command += ["-d", name]
        echo(
            "$ acmecf issue --agree-tos --email demo@example.com "
            + " ".join(f"-d '{n}'" for n in NAMES)
        )
        started = time.monotonic()
        completed = subprocess.run(command, env=environment, check=False)
        elapsed = time.monotonic() - started
        if completed.returncode != 0:
            raise AcmecfError(f"the demo issuance failed with exit code {completed.returncode}")
        root_path = workdir / "pebble-root.pem"
        write_file_atomic(root_path, bed.pebble.root_pem(), 0o644)
        leftovers = bed.emulator.records(type="TXT")
        leftovers = [r for r in leftovers if r["name"].startswith("_acme-challenge")]
        if leftovers:
            raise AcmecfError(f"{len(leftovers)} challenge TXT record(s) were left behind")

    live = config_dir / "live" / "example.com"
    _verify(live, root_path)
    echo(f"Issued in {elapsed:.1f}s; the chain verifies against Pebble's root; no TXT record left.")
    if shutil.which("openssl"):
        echo(
            f"  openssl verify -CAfile {root_path} -untrusted {live}/chain.pem {live}/cert.pem: OK"
        )
    for name in ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"):
        echo(f"  {live / name}")


def _verify(live: Path, root_path: Path) -> None:
    leaf = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    intermediates = split_pem((live / "chain.pem").read_bytes())
    root = x509.load_pem_x509_certificate(root_path.read_bytes())
    chain = [leaf, *intermediates, root]
    for child, issuer in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(issuer)
        except Exception as err:
            raise AcmecfError(
                f"chain check failed: {child.subject.rfc4514_string()} is not signed by "
                f"{issuer.subject.rfc4514_string()}"
            ) from err
    if (live / "fullchain.pem").read_bytes() != (live / "cert.pem").read_bytes() + (
        live / "chain.pem"
    ).read_bytes():
        raise AcmecfError("fullchain.pem is not cert.pem followed by chain.pem")
    if shutil.which("openssl"):
        result = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(root_path),
                "-untrusted",
                str(live / "chain.pem"),
                str(live / "cert.pem"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise AcmecfError(f"openssl verify rejected the chain: {result.stdout}{result.stderr}")


def _os_environ() -> dict[str, str]:
    import os

    return dict(os.environ)
