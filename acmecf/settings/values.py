"""Parsing the values users type: durations, HOST[:PORT] addresses, booleans, URLs.

Each parser returns the typed value or raises ValueError with the problem in a few words
(callers add which option, variable or file key it came from). Does not read files or the
environment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", re.IGNORECASE)
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_HOST_PORT = re.compile(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([^:\s\[\]]+)(?::(\d+))?|([0-9a-fA-F:]+)")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_duration(text: str | float | int, *, allow_zero: bool = False) -> float:
    """Seconds from 90, "90", "90s", "5m", "1h" or "2d" (a finite number, more than zero)."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 90s, 5m or 1h")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not a duration: use seconds, or a number with s, m or h")
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{text!r} must be more than zero" if not allow_zero else "negative")
    return seconds


def parse_host_port(item: str, default_port: int) -> tuple[str, int]:
    """(host, port) from HOST, HOST:PORT, [IPv6] or [IPv6]:PORT (or a bare IPv6 address)."""
    match = _HOST_PORT.fullmatch(item.strip())
    if not match:
        raise ValueError(f"{item!r} is not HOST or HOST:PORT")
    host = match.group(1) or match.group(3) or match.group(5)
    port_text = match.group(2) or match.group(4)
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise ValueError(f"{item!r}: port out of range")
    return host, port


def parse_resolvers(values: Iterable[str]) -> list[tuple[str, int]]:
    """HOST[:PORT] strings, each possibly comma- or space-separated, as (host, port) pairs."""
    result: list[tuple[str, int]] = []
    for value in values:
        for item in re.split(r"[,\s]+", value.strip()):
            if item:
                result.append(parse_host_port(item, 53))
    return result


def parse_bool(text: str) -> bool:
    """True for 1/true/yes/on, False for 0/false/no/off/empty (any case)."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false")


def check_https_url(text: str) -> str:
    """`text` when it is an https:// URL with a host; ValueError otherwise."""
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in text):
        raise ValueError(f"{text!r} is not an https:// URL")
    return text


def check_printable(text: str) -> str:
    """`text` when it holds no control character (newline, tab, escape ...)."""
    if any(not c.isprintable() for c in text):
        raise ValueError(f"{text!r} holds a control character")
    return text
