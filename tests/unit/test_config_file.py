"""The global configuration file: defaults for new certificates, sections for their owners."""

from __future__ import annotations

from pathlib import Path

import pytest

from acmecf.errors import StoredFileError, UnsafePathError
from acmecf.settings import config_file
from acmecf.storage.files import FileStore


def _write(tmp_path: Path, text: str, mode: int = 0o600) -> FileStore:
    store = FileStore(tmp_path / "config")
    store.prepare()
    path = tmp_path / "config" / "acmecf.toml"
    path.write_text(text)
    path.chmod(mode)
    return store


def test_no_file_means_no_defaults(tmp_path: Path) -> None:
    assert config_file.load(FileStore(tmp_path / "config")).defaults == {}


def test_defaults_are_parsed_by_the_settings_table(tmp_path: Path) -> None:
    store = _write(
        tmp_path,
        'version = 1\n[defaults]\nkey_type = "ecdsa-p384"\ndeploy_hooks = ["true"]\n'
        'propagation_timeout = "5m"\n[store]\nurl = "etcd://127.0.0.1:2379/acmecf"\n',
    )
    loaded = config_file.load(store)
    assert loaded.defaults == {
        "key_type": "ecdsa-p384",
        "deploy_hooks": ("true",),
        "propagation_timeout": 300.0,
    }
    assert loaded.section("store") == {"url": "etcd://127.0.0.1:2379/acmecf"}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[defaults]\nkey_type = "dsa"\n', "defaults.key_type"),
        ('[defaults]\nnames = ["a.example.com"]\n', "defaults.names"),
        ('[defaults]\ndeploy_hooks = "echo x"\n', "defaults.deploy_hooks"),
        ('[default]\nemail = "x"\n', "default"),
        ("version = 2\n", "version"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    store = _write(tmp_path, text)
    with pytest.raises(StoredFileError) as caught:
        config_file.load(store)
    assert caught.value.key == key
    assert "acmecf.toml" in str(caught.value)


def test_a_file_others_may_write_is_not_trusted(tmp_path: Path) -> None:
    store = _write(tmp_path, '[defaults]\nemail = "x@example.com"\n', mode=0o666)
    with pytest.raises(UnsafePathError, match="writable by group or others"):
        config_file.load(store)
