"""The small TOML files acmecf keeps: reading one with its format version checked, and writing
one (tomllib only reads).

Does not: open files, or write TOML beyond what acmecf's own files need (strings, booleans,
numbers, datetimes, arrays of those, one level of tables).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from typing import Any


def loads(path: str, data: bytes, version: int) -> dict[str, Any]:
    """The document in `data` (the file `path`), whose top-level `version` (default: this
    one) must be `version`. Raises StoredFileError naming the file and the problem."""
    import tomllib

    from acmecf.errors import StoredFileError

    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise StoredFileError(path, None, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise StoredFileError(path, None, f"is not valid TOML ({err})") from None
    found = document.get("version", version)
    if found != version:
        raise StoredFileError(
            path, "version", f"format {found!r} is not one this acmecf reads: upgrade acmecf"
        )
    return document


def dumps(
    header: Iterable[str], top: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]]
) -> str:
    """TOML text: comment lines, then the top-level keys, then each table in order."""
    lines = [f"# {line}" if line else "#" for line in header]
    lines += [f"{key} = {value_text(value)}" for key, value in top.items()]
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [
            f"{key} = {value_text(value)}" for key, value in table.items() if value is not None
        ]
    return "\n".join(lines) + "\n"


def value_text(value: object) -> str:
    """One TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, Iterable):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
