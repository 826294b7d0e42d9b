"""Prometheus textfile metrics: what is written, how labels are escaped, and how it is written."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import pytest

from acmecf.errors import StoreError
from acmecf.monitoring.metrics import escape_label, render_metrics, write_metrics
from acmecf.settings.table import CertificateSettings
from acmecf.storage.files import FileStore
from acmecf.storage.model import CertificateState, StoredCertificate

UTC = datetime.UTC
NOT_AFTER = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)  # 1893553445
ATTEMPT = datetime.datetime(2029, 11, 3, 0, 0, 0, tzinfo=UTC)  # 1888358400


def _certificate(
    name: str, names: tuple[str, ...], *, result: str | None = "ok", issued: bool = True
) -> StoredCertificate:
    state = CertificateState(
        not_before=NOT_AFTER - datetime.timedelta(days=90) if issued else None,
        not_after=NOT_AFTER if issued else None,
        last_attempt=ATTEMPT if result is not None else None,
        last_result=result,
    )
    return StoredCertificate(CertificateSettings(cert_name=name, names=names), state)


def test_each_certificate_gets_its_expiry_last_result_and_last_attempt() -> None:
    text = render_metrics(
        [
            _certificate("www.example.net", ("www.example.net",), result="Cloudflare said no"),
            _certificate("example.com", ("example.com", "*.example.com")),
        ]
    )
    assert text == (
        "# HELP acmecf_certificate_expiry_timestamp_seconds When the live certificate expires "
        "(notAfter), in seconds since the Unix epoch.\n"
        "# TYPE acmecf_certificate_expiry_timestamp_seconds gauge\n"
        'acmecf_certificate_expiry_timestamp_seconds{name="example.com",'
        'domains="example.com,*.example.com"} 1893553445\n'
        'acmecf_certificate_expiry_timestamp_seconds{name="www.example.net",'
        'domains="www.example.net"} 1893553445\n'
        "# HELP acmecf_certificate_last_renewal_success 1 if the last issuance or renewal "
        "attempt succeeded, 0 if it failed.\n"
        "# TYPE acmecf_certificate_last_renewal_success gauge\n"
        'acmecf_certificate_last_renewal_success{name="example.com"} 1\n'
        'acmecf_certificate_last_renewal_success{name="www.example.net"} 0\n'
        "# HELP acmecf_certificate_last_renewal_timestamp_seconds When the last issuance or "
        "renewal was attempted, in seconds since the Unix epoch.\n"
        "# TYPE acmecf_certificate_last_renewal_timestamp_seconds gauge\n"
        'acmecf_certificate_last_renewal_timestamp_seconds{name="example.com"} 1888358400\n'
        'acmecf_certificate_last_renewal_timestamp_seconds{name="www.example.net"} 1888358400\n'
    )


def test_a_certificate_never_renewed_by_acmecf_has_only_its_expiry() -> None:
    text = render_metrics(
        [_certificate("imported.example.com", ("imported.example.com",), result=None)]
    )
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples == [
        'acmecf_certificate_expiry_timestamp_seconds{name="imported.example.com",'
        'domains="imported.example.com"} 1893553445'
    ]


def test_a_certificate_never_issued_has_no_expiry() -> None:
    text = render_metrics(
        [_certificate("new.example.com", ("new.example.com",), result="failed", issued=False)]
    )
    assert "acmecf_certificate_expiry_timestamp_seconds{" not in text
    assert 'acmecf_certificate_last_renewal_success{name="new.example.com"} 0' in text


def test_no_certificates_still_gives_a_valid_file() -> None:
    text = render_metrics([])
    assert [line.split()[1] for line in text.splitlines()] == ["HELP", "TYPE"] * 3


def test_label_values_escape_backslash_quote_and_newline() -> None:
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    text = render_metrics([_certificate('odd"name', ("x\\y.example.com",))])
    assert (
        'acmecf_certificate_expiry_timestamp_seconds{name="odd\\"name",'
        'domains="x\\\\y.example.com"} 1893553445'
    ) in text


def _store(tmp_path: Path) -> FileStore:
    store = FileStore(tmp_path / "config")
    store.save(_certificate("example.com", ("example.com",)))
    return store


def test_write_metrics_replaces_the_file_readable_by_node_exporter_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    target = textfiles / "acmecf.prom"
    target.write_text("old\n")
    write_metrics(store, target)
    assert target.read_text() == render_metrics(store.load_all()[0])
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in textfiles.iterdir()) == ["acmecf.prom"]


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    target = textfiles / "acmecf.prom"
    target.write_text("previous\n")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", fail)
    with pytest.raises(StoreError, match="the disk is full"):
        write_metrics(store, target)
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in textfiles.iterdir()) == ["acmecf.prom"]


def test_a_missing_directory_is_reported_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"create it, or point at node_exporter"):
        write_metrics(_store(tmp_path), tmp_path / "missing" / "acmecf.prom")
