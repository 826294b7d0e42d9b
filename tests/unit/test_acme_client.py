"""The ACME adapter's own additions, against a fake CA (no sockets)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from acme import messages
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWKEC

from acmecf.acme import orders
from acmecf.acme.client import AcmeSession
from acmecf.pki.requests import make_csr


class Reply:
    def __init__(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._body = body
        self.headers = headers or {}

    def json(self) -> dict[str, Any]:
        return self._body


class FakeNetwork:
    """Answers newOrder, authorization reads and renewalInfo like a CA with ARI."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, Any]] = []

    def post(self, url: str, obj: Any, **kwargs: Any) -> Reply:
        self.posted.append((url, obj))
        if url.endswith("/new-order"):
            return Reply(
                {
                    "status": "pending",
                    "identifiers": [{"type": "dns", "value": "example.com"}],
                    "authorizations": ["https://ca.test/authz/1"],
                    "finalize": "https://ca.test/finalize/1",
                },
                {"Location": "https://ca.test/order/1"},
            )
        return Reply(
            {
                "status": "pending",
                "identifier": {"type": "dns", "value": "example.com"},
                "challenges": [],
            }
        )

    def get(self, url: str, **kwargs: Any) -> Reply:
        self.posted.append((url, None))
        return Reply(
            {"suggestedWindow": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}},
            {"Retry-After": "21600"},
        )


class FakeClient:
    def __init__(self) -> None:
        self.net = FakeNetwork()
        self.directory = {
            "newOrder": "https://ca.test/new-order",
            "newNonce": "https://ca.test/nonce",
            "renewalInfo": "https://ca.test/renewal-info",
        }


def session() -> tuple[AcmeSession, FakeClient]:
    fake = FakeClient()
    key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    return AcmeSession(fake, "https://ca.test/dir", key), fake  # type: ignore[arg-type]


def test_a_renewal_order_names_the_certificate_it_replaces() -> None:
    acme, fake = session()
    csr = make_csr(ec.generate_private_key(ec.SECP256R1()), ["example.com"])
    order = orders.new_order(acme, csr, replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    url, body = fake.net.posted[0]
    assert url == "https://ca.test/new-order"
    sent = json.loads(body.json_dumps())
    assert sent["replaces"] == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    assert sent["identifiers"] == [{"type": "dns", "value": "example.com"}]
    assert order.uri == "https://ca.test/order/1"
    assert [a.uri for a in order.authorizations] == ["https://ca.test/authz/1"]
    assert isinstance(order.authorizations[0].body, messages.Authorization)


def test_renewal_information_is_fetched_with_its_retry_after() -> None:
    acme, fake = session()
    reply, retry_after = acme.renewal_info("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    assert fake.net.posted == [
        ("https://ca.test/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", None)
    ]
    assert reply["suggestedWindow"]["start"] == "2026-03-01T00:00:00Z"
    assert retry_after == datetime.timedelta(hours=6)


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    from acmecf.acme.client import retry_after_seconds

    now = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)
    assert retry_after_seconds("21600") == 21600.0
    assert retry_after_seconds("Mon, 01 Jun 2026 13:00:00 GMT", now) == 3600.0
    assert retry_after_seconds("Mon, 01 Jun 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("") is None
    assert retry_after_seconds("soon") is None


def test_problem_types_newer_than_the_library_are_known() -> None:
    from acmecf.acme.problems import problem_type

    replaced = messages.Error.from_json(
        {"type": "urn:ietf:params:acme:error:alreadyReplaced", "detail": "x", "status": 409}
    )
    assert replaced.code is None, "the acme library does not know it"
    assert problem_type(replaced) == "alreadyReplaced"
    assert problem_type(messages.Error(typ="about:blank")) == ""


def test_a_409_problem_is_an_acme_error_and_a_409_with_a_location_stays_a_conflict() -> None:
    import requests
    from acme import errors

    from acmecf.acme.network import Network

    def response(headers: dict[str, str], body: dict[str, Any]) -> requests.Response:
        reply = requests.Response()
        reply.status_code = 409
        reply.headers.update({"Content-Type": "application/problem+json", **headers})
        reply._content = json.dumps(body).encode()
        return reply

    problem = {"type": "urn:ietf:params:acme:error:alreadyReplaced", "detail": "d", "status": 409}
    with pytest.raises(messages.Error) as refused:
        Network._check_response(response({}, problem))
    assert refused.value.typ == "urn:ietf:params:acme:error:alreadyReplaced"
    with pytest.raises(errors.ConflictError):  # newAccount: the key has an account, here
        Network._check_response(response({"Location": "https://ca.test/acct/1"}, problem))


class ProfileSession:
    def __init__(self) -> None:
        self.server = "https://ca.test/dir"
        self.profiles = {"classic": "90 days", "shortlived": "160 hours"}


def test_a_preferred_profile_is_used_when_offered_and_dropped_with_a_notice_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from acmecf.errors import UsageError

    acme: Any = ProfileSession()
    assert orders.choose_profile(acme, None, "shortlived") == "shortlived"
    assert orders.choose_profile(acme, None, "tlsserver") is None
    assert caplog.messages == [
        "the CA at https://ca.test/dir offers no profile 'tlsserver' (it offers classic, "
        "shortlived): ordering its default profile"
    ]
    assert orders.choose_profile(acme, "classic", None) == "classic"
    with pytest.raises(UsageError, match="offers no profile 'tlsserver'"):
        orders.choose_profile(acme, "tlsserver", None)
