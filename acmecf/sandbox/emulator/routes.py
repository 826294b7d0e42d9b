"""The one route table of the emulated API: (method, path pattern) -> handler.

A pattern is a path under ``/client/v4`` made of literal segments, ``{name}`` (any one
segment) and ``{name:id}`` (a Cloudflare identifier: 32 lowercase hex digits). Lookup tries
the patterns of the request's length most literal first (``/settings`` before
``/{certificate_id}``), so exactly one pattern answers a path. Then:

- no pattern matches: 400 7000 "No route for that URI";
- a pattern matches except that an ``:id`` segment is malformed: 400 7003 + 7000;
- the pattern matches but not the method: 405 7001.

Each route also says how the API answers an unknown token on it (the zones service and the
DNS records service differ) and whether only an API token may call it.

Does not: authenticate, count requests, hold state or open sockets: ``match`` is a pure
function of the table, the method and the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from acmecf.sandbox.emulator.envelope import (
    API_PREFIX,
    ApiError,
    Reply,
    method_not_allowed,
    no_route,
    no_route_for_uri,
)
from acmecf.sandbox.emulator.state import ID_SHAPE, Credential, State

# How a route answers a well-formed token it does not know (see auth.py for the sources).
UNKNOWN_TOKEN_INVALID_ACCESS = "invalid_access_token"  # 403 9109
UNKNOWN_TOKEN_AUTHENTICATION = "authentication_error"  # 401 10000
UNKNOWN_TOKEN_INVALID_API_TOKEN = "invalid_api_token"  # 401 1000

_KIND = re.compile(r"\{(\w+):\w+\}")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class ApiCall:
    """One authenticated call as a handler sees it. ``headers`` keys are lowercase;
    ``path`` is the full request path; ``params`` are the pattern's named segments."""

    method: str
    path: str
    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    credential: Credential


Handler = Callable[[State, ApiCall], Reply]
"""Answers one call; runs with ``state.lock`` held; raises ApiError for an error answer."""


@dataclass(frozen=True)
class Route:
    """``method`` + ``pattern`` served by ``handler``; ``doc`` is the API reference URL."""

    method: str
    pattern: str
    handler: Handler
    doc: str
    unknown_token: str = UNKNOWN_TOKEN_INVALID_ACCESS
    tokens_only: bool = False

    @property
    def name(self) -> str:
        """``"GET /zones/{zone_id}"``: how the request log names the route (no kinds)."""
        return self.method + " " + _KIND.sub(r"{\1}", self.pattern)

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass(frozen=True)
class _Segment:
    text: str
    parameter: str | None
    identifier: bool


@dataclass
class _Pattern:
    text: str
    segments: tuple[_Segment, ...]
    routes: dict[str, Route] = field(default_factory=dict)

    @property
    def specificity(self) -> tuple[int, ...]:
        # Literal segments sort before parameters, position by position.
        return tuple(0 if segment.parameter is None else 1 for segment in self.segments)


def _parse(pattern: str) -> tuple[_Segment, ...]:
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must start with /")
    segments: list[_Segment] = []
    for text in pattern.strip("/").split("/"):
        if text.startswith("{") and text.endswith("}"):
            name, _, kind = text[1:-1].partition(":")
            if kind not in ("", "id"):
                raise ValueError(f"unknown segment kind {kind!r} in {pattern!r}")
            segments.append(_Segment(text, name, kind == "id"))
        else:
            segments.append(_Segment(text, None, False))
    return tuple(segments)


class RouteTable:
    """Routes by pattern; ``match`` finds the one route that answers a request."""

    def __init__(self, routes: Iterable[Route]) -> None:
        patterns: dict[str, _Pattern] = {}
        for route in routes:
            pattern = patterns.get(route.pattern)
            if pattern is None:
                pattern = _Pattern(route.pattern, _parse(route.pattern))
                patterns[route.pattern] = pattern
            if route.method in pattern.routes:
                raise ValueError(f"route {route.name} is defined twice")
            pattern.routes[route.method] = route
        self._by_length: dict[int, list[_Pattern]] = {}
        for pattern in patterns.values():
            self._by_length.setdefault(len(pattern.segments), []).append(pattern)
        for candidates in self._by_length.values():
            candidates.sort(key=lambda candidate: candidate.specificity)
        self._routes = [route for p in patterns.values() for route in p.routes.values()]

    @property
    def routes(self) -> list[Route]:
        """Every route, in the order given."""
        return list(self._routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for ``method path`` and its named segments, or the API's routing error.

        ``path`` is the full request path (with ``/client/v4``, without the query).
        Raises ApiError 400 7000, 400 7003 + 7000 or 405 7001 as described above.
        """
        if not path.startswith(API_PREFIX + "/"):
            raise no_route_for_uri()
        parts = path[len(API_PREFIX) + 1 :].rstrip("/").split("/")
        malformed = False
        for pattern in self._by_length.get(len(parts), []):
            params: dict[str, str] = {}
            fits = True
            bad_identifier = False
            for segment, part in zip(pattern.segments, parts, strict=True):
                if segment.parameter is None:
                    if segment.text != part:
                        fits = False
                        break
                elif not part:
                    fits = False
                    break
                else:
                    if segment.identifier and not ID_SHAPE.fullmatch(part):
                        bad_identifier = True
                    params[segment.parameter] = part
            if not fits:
                continue
            if bad_identifier:
                malformed = True
                continue
            route = pattern.routes.get(method)
            if route is None:
                raise method_not_allowed(method)
            return route, params
        if malformed:
            raise no_route(path)
        raise no_route_for_uri()


def unknown_token_error(kind: str) -> ApiError:
    """What the API answers a well-formed but unknown token on a route of this kind."""
    if kind == UNKNOWN_TOKEN_AUTHENTICATION:
        return ApiError.single(401, 10000, "Authentication error")
    if kind == UNKNOWN_TOKEN_INVALID_API_TOKEN:
        return ApiError.single(401, 1000, "Invalid API Token")
    return ApiError.single(403, 9109, "Invalid access token")
