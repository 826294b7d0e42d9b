"""The configuration directory as a trust boundary: links, foreign files and modes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from acmecf.errors import StoreError, UnsafePathError
from acmecf.storage.files import FileStore
from acmecf.storage.model import CertificateMaterial
from acmecf.storage.safe import SafeDir

MATERIAL = CertificateMaterial(privkey=b"key", cert=b"cert", chain=b"chain")


@pytest.mark.parametrize("planted", ["live", "archive", "renewal", "locks", "journal"])
def test_a_symlinked_internal_directory_is_refused_and_nothing_is_written_outside(
    tmp_path: Path, planted: str
) -> None:
    config, outside = tmp_path / "config", tmp_path / "outside"
    config.mkdir(mode=0o700)
    outside.mkdir(mode=0o755)
    (config / planted).symlink_to(outside)
    store = FileStore(config)
    with pytest.raises(UnsafePathError, match=rf"{planted} is a symbolic link"):  # noqa: SIM117
        with store.lock("example.com"):
            store.publish("example.com", MATERIAL)
            from acmecf.settings.table import CertificateSettings
            from acmecf.storage.model import StoredCertificate

            store.save(StoredCertificate(CertificateSettings("example.com", ("example.com",))))
            run = store.journal.open_run()
            from acmecf.storage.model import JournalEntry

            run.record(JournalEntry("z", "example.com", "_acme-challenge.example.com", "v"))
    assert list(outside.iterdir()) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755, "never chmod outside"


def test_a_symlinked_version_directory_is_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "config")
    store.publish("example.com", MATERIAL)
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "config" / "archive"
    (archive / "example.com").rename(tmp_path / "moved")
    (archive / "example.com").symlink_to(outside)
    with pytest.raises(UnsafePathError, match=r"example\.com is a symbolic link"):
        store.publish("example.com", MATERIAL)
    assert list(outside.iterdir()) == []


def test_a_planted_lock_link_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    store = FileStore(config)
    store.prepare()
    (config / "locks").mkdir(mode=0o700)
    target = tmp_path / "target"
    (config / "locks" / "example.com.lock").symlink_to(target)
    with pytest.raises(UnsafePathError, match="symbolic link"), store.lock("example.com"):
        pass
    assert not target.exists()


def test_a_live_link_that_points_outside_the_archive_is_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "config")
    store.publish("example.com", MATERIAL)
    link = tmp_path / "config" / "live" / "example.com"
    link.unlink()
    link.symlink_to("/etc")
    with pytest.raises(UnsafePathError, match="outside acmecf's archive"):
        store.live("example.com")


def test_a_file_where_the_live_link_belongs_is_not_replaced(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "config")
    (tmp_path / "config" / "live").mkdir(parents=True, mode=0o700)
    (tmp_path / "config" / "live" / "example.com").mkdir()
    with pytest.raises(StoreError, match=r"not an acmecf link.*live certificate is unchanged"):
        store.publish("example.com", MATERIAL)


def test_a_world_writable_config_dir_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    config.chmod(0o777)
    with pytest.raises(UnsafePathError, match="writable by group or others"):
        FileStore(config).prepare()


def test_a_config_dir_0755_is_tightened_to_0700(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    config.chmod(0o755)
    FileStore(config).prepare()
    assert stat.S_IMODE(config.stat().st_mode) == 0o700


def test_a_file_others_may_write_is_not_read(tmp_path: Path) -> None:
    directory = SafeDir.open_root(tmp_path / "config")
    (tmp_path / "config" / "planted").write_text("x")
    (tmp_path / "config" / "planted").chmod(0o666)
    with pytest.raises(UnsafePathError, match="writable by group or others"):
        directory.read_bytes("planted")
    directory.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_file_another_user_owns_is_not_read(tmp_path: Path) -> None:
    directory = SafeDir.open_root(tmp_path / "config")
    planted = tmp_path / "config" / "planted"
    planted.write_text("x")
    planted.chmod(0o600)
    os.chown(planted, 65534, 65534)
    with pytest.raises(UnsafePathError, match="owned by uid 65534"):
        directory.read_bytes("planted")
    directory.close()


def test_hook_files_that_cannot_be_trusted_are_named_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "config"
    store = FileStore(config)
    hooks = config / "hooks" / "deploy"
    hooks.mkdir(parents=True, mode=0o700)
    (config / "hooks").chmod(0o700)
    good = hooks / "10-good"
    good.write_text("#!/bin/sh\n")
    good.chmod(0o700)
    writable = hooks / "20-writable"
    writable.write_text("#!/bin/sh\n")
    writable.chmod(0o777)
    plain = hooks / "30-not-executable"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o600)
    (hooks / "40-link").symlink_to(good)
    problems = {f.path.name: f.problem for f in store.deploy_hook_files()}
    assert problems["10-good"] is None
    assert "writable by group or others" in (problems["20-writable"] or "")
    assert "not executable" in (problems["30-not-executable"] or "")
    assert "symbolic link" in (problems["40-link"] or "")
