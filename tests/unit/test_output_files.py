"""FileStore's extra files and modes (combined.pem, cert.p12, a key group) and pruning."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from acmecf.storage.files import FileStore
from acmecf.storage.model import CertificateMaterial, OutputFiles


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _material(tag: bytes) -> CertificateMaterial:
    return CertificateMaterial(privkey=b"key" + tag, cert=b"cert" + tag, chain=b"chain" + tag)


def test_combined_and_pkcs12_are_written_in_the_version_with_the_key_s_mode(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "config")
    store.publish("example.com", _material(b"1"), OutputFiles(combined=True, pkcs12=b"p12"))
    live = store.live_paths("example.com")
    assert live.combined.read_bytes() == b"key1cert1chain1"
    assert live.pkcs12.read_bytes() == b"p12"
    assert _mode(live.combined) == _mode(live.pkcs12) == 0o600
    store.publish("example.com", _material(b"2"))
    assert not live.combined.exists(), "a version holds only what was asked for it"


def test_a_key_group_gets_0640_keys_0750_directories_and_0711_on_the_way(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "config")
    gid = os.getgid()  # a group this process may give files to
    store.publish("example.com", _material(b"1"), OutputFiles(combined=True, key_gid=gid))
    config = tmp_path / "config"
    live = store.live_paths("example.com")
    for key_file in (live.privkey, live.combined):
        assert (_mode(key_file), key_file.stat().st_gid) == (0o640, gid)
    assert _mode(config / "archive" / "example.com") == 0o750
    assert _mode(live.directory.resolve()) == 0o750
    assert [_mode(d) for d in (config, config / "live", config / "archive")] == [0o711] * 3
    # Other uses of the store keep those modes, and other directories stay 0700.
    store.publish("other.example.com", _material(b"x"))
    store.live("example.com")
    store.save_account_key("https://ca.test/dir", b"account key")
    assert _mode(config) == 0o711 and _mode(config / "archive" / "example.com") == 0o750
    assert _mode(config / "archive" / "other.example.com") == 0o700
    assert _mode(config / "accounts") == 0o700


def test_dropping_the_key_group_makes_the_certificate_s_directories_private_again(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "config")
    store.publish("example.com", _material(b"1"), OutputFiles(key_gid=os.getgid()))
    store.publish("example.com", _material(b"2"))
    config = tmp_path / "config"
    assert _mode(config / "archive" / "example.com") == 0o700
    assert _mode(store.live_paths("example.com").privkey) == 0o600


def test_a_config_dir_opened_up_by_hand_is_still_tightened(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir(mode=0o755)
    config.chmod(0o755)
    FileStore(config).prepare()
    assert _mode(config) == 0o700, "only acmecf's own 0711 is accepted"


def test_pruning_keeps_the_newest_versions_and_never_the_live_one_goes(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "config")
    for tag in (b"1", b"2", b"3", b"4"):
        store.publish("example.com", _material(tag))
    assert store.prune("example.com", 2) == ["0001", "0002"]
    archive = tmp_path / "config" / "archive" / "example.com"
    assert sorted(p.name for p in archive.iterdir()) == ["0003", "0004"]
    assert store.live("example.com") is not None
    assert store.prune("example.com", 2) == [], "idempotent"
    assert store.prune("example.com", 0) == [], "0 keeps every version"
    # The live version survives even when it is not among the newest (a link set by hand).
    (tmp_path / "config" / "live" / "example.com").unlink()
    (tmp_path / "config" / "live" / "example.com").symlink_to("../archive/example.com/0003")
    store.publish("example.com", _material(b"5"))
    (tmp_path / "config" / "live" / "example.com").unlink()
    (tmp_path / "config" / "live" / "example.com").symlink_to("../archive/example.com/0003")
    assert store.prune("example.com", 1) == ["0004"]
    assert sorted(p.name for p in archive.iterdir()) == ["0003", "0005"]
