"""dns-persist-01 without sockets: the challenge JSON the acme library does not model, the
record's text both ways, and judging records as the CA would (acme.persist)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from acme import messages

from acmecf.acme.persist import (
    challenges_of,
    check_records,
    parse_record,
    record_name,
    record_value,
)
from acmecf.errors import AcmeError

UTC = datetime.UTC
NOW = datetime.datetime(2026, 6, 1, tzinfo=UTC)
ISSUER = "letsencrypt.org"
ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/123"
OTHER = "https://acme-v02.api.letsencrypt.org/acme/acct/999"


@dataclass
class Session:
    server: str = "https://ca.test/dir"


def order(*authorizations: dict[str, Any]) -> messages.OrderResource:
    return messages.OrderResource(
        body=messages.Order(),
        authorizations=[
            messages.AuthorizationResource(
                body=messages.Authorization.from_json(body), uri=f"https://ca.test/authz/{i}"
            )
            for i, body in enumerate(authorizations)
        ],
    )


def authorization(name: str, *, wildcard: bool = False, persist: bool = True) -> dict[str, Any]:
    challenges: list[dict[str, Any]] = [
        {"type": "dns-01", "url": "https://ca.test/chall/1", "status": "pending", "token": "a" * 43}
    ]
    if persist:
        challenges.append(
            {
                "type": "dns-persist-01",
                "url": "https://ca.test/chall/2",
                "status": "pending",
                "issuer-domain-names": [ISSUER, "other.example"],
                "accounturi": ACCOUNT,
            }
        )
    return {
        "identifier": {"type": "dns", "value": name},
        "status": "pending",
        "wildcard": wildcard,
        "challenges": challenges,
    }


def test_the_challenge_json_is_read_without_a_library_type() -> None:
    found = challenges_of(
        Session(),  # type: ignore[arg-type]
        order(authorization("example.com"), authorization("example.com", wildcard=True)),
    )
    assert [(c.identifier, c.name, c.wildcard) for c in found] == [
        ("example.com", "example.com", False),
        ("*.example.com", "example.com", True),
    ]
    assert found[0].issuer_domain_names == (ISSUER, "other.example")
    assert found[0].account_uri == ACCOUNT
    assert found[0].url == "https://ca.test/chall/2"
    assert {c.record_name for c in found} == {"_validation-persist.example.com"}


def test_a_ca_without_dns_persist_01_is_one_line() -> None:
    with pytest.raises(AcmeError) as refused:
        challenges_of(Session(), order(authorization("example.com", persist=False)))  # type: ignore[arg-type]
    assert str(refused.value) == (
        "the CA at https://ca.test/dir does not offer dns-persist-01 for example.com (it offers "
        "dns-01): use --challenge dns-01"
    )


def test_the_record_names_the_ca_the_account_and_the_options() -> None:
    assert record_value(ISSUER, ACCOUNT) == f"{ISSUER}; accounturi={ACCOUNT}"
    until = datetime.datetime(2027, 6, 30, tzinfo=UTC)
    assert record_value(ISSUER, ACCOUNT, wildcard=True, until=until) == (
        f"{ISSUER}; accounturi={ACCOUNT}; policy=wildcard; persistUntil=1814313600"
    )
    assert record_name("*.example.com") == "_validation-persist.example.com"


def test_a_record_is_read_as_the_ca_reads_it() -> None:
    record = parse_record(f" {ISSUER.upper()} ;AccountURI={ACCOUNT} ; Policy=WILDCARD; x=y")
    assert (record.issuer, record.account_uri, record.wildcard, record.problem) == (
        ISSUER,
        ACCOUNT,
        True,
        None,
    )
    assert parse_record(f"{ISSUER}; accounturi={ACCOUNT}; policy=other").wildcard is False
    assert parse_record(f"{ISSUER}; persistUntil=1814313600; accounturi={ACCOUNT}").until == (
        datetime.datetime(2027, 6, 30, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"{ISSUER}", "it has no accounturi"),
        (f"{ISSUER}; accounturi={ACCOUNT};", "malformed parameter ''"),
        (
            f"{ISSUER}; accounturi={ACCOUNT}; accounturi={OTHER}",
            "parameter accounturi appears twice",
        ),
        (f"{ISSUER}; accounturi", "malformed parameter 'accounturi'"),
        (f"{ISSUER}; accounturi={ACCOUNT}; persistUntil=soon", "persistUntil 'soon' is not a time"),
    ],
)
def test_a_malformed_record_says_why(text: str, problem: str) -> None:
    assert parse_record(text).problem == problem


def judge(values: list[str], *, wildcard: bool = False) -> Any:
    return check_records(
        "example.com", values, issuers=(ISSUER,), account_uri=ACCOUNT, wildcard=wildcard, now=NOW
    )


def test_this_accounts_record_lets_it_issue() -> None:
    check = judge([f"{ISSUER}; accounturi={ACCOUNT}"])
    assert check.ok and check.record is not None and check.record.account_uri == ACCOUNT


def test_no_record_for_this_ca() -> None:
    check = judge(["sectigo.com; accounturi=https://acme.sectigo.com/a/1"])
    assert (check.kind, check.problem) == (
        "missing",
        "no record for this CA (letsencrypt.org); there are records for sectigo.com",
    )
    assert judge([]).problem == "no record for this CA (letsencrypt.org)"


def test_a_record_bound_to_another_account() -> None:
    check = judge([f"{ISSUER}; accounturi={OTHER}"])
    assert check.kind == "other-account"
    assert check.problem == f"it is bound to another account ({OTHER}), not this one ({ACCOUNT})"


def test_a_wildcard_needs_policy_wildcard() -> None:
    assert judge([f"{ISSUER}; accounturi={ACCOUNT}"], wildcard=True).kind == "no-wildcard"
    assert judge([f"{ISSUER}; accounturi={ACCOUNT}; policy=wildcard"], wildcard=True).ok


def test_a_record_past_persist_until_no_longer_counts() -> None:
    ended = f"{ISSUER}; accounturi={ACCOUNT}; persistUntil={int(NOW.timestamp()) - 1}"
    check = judge([ended])
    assert (check.kind, check.problem) == ("ended", "it ended at persistUntil 2026-05-31 23:59 UTC")
    later = f"{ISSUER}; accounturi={ACCOUNT}; persistUntil={int(NOW.timestamp()) + 86400}"
    assert judge([ended, later]).ok


def test_a_malformed_record_of_this_ca() -> None:
    assert judge([f"{ISSUER}; accounturi={ACCOUNT}; accounturi={ACCOUNT}"]).kind == "malformed"
    # A good record beside it is enough, as for the CA.
    assert judge([f"{ISSUER};;", f"{ISSUER}; accounturi={ACCOUNT}"]).ok
