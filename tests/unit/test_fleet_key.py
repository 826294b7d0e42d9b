"""The fleet key: its file formats, its file's safety, and what sealing promises."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from acmecf.errors import FleetKeyError, StoreError
from acmecf.storage.fleet_key import FleetKey, parse_key, read_key_file

SECRET = bytes(range(32))


def write_key(tmp_path: Path, data: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "store.key"
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "data",
    [SECRET, base64.b64encode(SECRET), base64.b64encode(SECRET) + b"\n"],
    ids=["raw bytes", "base64", "base64 with a line break"],
)
def test_a_key_file_holds_32_bytes_raw_or_as_base64(tmp_path: Path, data: bytes) -> None:
    assert read_key_file(write_key(tmp_path, data)).secret == SECRET


@pytest.mark.parametrize("data", [b"", b"short", os.urandom(31), os.urandom(64), b"a" * 44])
def test_anything_else_is_one_line_saying_how_to_make_a_key(data: bytes) -> None:
    with pytest.raises(FleetKeyError, match="head -c 32 /dev/urandom") as caught:
        parse_key(data, "fleet key file /etc/acmecf/store.key")
    assert "\n" not in str(caught.value) and "/etc/acmecf/store.key" in str(caught.value)


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FleetKeyError, match="chmod 600"):
        read_key_file(write_key(tmp_path, SECRET, 0o644))


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FleetKeyError, match=r"missing\.key"):
        read_key_file(tmp_path / "missing.key")


def test_a_sealed_key_opens_at_its_place_only() -> None:
    key = FleetKey(SECRET, "test")
    blob = key.encrypt(b"-----BEGIN PRIVATE KEY-----", "versions/a/0001/privkey")
    assert b"PRIVATE" not in repr(blob).encode()
    assert key.decrypt(blob, "versions/a/0001/privkey", where="here") == (
        b"-----BEGIN PRIVATE KEY-----"
    )
    with pytest.raises(StoreError, match="another place"):
        key.decrypt(blob, "versions/b/0001/privkey", where="etcd://x/versions/b/0001")


def test_two_seals_of_the_same_key_differ() -> None:
    key = FleetKey(SECRET, "test")
    assert key.encrypt(b"k", "p") != key.encrypt(b"k", "p")


def test_a_wrong_key_is_told_apart_from_damage() -> None:
    blob = FleetKey(SECRET, "test").encrypt(b"k", "p")
    other = FleetKey(bytes(32), "fleet key file /tmp/other.key")
    with pytest.raises(FleetKeyError, match=r"/tmp/other\.key") as caught:
        other.decrypt(blob, "p", where="etcd://x/p")
    assert "same key file on every origin" in str(caught.value)
    damaged = dict(blob, data=base64.b64encode(b"x" * 40).decode())
    with pytest.raises(StoreError, match="damaged"):
        FleetKey(SECRET, "test").decrypt(damaged, "p", where="etcd://x/p")


def test_the_key_id_is_stable_and_reveals_nothing_of_the_key() -> None:
    key = FleetKey(SECRET, "test")
    assert key.key_id == FleetKey(SECRET, "elsewhere").key_id
    assert len(key.key_id) == 16 and SECRET.hex()[:16] != key.key_id
    assert "secret" not in repr(key)
