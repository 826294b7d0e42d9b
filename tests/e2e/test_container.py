"""The Dockerfile builds an image that renews on its own, as an unprivileged user, with the
configuration as a volume and the token as a secret file. Needs a working docker or podman
engine (a docker client alone is not enough): skipped otherwise, and the README says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf

ROOT = Path(__file__).resolve().parents[2]
IMAGE_UID = 10001


def container_engine() -> str | None:
    for engine in ("docker", "podman"):
        if shutil.which(engine) is None:
            continue
        probe = subprocess.run([engine, "info"], capture_output=True, check=False, timeout=30)
        if probe.returncode == 0:
            return engine
    return None


ENGINE = container_engine()
pytestmark = pytest.mark.skipif(ENGINE is None, reason="no docker or podman engine here")


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    assert ENGINE is not None
    tag = f"acmecf-test:{uuid.uuid4().hex[:8]}"
    built = subprocess.run(
        [ENGINE, "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=900
    )
    assert built.returncode == 0, built.stderr[-3000:]
    yield tag
    subprocess.run([ENGINE, "rmi", "-f", tag], capture_output=True, check=False)


def run(
    image: str, acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    assert ENGINE is not None
    config = acmecf.config_dir
    config.mkdir(parents=True, exist_ok=True)
    os.chown(config, IMAGE_UID, IMAGE_UID)
    config.chmod(0o700)
    secret = tmp_path / "cloudflare_api_token"
    secret.write_text(sandbox.client_environment()["CLOUDFLARE_API_TOKEN"])
    os.chown(secret, IMAGE_UID, IMAGE_UID)
    secret.chmod(0o400)
    bundle = sandbox.client_environment()["ACMECF_CA_BUNDLE"]
    variables = {
        k: v for k, v in sandbox.client_environment().items() if k != "CLOUDFLARE_API_TOKEN"
    }
    variables.update(env)
    command = [ENGINE, "run", "--rm", "--network", "host"]
    command += ["-v", f"{config}:/config", "-v", f"{secret}:/run/secrets/cloudflare_api_token:ro"]
    command += ["-v", f"{bundle}:{bundle}:ro"]
    for name, value in variables.items():
        command += ["-e", f"{name}={value}"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_the_image_issues_as_an_unprivileged_user_and_its_loop_renews(
    image: str, acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    issued = run(
        image,
        acmecf,
        sandbox,
        tmp_path,
        "--entrypoint",
        "acmecf",
        image,
        "issue",
        "--agree-tos",
        "-d",
        "box.example.com",
    )
    assert issued.returncode == 0, issued.stderr
    privkey = acmecf.live("box.example.com") / "privkey.pem"
    assert privkey.stat().st_uid == IMAGE_UID
    before = privkey.read_bytes()
    renewed = run(
        image,
        acmecf,
        sandbox,
        tmp_path,
        image,
        "--force",
        ACMECF_RENEW_INTERVAL="0",
        ACMECF_RANDOM_SLEEP="0",
    )
    assert renewed.returncode == 0, renewed.stderr
    assert "renewed box.example.com" in renewed.stdout
    assert privkey.read_bytes() != before
