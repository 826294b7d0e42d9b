"""Many certificates in one run: correctness under concurrency and under Cloudflare's limits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acmecf.sandbox.testbed import Sandbox
from acmecf.settings.table import CertificateSettings
from acmecf.storage.files import FileStore
from acmecf.storage.model import StoredCertificate

from .conftest import Acmecf, challenge_records
from .test_issue import assert_valid_live_certificate


def add_certificates(acmecf: Acmecf, prefix: str, count: int) -> list[str]:
    """Issue one certificate (which registers the account), then store `count - 1` more
    certificates' settings, so that `renew --force` has `count` certificates to obtain."""
    first = f"{prefix}0.example.com"
    assert acmecf.issue(first, f"*.{first}").code == 0
    names = [first]
    for index in range(1, count):
        name = f"{prefix}{index}.example.{'com' if index % 2 else 'net'}"
        settings = StoredCertificate(CertificateSettings(cert_name=name, names=(name, f"*.{name}")))
        FileStore(acmecf.config_dir).save(settings)
        names.append(name)
    return names


def renewed(stdout: str) -> list[str]:
    """The certificate names of `renewed NAME: valid until ...` lines."""
    return sorted(line.split()[1].rstrip(":") for line in stdout.splitlines())


def public_key(live: Path) -> bytes:
    certificate = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@contextlib.contextmanager
def api_rate_limit(sandbox: Sandbox, limit: int, window: float) -> Iterator[None]:
    """Shrink the emulator's real per-token limit (1200 per 300 s) for one block."""
    saved = sandbox.emulator.rate_limit
    sandbox.emulator.set_rate_limit(limit, window)
    try:
        yield
    finally:
        sandbox.emulator.set_rate_limit(*saved)


def test_twenty_certificates_in_one_run(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    names = add_certificates(acmecf, "many", 20)
    sandbox.emulator.set_nameserver_delay(2, 0.5)

    result = acmecf("renew", "--force", timeout=300)

    assert result.code == 0, result.output
    assert renewed(result.stdout) == sorted(names)
    keys = set()
    for name in names:
        live = acmecf.live(name)
        assert_valid_live_certificate(live, [name, f"*.{name}"], pebble_root)
        version = live.resolve()
        assert version.parent == acmecf.config_dir / "archive" / name, "its own directory"
        keys.add(public_key(live))
    assert len(keys) == 20, "each certificate has its own key"
    assert challenge_records(sandbox) == []
    # Lines of parallel work name their certificate.
    assert any(line.startswith(f"{names[5]}: ") for line in result.stderr.splitlines())


def test_a_429_storm_is_waited_out_within_the_budget(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    names = add_certificates(acmecf, "storm", 12)
    sandbox.emulator.clear_logs()
    with api_rate_limit(sandbox, 40, 10.0):
        sandbox.emulator.inject_rate_limit(6, retry_after=1)
        result = acmecf("renew", "--force", timeout=300, ACMECF_CLOUDFLARE_BUDGET="40/10")

    assert result.code == 0, result.output
    for name in names:
        assert_valid_live_certificate(acmecf.live(name), [name, f"*.{name}"], pebble_root)
    statuses = [r.status for r in sandbox.emulator.requests]
    assert statuses.count(429) == 6, "only the injected 429s: the budget kept us under the limit"
    assert "Traceback" not in result.output
    assert challenge_records(sandbox) == []


def test_one_worker_gives_the_same_results_as_the_default(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    names = add_certificates(acmecf, "serial", 4)
    sequential = acmecf("renew", "--force", "--parallel", "1")
    parallel = acmecf("renew", "--force")
    assert (sequential.code, parallel.code) == (0, 0), sequential.output + parallel.output
    assert renewed(sequential.stdout) == renewed(parallel.stdout) == sorted(names)
    for name in names:
        assert_valid_live_certificate(acmecf.live(name), [name, f"*.{name}"], pebble_root)
        versions = sorted(p.name for p in (acmecf.config_dir / "archive" / name).iterdir())
        assert len(versions) >= 2
    assert challenge_records(sandbox) == []


def test_issue_batch_issues_every_certificate_of_the_file(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path, tmp_path: Path
) -> None:
    batch = tmp_path / "certificates.txt"
    batch.write_text(
        "# one certificate per line\n"
        "b1.example.com *.b1.example.com\n"
        "shop: shop.example.net www.shop.example.net\n"
        "\n"
        "b3.example.com   # a comment after the names\n"
    )
    result = acmecf("issue", "--agree-tos", "--batch", str(batch), timeout=300)
    assert result.code == 0, result.output
    assert sorted(line.split()[1].rstrip(":") for line in result.stdout.splitlines()) == [
        "b1.example.com",
        "b3.example.com",
        "shop",
    ]
    assert_valid_live_certificate(
        acmecf.live("b1.example.com"), ["b1.example.com", "*.b1.example.com"], pebble_root
    )
    assert_valid_live_certificate(
        acmecf.live("shop"), ["shop.example.net", "www.shop.example.net"], pebble_root
    )
    assert_valid_live_certificate(acmecf.live("b3.example.com"), ["b3.example.com"], pebble_root)
    assert challenge_records(sandbox) == []


def test_a_bad_batch_line_is_named_before_anything_is_done(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    batch = tmp_path / "certificates.txt"
    batch.write_text("ok.example.com\nbad..example.com\n")
    result = acmecf("issue", "--agree-tos", "--batch", str(batch))
    assert result.code == 2
    assert f"{batch} line 2: invalid name 'bad..example.com'" in result.stderr
    assert sandbox.emulator.requests == []
    assert not (acmecf.config_dir / "live").exists()
