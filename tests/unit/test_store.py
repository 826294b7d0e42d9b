from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from acmecf.errors import StoreError, UsageError
from acmecf.store import Store, check_cert_name, write_atomic


def _save(store: Store, tag: bytes) -> Path:
    return store.save_certificate(
        "example.com",
        cert=b"cert" + tag,
        chain=b"chain" + tag,
        fullchain=b"cert" + tag + b"chain" + tag,
        privkey=b"key" + tag,
    )


def test_live_files_are_written_with_private_key_0600_in_0700_directories(tmp_path: Path) -> None:
    store = Store(tmp_path / "config")
    store.prepare()
    _save(store, b"1")
    live = store.live("example.com")
    assert live.privkey.read_bytes() == b"key1"
    assert live.fullchain.read_bytes() == b"cert1chain1"
    assert stat.S_IMODE(live.privkey.stat().st_mode) == 0o600
    assert stat.S_IMODE(live.cert.stat().st_mode) == 0o644
    for directory in (tmp_path / "config", tmp_path / "config" / "live", live.directory.resolve()):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_new_version_switches_key_and_certificate_together_and_keeps_the_old(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    first = _save(store, b"1")
    second = _save(store, b"2")
    live = store.live("example.com")
    assert live.directory.is_symlink()
    assert live.directory.resolve() == second.resolve()
    assert (live.cert.read_bytes(), live.privkey.read_bytes()) == (b"cert2", b"key2")
    assert (first / "privkey.pem").read_bytes() == b"key1"


def test_a_failed_write_leaves_the_live_files_and_no_partial_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path)
    _save(store, b"1")
    real_replace = os.replace

    def disk_full(source: str, target: str) -> None:
        if str(target).endswith("fullchain.pem"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(StoreError, match=r"disk is full.*live certificate is unchanged"):
        _save(store, b"2")
    live = store.live("example.com")
    assert (live.cert.read_bytes(), live.privkey.read_bytes()) == (b"cert1", b"key1")
    versions = sorted(p.name for p in (tmp_path / "archive" / "example.com").iterdir())
    assert versions == ["0001"]


def test_atomic_write_leaves_no_temporary_file_and_sets_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    write_atomic(target, b"data", 0o600)
    write_atomic(target, b"data2", 0o600)
    assert target.read_bytes() == b"data2"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".", "*.example.com", "-x"])
def test_unsafe_certificate_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="invalid --cert-name"):
        check_cert_name(name)


def test_accounts_are_kept_per_server(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save_account_key("https://acme.example/dir", b"KEY")
    store.save_account_info("https://acme.example/dir", {"uri": "https://acme.example/acct/1"})
    assert store.load_account("https://acme.example/dir") == (
        b"KEY",
        {"uri": "https://acme.example/acct/1"},
    )
    assert store.load_account("https://other.example/dir") is None
    key_file = store.account_dir("https://acme.example/dir") / "key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_certificate_states_are_cached_and_a_changed_file_is_read_again(tmp_path: Path) -> None:
    import datetime

    from acmecf.renewal import CertificateConfig, CertificateState, StoredCertificate

    store = Store(tmp_path)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    for name in ("a.example.com", "b.example.com"):
        store.save_renewal(
            StoredCertificate(
                CertificateConfig(cert_name=name, names=(name,)),
                CertificateState(not_before=start, not_after=start + datetime.timedelta(days=90)),
            )
        )
    first = store.certificate_states()
    assert (tmp_path / "renewal" / ".state-cache.json").exists()
    assert store.certificate_states() == first
    later = start + datetime.timedelta(days=200)
    store.save_renewal(
        StoredCertificate(
            CertificateConfig(cert_name="a.example.com", names=("a.example.com",)),
            CertificateState(not_before=start, not_after=later),
        )
    )
    (tmp_path / "renewal" / "b.example.com.toml").unlink()
    states = store.certificate_states()
    assert list(states) == ["a.example.com"]
    assert states["a.example.com"].not_after == later


def test_a_corrupt_state_cache_is_ignored(tmp_path: Path) -> None:
    from acmecf.renewal import CertificateConfig, StoredCertificate

    store = Store(tmp_path)
    store.save_renewal(
        StoredCertificate(CertificateConfig(cert_name="a.example.com", names=("a.example.com",)))
    )
    (tmp_path / "renewal" / ".state-cache.json").write_text("{not json")
    assert list(store.certificate_states()) == ["a.example.com"]
