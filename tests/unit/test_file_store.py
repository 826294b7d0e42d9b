"""FileStore: certificate versions, stored settings and state, accounts, locks."""

from __future__ import annotations

import datetime
import errno
import os
import stat
import threading
from pathlib import Path

import pytest

from acmecf.errors import (
    CertificateNotFoundError,
    LockedError,
    StoredFileError,
    StoreError,
    UsageError,
)
from acmecf.names import check_cert_name
from acmecf.settings.table import CertificateSettings
from acmecf.storage.files import FileStore
from acmecf.storage.model import CertificateMaterial, CertificateState, StoredCertificate
from acmecf.storage.safe import write_file_atomic

UTC = datetime.UTC
ISSUED = datetime.datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = ISSUED + datetime.timedelta(days=90)


def _material(tag: bytes) -> CertificateMaterial:
    return CertificateMaterial(privkey=b"key" + tag, cert=b"cert" + tag, chain=b"chain" + tag)


def _stored(name: str = "example.com", **state: object) -> StoredCertificate:
    return StoredCertificate(
        CertificateSettings(cert_name=name, names=(name,)),
        CertificateState(**state),  # type: ignore[arg-type]
    )


def test_live_files_are_written_with_private_key_0600_in_0700_directories(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "config")
    store.publish("example.com", _material(b"1"))
    live = store.live_paths("example.com")
    assert live.privkey.read_bytes() == b"key1"
    assert live.fullchain.read_bytes() == b"cert1chain1"
    assert stat.S_IMODE(live.privkey.stat().st_mode) == 0o600
    assert stat.S_IMODE(live.cert.stat().st_mode) == 0o644
    config = tmp_path / "config"
    for directory in (config, config / "live", config / "archive", live.directory.resolve()):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_directories_are_0700_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        store = FileStore(tmp_path / "config")
        store.publish("example.com", _material(b"1"))
        store.save_account_key("https://acme.example/dir", b"KEY")
    finally:
        os.umask(previous)
    for directory in (tmp_path / "config").rglob("*"):
        if directory.is_dir() and not directory.is_symlink():
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_a_new_version_switches_key_and_certificate_together_and_keeps_the_old(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path)
    first = store.publish("example.com", _material(b"1"))
    second = store.publish("example.com", _material(b"2"))
    assert (first, second) == ("0001", "0002")
    live = store.live("example.com")
    assert live is not None and live.version == "0002"
    assert (live.material.cert, live.material.privkey) == (b"cert2", b"key2")
    assert store.live_paths("example.com").directory.is_symlink()
    assert (tmp_path / "archive/example.com/0001/privkey.pem").read_bytes() == b"key1"


def test_a_failed_write_leaves_the_live_files_and_no_partial_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    store.publish("example.com", _material(b"1"))
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        if data == b"cert2chain2":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(StoreError, match=r"disk is full.*live certificate is unchanged"):
        store.publish("example.com", _material(b"2"))
    live = store.live("example.com")
    assert live is not None and (live.material.cert, live.material.privkey) == (b"cert1", b"key1")
    assert sorted(p.name for p in (tmp_path / "archive" / "example.com").iterdir()) == ["0001"]


def test_a_partial_version_a_killed_run_left_is_removed_by_the_next_publish(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path)
    store.publish("example.com", _material(b"1"))
    partial = tmp_path / "archive/example.com/.0002.partial-deadbeef"
    partial.mkdir(mode=0o700)
    (partial / "privkey.pem").write_bytes(b"half")
    assert store.publish("example.com", _material(b"2")) == "0002"
    assert not partial.exists()


def test_file_atomic_write_leaves_no_temporary_file_and_sets_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    write_file_atomic(target, b"data", 0o600)
    write_file_atomic(target, b"data2", 0o600)
    assert target.read_bytes() == b"data2"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


@pytest.mark.parametrize(
    "name", ["../etc", "a/b", "", ".", "*.example.com", "-x", "x\n", "x\ty", ".hidden", "a b"]
)
def test_unsafe_certificate_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="invalid --cert-name"):
        check_cert_name(name)


def test_accounts_are_kept_per_server(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save_account_key("https://acme.example/dir", b"KEY")
    store.save_account_info("https://acme.example/dir", {"uri": "https://acme.example/acct/1"})
    account = store.load_account("https://acme.example/dir")
    assert account is not None
    assert (account.key_pem, dict(account.info)) == (b"KEY", {"uri": "https://acme.example/acct/1"})
    assert store.load_account("https://other.example/dir") is None
    key_file = store.account_dir("https://acme.example/dir") / "key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_settings_and_state_survive_a_round_trip(tmp_path: Path) -> None:
    stored = StoredCertificate(
        CertificateSettings(
            cert_name="example.com",
            names=("example.com", "*.example.com"),
            key_type="rsa-2048",
            server="https://acme.example/dir",
            email="ops@example.com",
            credentials_file="/etc/acmecf/cloudflare.ini",
            zone_id="023e105f4ecef8ad9ca31a8372d0c353",
            dns_resolvers=("127.0.0.1:5353",),
            nameserver_port=5353,
            propagation_timeout=90.0,
            deploy_hooks=("systemctl reload nginx", 'echo "quoted \\\\ text"'),
        ),
        CertificateState(
            not_before=ISSUED,
            not_after=EXPIRES,
            ari_id="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
            renewal_info_url="https://acme.example/renewal-info",
            ari_renew_at=ISSUED + datetime.timedelta(days=70),
            ari_next_check=ISSUED + datetime.timedelta(days=11),
            last_attempt=ISSUED + datetime.timedelta(days=10),
            last_result='failed: "quotes" and\nnewlines',
            last_success=ISSUED + datetime.timedelta(days=9),
            version="0003",
            deployed_version="0002",
        ),
    )
    store = FileStore(tmp_path)
    store.save(stored)
    assert store.load("example.com") == stored


def test_a_missing_certificate_says_so(tmp_path: Path) -> None:
    with pytest.raises(CertificateNotFoundError, match=r"no certificate named 'x\.example\.com'"):
        FileStore(tmp_path).load("x.example.com")


def _write_settings(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "renewal").mkdir(mode=0o700, exist_ok=True)
    path = tmp_path / "renewal" / f"{name}.toml"
    path.write_text(text)
    path.chmod(0o600)


NAMES = '[certificate]\nnames = ["a.example.com"]\n'
BROKEN_FILES = [
    ("[certificate\nnames = ", None, "is not valid TOML"),
    ('[certificate]\nnames = "a.example.com"\n', "certificate.names", "must be a list"),
    (NAMES + '[hooks]\ndeploy = "echo x"\n', "hooks.deploy", "must be a list"),
    ('[certificate]\nnames = ["a..b"]\n', "certificate.names", "invalid name"),
    (NAMES + 'server = "http://x"\n', "certificate.server", "https"),
    (NAMES + 'key_type = "dsa"\n', "certificate.key_type", "not one of"),
    (NAMES + 'reuse_key = "yes"\n', "certificate.reuse_key", "true or false"),
    (NAMES + 'servre = "x"\n', "certificate.servre", "not a setting"),
    (NAMES + '[state]\nnot_after = "soon"\n', "state.not_after", "not a date"),
    ("version = 9\n" + NAMES, "version", "upgrade acmecf"),
    (NAMES + "nameserver_port = 70000\n", "certificate.nameserver_port", "port"),
    (NAMES + "propagation_timeout = -1\n", "certificate.propagation_timeout", "more than zero"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BROKEN_FILES)
def test_a_stored_file_that_breaks_its_schema_is_named_with_the_key(
    tmp_path: Path, text: str, key: str | None, problem: str
) -> None:
    _write_settings(tmp_path, "a.example.com", text)
    with pytest.raises(StoredFileError) as caught:
        FileStore(tmp_path).load("a.example.com")
    message = str(caught.value)
    assert str(tmp_path / "renewal" / "a.example.com.toml") in message
    assert caught.value.key == key
    assert problem in message
    assert "\n" not in message


def test_a_broken_file_affects_only_its_certificate(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save(_stored("good.example.com", not_before=ISSUED, not_after=EXPIRES))
    _write_settings(tmp_path, "bad.example.com", '[certificate]\nnames = "bad.example.com"\n')
    certificates, broken = store.load_all()
    assert [c.name for c in certificates] == ["good.example.com"]
    assert [b.name for b in broken] == ["bad.example.com"]
    states = store.states()
    assert isinstance(states["good.example.com"], CertificateState)
    assert "must be a list" in getattr(states["bad.example.com"], "error", "")


def test_the_issuer_is_remembered_and_defaults_to_acme(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    origin_ca = StoredCertificate(
        CertificateSettings(
            cert_name="example.com", names=("example.com",), issuer="cloudflare-origin-ca"
        )
    )
    store.save(origin_ca)
    path = tmp_path / "renewal" / "example.com.toml"
    assert 'issuer = "cloudflare-origin-ca"' in path.read_text()
    assert store.load("example.com").settings.issuer == "cloudflare-origin-ca"
    older = "\n".join(
        line for line in path.read_text().splitlines() if not line.startswith("issuer")
    )
    path.write_text(older + "\n")
    assert store.load("example.com").settings.issuer == "acme", "files written before stay ACME"


def test_certificate_states_are_cached_and_a_changed_file_is_read_again(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    for name in ("a.example.com", "b.example.com"):
        store.save(_stored(name, not_before=ISSUED, not_after=EXPIRES))
    first = store.states()
    assert (tmp_path / "renewal" / ".state-cache.json").exists()
    assert store.states() == first
    later = ISSUED + datetime.timedelta(days=200)
    store.save(_stored("a.example.com", not_before=ISSUED, not_after=later))
    (tmp_path / "renewal" / "b.example.com.toml").unlink()
    states = store.states()
    assert list(states) == ["a.example.com"]
    assert getattr(states["a.example.com"], "not_after", None) == later


def test_a_corrupt_state_cache_is_ignored(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save(_stored("a.example.com"))
    (tmp_path / "renewal" / ".state-cache.json").write_text("{not json")
    assert list(store.states()) == ["a.example.com"]


def test_a_lock_is_held_by_one_holder_and_names_it(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.lock("example.com"):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        locked = rf"pid {os.getpid()}\) is working on example\.com"
        with pytest.raises(LockedError, match=locked), store.lock("example.com", wait=0.1):
            pass
        with store.lock("other.example.com", wait=0.1):
            pass  # another certificate's lock is free
    finally:
        release.set()
        holder.join()
    with store.lock("example.com", wait=0.1):
        pass


def test_delete_removes_every_trace(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save(_stored())
    store.publish("example.com", _material(b"1"))
    store.delete("example.com")
    assert store.names() == []
    assert store.live("example.com") is None
    assert not (tmp_path / "archive" / "example.com").exists()
