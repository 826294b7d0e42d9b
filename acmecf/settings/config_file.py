"""The global configuration file, `<config-dir>/acmecf.toml`: defaults for every certificate,
and the sections other capabilities own (`[store]` for a shared store, read by settings.store;
`[run]` for how runs go).

    version = 1

    [defaults]            # any certificate setting of the settings table, by its name
    email = "ops@example.com"
    key_type = "ecdsa-p384"
    deploy_hooks = ["systemctl reload nginx"]

[defaults] are what a new certificate starts with, and are stored with it; to change a stored
certificate, `acmecf issue --cert-name NAME` with the options to change. Precedence, highest
first: command-line flags > ACMECF_* environment variables > the settings stored with a
certificate > [defaults] here > acmecf's built-in defaults. The file is trusted
like everything in the configuration directory: owned by the user running acmecf (or root),
not writable by group or others, never reached through a link. A missing file is no error.

Does not: write the file (users do), or interpret sections other than [defaults] (their
owners do, through `section`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acmecf.errors import SettingError, StoredFileError
from acmecf.settings.table import BY_NAME

FILE_NAME = "acmecf.toml"
FORMAT_VERSION = 1
SECTIONS = ("defaults", "run", "store")


@dataclass(frozen=True)
class GlobalConfig:
    """What the global file says: `defaults` (setting name -> parsed value) and the raw tables
    of the other sections, for their owners to check."""

    path: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        """The table `[name]` (empty when absent)."""
        return self.sections.get(name, {})


def parse(path: str, data: bytes) -> GlobalConfig:
    """The GlobalConfig of the file at `path` holding `data`. Raises StoredFileError naming the
    file, the key and the problem."""
    from acmecf.storage.toml_text import loads

    document = loads(path, data, FORMAT_VERSION)
    for key, value in document.items():
        if key == "version":
            continue
        if key not in SECTIONS:
            raise StoredFileError(
                path, key, f"is not a section acmecf knows ({', '.join(SECTIONS)})"
            )
        if not isinstance(value, Mapping):
            raise StoredFileError(path, key, "must be a table")
    defaults: dict[str, Any] = {}
    for key, value in document.get("defaults", {}).items():
        setting = BY_NAME.get(key)
        if setting is None or setting.name in ("names",):
            raise StoredFileError(path, f"defaults.{key}", "is not a setting a default can give")
        try:
            defaults[key] = setting.kind.parse(value)
        except (ValueError, SettingError) as err:
            raise StoredFileError(path, f"defaults.{key}", str(err)) from None
    sections = {name: dict(document.get(name, {})) for name in SECTIONS if name != "defaults"}
    return GlobalConfig(path, defaults, sections)


def load(store: Any) -> GlobalConfig:
    """The global file of a FileStore's configuration directory (an empty GlobalConfig when
    there is none), read without following links."""
    path = str(store.config_dir / FILE_NAME)
    if not store.config_dir.is_dir():
        return GlobalConfig(path)
    with store.directory() as root:
        data = root.read_bytes(FILE_NAME) if root is not None else None
    return GlobalConfig(path) if data is None else parse(path, data)
