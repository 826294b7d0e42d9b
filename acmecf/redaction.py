"""Keeping secrets out of every line acmecf prints, logs or writes to a log file.

A process-wide registry of secrets (API tokens and keys, EAB HMAC keys, store passwords), and
`redact`, which replaces in any text: every registered secret, also where it appears escaped
inside longer text (JSON, Python repr, URL encoding, one line of a multi-line value); the
values of the `Authorization`, `X-Auth-Key` and `X-Auth-User-Service-Key` headers however a
library prints them; and every PEM private key block. `RedactingFilter` applies it to every
log record a handler sees, whichever logger made it (the Cloudflare SDK's, httpx's, urllib3's
included), so `--debug` shows API traffic without credentials or keys.

Does not: decide what is secret (callers register secrets as they load them), or print.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse

MASK = "***"
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_variants: set[str] = set()
_HEADER = re.compile(
    r"(?i)\b(authorization|x-auth-key|x-auth-user-service-key)\b"
    r"(['\"]?\s*[:=,]\s*b?['\"]?)(bearer\s+)?[^\s'\",}\]\)]+"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)"
)


def remember_secret(secret: str | None) -> None:
    """Register `secret`: from now on `redact` masks it wherever it appears. Idempotent.

    Values shorter than four characters are not registered (they would mask ordinary text).
    """
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return
    variants = {
        secret,
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
    }
    # A value with line breaks may be printed one line at a time.
    variants.update(part for part in re.split(r"[\r\n]+", secret) if len(part) >= 8)
    with _lock:
        _variants.update(v for v in variants if len(v) >= MIN_SECRET_LENGTH)


def redact(text: str) -> str:
    """`text` with every registered secret, credential header value and private key masked."""
    if not text:
        return text
    with _lock:
        variants = sorted(_variants, key=len, reverse=True)  # longest first: no partial leftovers
    for variant in variants:
        if variant in text:
            text = text.replace(variant, MASK)
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}", text)
    return _PRIVATE_KEY.sub(
        lambda m: (
            f"-----BEGIN {m.group(1)}PRIVATE KEY-----{MASK}-----END {m.group(1)}PRIVATE KEY-----"
        ),
        text,
    )


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message and the traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's broken format string: show it raw, still redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def forget_secrets() -> None:
    """Clear the registry (tests)."""
    with _lock:
        _variants.clear()
