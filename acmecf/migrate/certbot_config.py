"""certbot's renewal configuration files (`<certbot>/renewal/<name>.conf`): the configobj
subset certbot writes, read into a RenewalConfiguration (top-level keys and sections, values
unquoted).

Does not: interpret what the values mean for acmecf (migrate.certbot does), or write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from acmecf.errors import CertbotImportError

DISABLED_MARK = (
    "# acmecf renews this certificate now (acmecf import-certbot); "
    "remove the next line to give it back to certbot"
)

Value = str | tuple[str, ...]


@dataclass(frozen=True)
class RenewalConfiguration:
    """One `renewal/<name>.conf`: its top-level keys and its sections, values unquoted."""

    path: Path
    top: Mapping[str, Value]
    sections: Mapping[str, Mapping[str, Value]]

    @property
    def lineage(self) -> str:
        return self.path.name.removesuffix(".conf")

    @property
    def params(self) -> Mapping[str, Value]:
        return self.sections.get("renewalparams", {})

    def text(self, key: str, default: str | None = None) -> str | None:
        """A [renewalparams] value as one string; raises CertbotImportError for a list."""
        value = self.params.get(key, default)
        if isinstance(value, tuple):
            raise CertbotImportError(
                f"{self.path}: {key} holds a list ({', '.join(value)}), expected one value; "
                "fix the file"
            )
        return None if value in (None, "None") else value

    def flag(self, key: str) -> bool | None:
        """A [renewalparams] boolean as configobj's as_bool reads it; None when absent."""
        value = self.text(key)
        if value is None:
            return None
        return value.strip().lower() in ("true", "yes", "on", "1")


# configobj 5's own expressions (ConfigObj._keyword, _sectionmarker, _valueexp, _listvalueexp),
# so values with quotes, commas and comments read exactly as certbot reads them.
_KEYWORD = re.compile(r"""^\s*((?:".*?")|(?:'.*?')|(?:[^'"=].*?))\s*=\s*(.*)$""")
_SECTION = re.compile(
    r"""^\s*((?:\[\s*)+)((?:"\s*\S.*?\s*")|(?:'\s*\S.*?\s*')|(?:[^'"\s].*?))((?:\s*\])+)\s*(\#.*)?$"""
)
_VALUE = re.compile(
    r"""^(?:(?:((?:(?:(?:".*?")|(?:'.*?')|(?:[^'",\#][^,\#]*?))\s*,\s*)*)"""
    r"""((?:".*?")|(?:'.*?')|(?:[^'",\#\s][^,]*?)|(?:(?<!,)))?)|(,))\s*(\#.*)?$"""
)
_LIST_ITEM = re.compile(r"""((?:".*?")|(?:'.*?')|(?:[^'",\#]?.*?))\s*,\s*""")


def read_renewal_configuration(path: Path) -> RenewalConfiguration:
    """Parse a certbot renewal configuration (the configobj subset certbot writes).

    Nested sections (`[[webroot_map]]`) are skipped. Raises CertbotImportError naming the file
    and line when it cannot be read or parsed.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CertbotImportError(f"cannot read {path}: {reason_text(err)}") from err
    top: dict[str, Value] = {}
    sections: dict[str, dict[str, Value]] = {}
    current: dict[str, Value] | None = top
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        section = _SECTION.match(line)
        if section:
            depth = section.group(1).count("[")
            if depth == 1:
                current = sections.setdefault(_unquote(section.group(2).strip()), {})
            else:
                current = None  # a subsection: nothing acmecf needs
            continue
        keyword = _KEYWORD.match(line)
        if keyword is None:
            raise CertbotImportError(f"{path} line {number}: expected `key = value`; fix the file")
        key, raw = _unquote(keyword.group(1).strip()), keyword.group(2)
        value: Value
        if raw[:3] in ("'''", '"""'):
            value, index = _triple_quoted(raw, lines, index, path, number)
        else:
            value = _parse_value(raw, path, number)
        if current is not None:
            current[key] = value
    return RenewalConfiguration(path, top, sections)


def _parse_value(raw: str, path: Path, number: int) -> Value:
    match = _VALUE.match(raw)
    if match is None:
        raise CertbotImportError(f"{path} line {number}: badly quoted value; fix the file")
    items, single, empty_list, _comment = match.groups()
    if empty_list is not None:
        return ()
    if not items:
        return _unquote(single or '""')
    values = [_unquote(item) for item in _LIST_ITEM.findall(items)]
    if single:
        values.append(_unquote(single))
    return tuple(values)


def _triple_quoted(
    raw: str, lines: list[str], index: int, path: Path, number: int
) -> tuple[str, int]:
    quote, rest = raw[:3], raw[3:]
    end = rest.find(quote)
    if end >= 0:
        return rest[:end], index
    parts = [rest]
    while index < len(lines):
        line = lines[index]
        index += 1
        end = line.find(quote)
        if end >= 0:
            parts.append(line[:end])
            return "\n".join(parts), index
        parts.append(line)
    raise CertbotImportError(f"{path} line {number}: unterminated {quote} value; fix the file")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def with_autorenew_off(text: str) -> str:
    """`text` with `autorenew = False` in [renewalparams]; every other line kept as it was."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    setting = f"autorenew = False{newline}"
    header: int | None = None
    for number, line in enumerate(lines):
        content = line.rstrip("\r\n")
        section = _SECTION.match(content)
        if section:
            if header is not None:
                break  # the end of [renewalparams] (or its first subsection)
            if section.group(1).count("[") == 1 and _unquote(section.group(2)) == "renewalparams":
                header = number
            continue
        keyword = _KEYWORD.match(content)
        if header is not None and keyword and _unquote(keyword.group(1).strip()) == "autorenew":
            lines[number] = setting
            return "".join(lines)
    addition = [f"{DISABLED_MARK}{newline}", setting]
    if header is None:
        return "".join([*lines, f"[renewalparams]{newline}", *addition])
    return "".join(lines[: header + 1] + addition + lines[header + 1 :])


def reason_text(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)
