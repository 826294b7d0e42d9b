"""The route table and the request pipeline, without sockets.

``RouteTable.match`` and ``Api.respond`` are plain functions of their inputs, so these
tests call them directly.
"""

from __future__ import annotations

import json

import pytest

from acmecf.sandbox.emulator.envelope import ApiError, Reply, envelope
from acmecf.sandbox.emulator.faults import FaultPlan
from acmecf.sandbox.emulator.ratelimit import RateLimiter
from acmecf.sandbox.emulator.routes import ApiCall, Route, RouteTable
from acmecf.sandbox.emulator.server import ROUTES, Api
from acmecf.sandbox.emulator.state import Nameserver, State, Token, Zone

ZONE_ID = "0123456789abcdef0123456789abcdef"
TOKEN = "T" * 40


def answer(name: str) -> Route:
    def handler(state: State, call: ApiCall) -> Reply:
        return Reply(200, envelope({"handler": name, **call.params}))

    method, pattern = name.split(" ", 1)
    return Route(method, pattern, handler, doc="https://developers.cloudflare.com/api/")


def test_a_path_is_matched_with_its_named_segments() -> None:
    table = RouteTable([answer("GET /zones/{zone_id:id}/dns_records/{record_id:id}")])
    route, params = table.match("GET", f"/client/v4/zones/{ZONE_ID}/dns_records/{ZONE_ID}")
    assert route.name == "GET /zones/{zone_id}/dns_records/{record_id}"
    assert params == {"zone_id": ZONE_ID, "record_id": ZONE_ID}


def test_a_literal_segment_wins_over_a_parameter_whatever_the_order() -> None:
    table = RouteTable(
        [
            answer("GET /zones/{zone_id:id}/origin_tls_client_auth/{certificate_id}"),
            answer("PUT /zones/{zone_id:id}/origin_tls_client_auth/settings"),
        ]
    )
    path = f"/client/v4/zones/{ZONE_ID}/origin_tls_client_auth/settings"
    assert table.match("PUT", path)[0].pattern.endswith("/settings")
    with pytest.raises(ApiError) as caught:
        table.match("GET", path)  # settings exists, but not for GET
    assert (caught.value.status, caught.value.codes) == (405, [7001])


def test_a_malformed_identifier_gets_7003_and_7000() -> None:
    table = RouteTable([answer("GET /zones/{zone_id:id}")])
    with pytest.raises(ApiError) as caught:
        table.match("GET", "/client/v4/zones/example.com")
    assert (caught.value.status, caught.value.codes) == (400, [7003, 7000])
    assert "/client/v4/zones/example.com" in caught.value.errors[0]["message"]


@pytest.mark.parametrize("path", ["/client/v4/nothing", "/elsewhere/zones", "/client/v4/zones/"])
def test_an_unknown_path_gets_7000(path: str) -> None:
    table = RouteTable([answer("GET /zones/{zone_id:id}")])
    with pytest.raises(ApiError) as caught:
        table.match("GET", path)
    assert (caught.value.status, caught.value.codes) == (400, [7000])


def test_a_route_cannot_be_defined_twice() -> None:
    with pytest.raises(ValueError, match="twice"):
        RouteTable([answer("GET /zones"), answer("GET /zones")])


def test_every_served_route_cites_the_api_reference() -> None:
    table = RouteTable(ROUTES)
    assert len(table.routes) == len(ROUTES)
    for route in ROUTES:
        assert route.doc.startswith("https://developers.cloudflare.com/api/resources/"), route.name


def test_the_emulator_serves_the_endpoints_acmecf_and_the_fleet_work_need() -> None:
    names = {route.name for route in ROUTES}
    assert {
        "GET /user/tokens/verify",
        "GET /zones",
        "GET /zones/{zone_id}",
        "GET /zones/{zone_id}/dns_records",
        "POST /zones/{zone_id}/dns_records",
        "POST /zones/{zone_id}/dns_records/batch",
        "PATCH /zones/{zone_id}/dns_records/{record_id}",
        "PUT /zones/{zone_id}/dns_records/{record_id}",
        "DELETE /zones/{zone_id}/dns_records/{record_id}",
        "PATCH /zones/{zone_id}/settings/{setting}",
        "POST /certificates",
    } <= names


# ------------------------------------------------------------------ the pipeline, socket-free


def pipeline(*, limit: int = 1200) -> Api:
    state = State([Nameserver("ada.ns.cloudflare.com", "127.0.53.1", 0.0)])
    state.add_zone(Zone(id=ZONE_ID, name="example.com", created_on="2026-01-01T00:00:00Z"))
    state.tokens[TOKEN] = Token(
        id="f" * 32, zones=None, zone_read=True, dns_read=True, dns_edit=True
    )
    return Api(state, limiter=RateLimiter(limit, 60.0), faults=FaultPlan())


def call(api: Api, method: str, path: str, body: object = None) -> Reply:
    payload = json.dumps(body).encode() if body is not None else b""
    headers = {"authorization": f"Bearer {TOKEN}"}
    return api.respond(method, f"/client/v4{path}", headers, payload)


def test_a_batch_of_many_changes_is_one_request_to_the_limiter() -> None:
    api = pipeline(limit=1)
    posts = [{"type": "TXT", "name": f"n{i}", "content": "v", "ttl": 60} for i in range(100)]
    reply = call(api, "POST", f"/zones/{ZONE_ID}/dns_records/batch", {"posts": posts})
    assert reply.status == 200, reply.body
    assert reply.headers["Ratelimit"] == '"default";r=0;t=60'
    assert call(api, "GET", "/zones").status == 429


def test_seeded_faults_repeat_exactly() -> None:
    def statuses(seed: int) -> list[int]:
        api = pipeline()
        api.faults.configure(throttle=0.3, errors=0.3, seed=seed)
        return [call(api, "GET", "/zones").status for _ in range(30)]

    first = statuses(4)
    assert first == statuses(4)
    assert first != statuses(5)
    assert {429, 200} <= set(first)
    assert set(first) - {200, 429} <= {500, 502, 503, 504}


def test_an_applied_error_applies_the_write_and_answers_5xx() -> None:
    api = pipeline()
    api.faults.configure(applied_errors=1.0, statuses=[502])
    reply = call(
        api, "POST", f"/zones/{ZONE_ID}/dns_records", {"type": "TXT", "name": "a", "content": "v"}
    )
    assert reply.status == 502
    assert reply.raw is not None and b"cloudflare" in reply.raw
    assert len(api.state.live_records(ZONE_ID)) == 1
    assert api.requests[-1].fault == "applied_error"
    # Reads are never "applied errors".
    assert call(api, "GET", f"/zones/{ZONE_ID}/dns_records").status == 200
