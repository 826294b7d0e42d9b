"""Domain names as they go into a certificate: validation and normalisation.

Owns the rules for what a certificate name may be. Does not touch the network.
"""

from __future__ import annotations

import re

from acmecf.errors import InvalidNameError

MAX_NAMES = 100
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_name(raw: str) -> str:
    """Return `raw` lower-cased, without a trailing dot, IDN labels in punycode (IDNA 2008).

    Raises InvalidNameError naming `raw` when it cannot be a DNS name in a certificate:
    empty labels, bad characters, a label over 63 octets, a name over 253, a single label,
    an IP address, or a wildcard anywhere but as the whole leftmost label.
    """
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
        if not _LABEL.match(label):
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
