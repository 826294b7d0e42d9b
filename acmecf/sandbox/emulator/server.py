"""The HTTP side: one request pipeline in front of the route table, and the HTTP server.

``Api.respond`` answers one request the way the v4 API does, in this order: faults that
strike before routing, routing (7000 / 7003 / 7001), authentication, the per-user rate
limit, then the route's handler with the state lock held. Every answer carries a
``CF-RAY`` header, and every answer to an identified user ``Ratelimit`` and
``Ratelimit-Policy``; every request is logged as an ``ApiRequest`` (credential kind, never
the secret).

Does not: know any resource (``ROUTES`` of each resource module do), serve HTTPS, or
keep connections it cannot cut: ``stop`` closes kept-alive ones too.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from acmecf.sandbox.emulator import (
    dns_records,
    origin_ca,
    origin_pulls,
    tokens,
    zone_settings,
    zones,
)
from acmecf.sandbox.emulator.auth import authenticate, credential_kind
from acmecf.sandbox.emulator.envelope import ApiError, Reply
from acmecf.sandbox.emulator.faults import FaultPlan
from acmecf.sandbox.emulator.ratelimit import RateLimiter
from acmecf.sandbox.emulator.routes import ApiCall, Route, RouteTable
from acmecf.sandbox.emulator.state import State

logger = logging.getLogger(__name__)

ROUTES: list[Route] = [
    *tokens.ROUTES,
    *zones.ROUTES,
    *dns_records.ROUTES,
    *zone_settings.ROUTES,
    *origin_pulls.ROUTES,
    *origin_ca.ROUTES,
]
"""Every route the emulator serves."""


@dataclass(frozen=True)
class ApiRequest:
    """One API request as the emulator answered it; ``time`` is ``time.monotonic()``.

    ``auth`` names the kind of credential presented ("token", "global" or "none"), never
    the secret itself. ``path`` is the full request path, including ``/client/v4``.
    ``route`` is the route that answered (``"GET /zones/{zone_id}"``), None when none
    did; ``params`` are its named path segments (``{"zone_id": ...}``). ``fault`` names
    the injected fault that answered ("throttle", "error", "applied_error", "silent"); a
    silent request is logged with ``status`` 0 when it arrives. ``changes`` is, for a
    request with a JSON object body, how many items each of its arrays held (a batch call's
    ``{"deletes": 0, "posts": 2, ...}``), never the content: bodies carry private keys.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    time: float
    auth: str
    route: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    changes: dict[str, int] = field(default_factory=dict)


def array_sizes(body: bytes) -> dict[str, int]:
    """How many items each array of a JSON object body holds; {} for any other body."""
    if not body.startswith(b"{"):
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {key: len(value) for key, value in document.items() if isinstance(value, list)}


class Api:
    """The request pipeline; thread-safe. ``requests`` is the log, oldest first."""

    def __init__(
        self,
        state: State,
        *,
        limiter: RateLimiter,
        faults: FaultPlan,
        table: RouteTable | None = None,
    ) -> None:
        self.state = state
        self.limiter = limiter
        self.faults = faults
        self.table = table if table is not None else RouteTable(ROUTES)
        self._log_lock = threading.Lock()
        self._requests: list[ApiRequest] = []

    @property
    def requests(self) -> list[ApiRequest]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._requests)

    def clear_log(self) -> None:
        with self._log_lock:
            self._requests.clear()

    def respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one HTTP request and log it. ``headers`` keys are lowercase."""
        received = time.monotonic()
        split = urlsplit(target)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        route: Route | None = None
        params: dict[str, str] = {}
        identity: str | None = None
        fault_kind: str | None = None
        try:
            early = self.faults.before_routing()
            if early is not None:
                fault, answer = early
                fault_kind = fault.kind
                if isinstance(answer, ApiError):
                    raise answer
                reply = answer
            else:
                route, params = self.table.match(method, path)
                credential = authenticate(
                    self.state,
                    headers,
                    unknown_token=route.unknown_token,
                    tokens_only=route.tokens_only,
                )
                identity = credential.identity
                self.limiter.admit(identity)
                call = ApiCall(method, path, params, query, headers, body, credential)
                with self.state.lock:
                    reply = route.handler(self.state, call)
                if route.writes and reply.status < 400:
                    late = self.faults.after_write()
                    if late is not None:
                        fault, reply = late
                        fault_kind = fault.kind
        except ApiError as error:
            reply = error.reply()
        except Exception:
            logger.exception("Cloudflare emulator failed on %s %s", method, path)
            reply = ApiError.single(500, 10001, "Internal emulator error").reply()
        if identity is not None and reply.raw is None:
            # Sent with every API answer to an identified caller, the 429 included (not
            # with the edge's own error pages).
            # https://developers.cloudflare.com/fundamentals/api/reference/limits/
            for name, value in self.limiter.headers(identity).items():
                reply.headers.setdefault(name, value)
        reply.headers.setdefault("CF-RAY", f"{secrets.token_hex(8)}-EMU")
        with self._log_lock:
            self._requests.append(
                ApiRequest(
                    method=method,
                    path=path,
                    query=query,
                    status=reply.status,
                    time=received,
                    auth=credential_kind(headers),
                    route=route.name if route is not None else None,
                    params=params,
                    fault=fault_kind,
                    changes=array_sizes(body),
                )
            )
        logger.debug("%s %s -> %d", method, path, reply.status)
        if self.faults.latency > 0:
            time.sleep(self.faults.latency)  # done already, answered late (set_api_latency)
        return reply


Responder = Callable[[str, str, Mapping[str, str], bytes], Reply]
"""Answers (method, request target, lowercase headers, body)."""


class HttpServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so ``stop`` can cut them."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        respond: Responder,
        *,
        wait_until_audible: Callable[[float], bool] = lambda timeout: True,
    ) -> None:
        self.respond = respond
        self.wait_until_audible = wait_until_audible
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request (a killed process) is normal, not a fault."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut every kept-alive connection so no handler thread outlives the server."""
        self.stopping.set()
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    timeout = 30

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        server = cast(HttpServer, self.server)
        reply = server.respond(self.command, self.path, headers, body)
        if reply.status == 0:
            # Silent: hold the request unanswered until silence ends or the server stops,
            # then hang up without a word, as a server that accepted and died would.
            while not server.stopping.is_set() and not server.wait_until_audible(0.05):
                pass
            self.close_connection = True
            return
        payload = reply.payload()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        # Requests are logged by the emulator itself (without secrets).
        return
