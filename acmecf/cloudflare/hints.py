"""Cloudflare's refusals as typed errors whose message names the remedy.

`explain` turns the SDK's APIStatusError into a CloudflareError subclass carrying the HTTP
status and every error code (those of the reply's `error_chain` too), and a message that says
what to do: which token permission is missing, which credentials were refused, which quota
was reached. Does not: send requests or retry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from acmecf.dns.provider import Zone
from acmecf.errors import (
    CloudflareError,
    RecordExists,
    RecordMissing,
    ZoneNotFoundError,
)

DNS_PERMISSION = "Zone > DNS > Edit"
ZONE_READ_PERMISSION = "Zone > Zone > Read"
ZONE_SETTINGS_PERMISSION = "Zone > Zone Settings > Edit"
SSL_PERMISSION = "Zone > SSL and Certificates > Edit"

# https://developers.cloudflare.com/fundamentals/api/troubleshooting/
BAD_CREDENTIAL_CODES = frozenset({1000, 6003, 6100, 6101, 6102, 6103, 6111, 9103, 9106, 9109})
IDENTICAL_RECORD_CODES = frozenset({81057, 81058})
NO_ROUTE_CODES = frozenset({7000, 7003})
RECORD_QUOTA_CODES = frozenset({81045})
PERMISSION_CODES = frozenset({10000, 9109})


def error_details(err: Any) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(errors, their error_chain entries) of an APIStatusError's body, as (code, message)."""
    top: list[tuple[int, str]] = []
    chain: list[tuple[int, str]] = []
    body = getattr(err, "body", None)
    items = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(items, list):
        items = [
            {"code": getattr(e, "code", None), "message": getattr(e, "message", "")}
            for e in (getattr(err, "errors", None) or [])
        ]
    for item in items:
        if not isinstance(item, dict):
            continue
        top.append(_pair(item))
        for link in item.get("error_chain") or []:
            if isinstance(link, dict):
                chain.append(_pair(link))
    return top, chain


def _pair(item: dict[str, Any]) -> tuple[int, str]:
    try:
        code = int(item.get("code") or 0)
    except (TypeError, ValueError):
        code = 0
    return code, str(item.get("message") or "").strip()


def describe(pairs: Iterable[tuple[int, str]]) -> str:
    return "; ".join(f"{code} {message}".strip() for code, message in pairs)


def explain(
    err: Any,
    action: str,
    zone: Zone | None,
    credentials_source: str,
    permission: str,
    *,
    deleting: bool = False,
) -> CloudflareError:
    """The CloudflareError for a refusal of `action`; `permission` is the token permission the
    endpoint needs, `deleting` makes a 404 a RecordMissing (already gone counts as deleted)."""
    status = int(getattr(err, "status_code", 0) or 0)
    top, chain = error_details(err)
    codes = [code for code, _ in top + chain]
    detail = describe(top) or f"HTTP {status}"
    if chain:
        detail += f" ({describe(chain)})"
    where = (zone.name or zone.id) if zone is not None else "the account"

    def error(cls: type[CloudflareError], message: str) -> CloudflareError:
        return cls(message, status=status, codes=codes, action=action)

    code_set = set(codes)
    lowered = detail.lower()
    if code_set & IDENTICAL_RECORD_CODES:
        return error(RecordExists, detail)
    if status == 404 and deleting:
        return error(RecordMissing, detail)
    invalid = "invalid access token" in lowered or "invalid api token" in lowered
    credential_codes = code_set & BAD_CREDENTIAL_CODES - {9109}
    if status == 401 or invalid or credential_codes:
        return error(
            CloudflareError,
            f"Cloudflare rejected the credentials from {credentials_source} ({detail}): they are "
            "wrong, expired or revoked; create a token with Zone > Zone > Read and Zone > DNS > "
            "Edit (or fix the email and global API key)",
        )
    if code_set & RECORD_QUOTA_CODES:
        return error(
            CloudflareError,
            f"Cloudflare refused {action}: the zone {where} holds as many DNS records as its "
            f"plan allows ({detail}; 200 on the Free plan, more on paid ones): delete unused "
            "records (acmecf needs one free slot per name at a time) or upgrade the plan",
        )
    if "quota" in lowered or ("limit" in lowered and status in (400, 413)):
        return error(
            CloudflareError,
            f"Cloudflare refused {action}: a limit of the plan of {where} ({detail}); the "
            "Free plan allows fewer records, tags and changes per batch than paid plans: stay "
            "within it or upgrade the plan",
        )
    if status == 403:
        if permission == ZONE_READ_PERMISSION:
            return error(
                CloudflareError,
                f"the token may not list zones ({detail}): give it Zone > Zone > Read, or pass "
                "--zone-id with the zone's id",
            )
        return error(
            CloudflareError,
            f"Cloudflare refused {action} ({detail}): the token needs {permission} on {where}",
        )
    if code_set & NO_ROUTE_CODES and zone is not None:
        return error(
            ZoneNotFoundError,
            f"Cloudflare knows no zone with id {zone.id} ({detail}): check --zone-id",
        )
    return error(CloudflareError, f"Cloudflare refused {action}: {detail}")
