"""The ACME adapter's own additions, against a fake CA (no sockets)."""

from __future__ import annotations

import datetime
import json
from typing import Any

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
