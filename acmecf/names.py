"""Names: domain names as they go into a certificate, and certificate names (`--cert-name`).

Owns the rules for what a domain in a certificate may be and what a certificate may be called
(it becomes a directory and file name under the configuration directory, so it can never hold
a `/`, a leading dot or a control character). Does not touch the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from acmecf.errors import InvalidNameError, UsageError

MAX_NAMES = 100
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_CERT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_cert_name(name: str, option: str = "--cert-name") -> str:
    """Return `name` when it is safe as a certificate's directory and file name.

    Letters, digits, dots, hyphens and underscores, starting with a letter or digit, at most
    200 characters: never `/`, `..` alone, a leading dot or any control character. Raises
    UsageError naming `option` otherwise.
    """
    if not isinstance(name, str) or not _CERT_NAME.fullmatch(name):
        raise UsageError(
            f"invalid {option} {name!r}: use letters, digits, dots, hyphens and underscores, "
            "starting with a letter or digit"
        )
    return name


def default_cert_name(names: list[str] | tuple[str, ...]) -> str:
    """The certificate name used when none is given: the first name, without `*.`."""
    return names[0].removeprefix("*.")


def normalize_name(raw: str) -> str:
    """Return `raw` lower-cased, without a trailing dot, IDN labels in punycode (IDNA 2008).

    Raises InvalidNameError naming `raw` when it cannot be a DNS name in a certificate:
    empty labels, bad characters, a label over 63 octets, a name over 253, a single label,
    an IP address, or a wildcard anywhere but as the whole leftmost label.
    """
    if not isinstance(raw, str):
        raise InvalidNameError(f"invalid name {raw!r}: not a string")
    name = raw.strip().rstrip(".").lower()
    if not name:
        raise InvalidNameError(f"invalid name {raw!r}: the name is empty")
    wildcard = name.startswith("*.")
    body = name[2:] if wildcard else name
    if "*" in body:
        raise InvalidNameError(
            f"invalid name {raw!r}: a wildcard must be the whole leftmost label, "
            "as in *.example.com"
        )
    try:
        ascii_body = _to_ascii(body)
    except UnicodeError as err:
        raise InvalidNameError(f"invalid name {raw!r}: {err}") from err
    labels = ascii_body.split(".")
    if len(labels) < 2:
        raise InvalidNameError(
            f"invalid name {raw!r}: use a fully qualified name such as www.example.com"
        )
    if all(label.isdigit() for label in labels):
        raise InvalidNameError(f"invalid name {raw!r}: IP addresses cannot be validated by DNS-01")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise InvalidNameError(
                f"invalid name {raw!r}: label {label!r} may only hold letters, digits and inner "
                "hyphens, 1 to 63 characters"
            )
    if labels[-1].isdigit():
        raise InvalidNameError(f"invalid name {raw!r}: the top-level label cannot be numeric")
    result = ("*." if wildcard else "") + ascii_body
    if len(result) > 253:
        raise InvalidNameError(f"invalid name {raw!r}: longer than 253 characters")
    return result


def normalize_names(raw_names: list[str] | tuple[str, ...]) -> list[str]:
    """Normalise every name, keep the first-given order, refuse duplicates and more than 100.

    Raises InvalidNameError naming the first offending name.
    """
    if not raw_names:
        raise InvalidNameError("no names given: pass at least one -d NAME")
    names: list[str] = []
    for raw in raw_names:
        name = normalize_name(raw)
        if name in names:
            raise InvalidNameError(f"duplicate name {raw!r}: each name may be given once")
        names.append(name)
    if len(names) > MAX_NAMES:
        raise InvalidNameError(
            f"{len(names)} names given: a certificate may hold at most {MAX_NAMES}; split them "
            "into several --cert-name certificates"
        )
    return names


def challenge_name(name: str) -> str:
    """The DNS name whose TXT record answers the DNS-01 challenge for `name` (RFC 8555 §8.4).

    A wildcard is validated at the name without its `*.` label.
    """
    base = name[2:] if name.startswith("*.") else name
    return f"_acme-challenge.{base}"


def _to_ascii(name: str) -> str:
    if name.isascii():
        return name
    # IDNA 2008 with UTS #46 mapping, as browsers and CAs apply it.
    import idna  # comes with the requests stack the acme library depends on

    return idna.encode(name, uts46=True).decode("ascii")


def zone_of(name: str, zones: Iterable[str]) -> str | None:
    """The longest of `zones` that is `name` or a parent of it (the zone that holds it), or
    None. Names are compared lower case, without a trailing dot."""
    wanted = name.lower().rstrip(".")
    best: str | None = None
    for zone in zones:
        candidate = zone.lower().rstrip(".")
        if (wanted == candidate or wanted.endswith("." + candidate)) and (
            best is None or len(candidate) > len(best)
        ):
            best = zone
    return best
