"""The API's wire shapes: the JSON envelope, error envelopes, pagination and request bodies.

Every answer of the v4 API is ``{"result", "success", "errors", "messages"}`` (plus
``result_info`` on lists); an error is an ``ApiError`` raised anywhere below the server and
turned into that envelope with its HTTP status. A ``Reply`` may instead carry a raw body,
for what Cloudflare's edge sends in front of the API (an HTML 502 page).

Does not: route, authenticate, count requests or keep any state.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

API_PREFIX = "/client/v4"


@dataclass
class Reply:
    """One HTTP answer: a JSON ``body`` (the envelope), or ``raw`` bytes of ``content_type``."""

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"

    def payload(self) -> bytes:
        """The bytes to send: ``raw`` when set, else the JSON of ``body``."""
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body).encode()


class ApiError(Exception):
    """An error envelope to send back: ``errors`` are Cloudflare's {code, message} items."""

    def __init__(
        self, status: int, errors: list[dict[str, Any]], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = errors
        self.headers = dict(headers or {})

    @classmethod
    def single(
        cls, status: int, code: int, message: str, *, chain: Sequence[tuple[int, str]] = ()
    ) -> ApiError:
        """One error, with an ``error_chain`` of (code, message) causes when given."""
        error: dict[str, Any] = {"code": code, "message": message}
        if chain:
            error["error_chain"] = [
                {"code": link_code, "message": text} for link_code, text in chain
            ]
        return cls(status, [error])

    @property
    def codes(self) -> list[int]:
        """The top-level error codes, in order."""
        return [int(error["code"]) for error in self.errors]

    def reply(self) -> Reply:
        return Reply(self.status, envelope(None, success=False, errors=self.errors), self.headers)


def dns_validation_error(code: int, message: str) -> ApiError:
    """400 ``1004 DNS Validation Error`` wrapping the real cause in its ``error_chain``.

    The nesting as the API sends it, e.g. for a tag quota:
    ``{"code":1004,"message":"DNS Validation Error","error_chain":[{"code":9300,...}]}``
    (https://github.com/cloudflare/terraform-provider-cloudflare/issues/3217).
    """
    return ApiError.single(400, 1004, "DNS Validation Error", chain=[(code, message)])


def envelope(
    result: Any,
    *,
    success: bool = True,
    errors: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
    result_info: dict[str, int] | None = None,
) -> dict[str, Any]:
    # https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/#response-format
    body: dict[str, Any] = {
        "result": result,
        "success": success,
        "errors": errors or [],
        "messages": messages or [],
    }
    if result_info is not None:
        body["result_info"] = result_info
    return body


def timestamp() -> str:
    """Now, as the API writes times (RFC 3339 with microseconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def no_route(path: str) -> ApiError:
    """400 7003 + 7000: the path has the right shape but an identifier is malformed."""
    # Quoted in https://github.com/zanjie1999/cloudflare-api-v4-ddns/issues/4 and
    # https://github.com/timothymiller/cloudflare-ddns/issues/152 (HTTP 400).
    return ApiError(
        400,
        [
            {
                "code": 7003,
                "message": f"Could not route to {path}, perhaps your object identifier is invalid?",
            },
            {"code": 7000, "message": "No route for that URI"},
        ],
    )


def no_route_for_uri() -> ApiError:
    """400 7000: nothing is served at this path."""
    return ApiError.single(400, 7000, "No route for that URI")


def method_not_allowed(method: str) -> ApiError:
    # "Method DELETE not available for that URI." quoted in
    # https://github.com/cloudflare-api/python-cloudflare-v4/issues/17 (code not shown).
    return ApiError.single(405, 7001, f"Method {method} not available for that URI.")


def json_object(body: bytes) -> dict[str, Any]:
    """The JSON object in a request body, or 400 9207 (wording for this not verified)."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise ApiError.single(400, 9207, "Request body is invalid.")
    return payload


def first_parameter(query: Mapping[str, list[str]], key: str, default: str = "") -> str:
    """The first value of query parameter ``key``, or ``default``."""
    values = query.get(key)
    return values[0] if values else default


def integer_parameter(query: Mapping[str, list[str]], key: str, default: int) -> int:
    values = query.get(key)
    if not values:
        return default
    try:
        # The SDK sends page numbers as floats ("2.0").
        return int(float(values[0]))
    except ValueError:
        return default


def paginate(
    items: Sequence[Any],
    query: Mapping[str, list[str]],
    *,
    default: int,
    minimum: int,
    maximum: int,
) -> tuple[list[Any], dict[str, int]]:
    """Cut one page out of ``items``; a page past the last is empty, not an error.

    The SDK's auto-pager asks for the next page until it gets an empty one, so a page
    past the end must succeed with ``[]``.
    """
    page = max(1, integer_parameter(query, "page", 1))
    per_page = min(maximum, max(minimum, integer_parameter(query, "per_page", default)))
    start = (page - 1) * per_page
    chunk = list(items[start : start + per_page])
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": math.ceil(len(items) / per_page),
    }
    return chunk, info
