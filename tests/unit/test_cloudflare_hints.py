"""Cloudflare's refusals turned into typed errors with their remedy (cloudflare/hints.py)."""

from __future__ import annotations

from typing import Any

import pytest

from acmecf.cloudflare.hints import DNS_PERMISSION, ZONE_READ_PERMISSION, explain
from acmecf.dns.provider import Zone
from acmecf.errors import CloudflareError, RecordExists, RecordMissing, ZoneNotFoundError

ZONE = Zone("023e105f4ecef8ad9ca31a8372d0c353", "example.com")


class Refusal:
    """What the SDK's APIStatusError carries: a status and the envelope's body."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        self.status_code = status
        self.body = {"success": False, "errors": errors, "messages": [], "result": None}


def explained(status: int, *errors: dict[str, Any], **options: Any) -> CloudflareError:
    return explain(
        Refusal(status, list(errors)),
        options.pop("action", "creating TXT _acme-challenge.example.com"),
        options.pop("zone", ZONE),
        "CLOUDFLARE_API_TOKEN",
        options.pop("permission", DNS_PERMISSION),
        **options,
    )


def test_an_identical_record_is_its_own_type() -> None:
    error = explained(400, {"code": 81058, "message": "An identical record already exists."})
    assert isinstance(error, RecordExists) and error.codes == (81058,)


def test_a_missing_record_while_deleting_counts_as_done() -> None:
    error = explained(404, {"code": 81044, "message": "Record does not exist."}, deleting=True)
    assert isinstance(error, RecordMissing)


def test_a_bad_token_names_where_it_came_from_and_what_to_create() -> None:
    error = explained(400, {"code": 6003, "message": "Invalid request headers"})
    assert "rejected the credentials from CLOUDFLARE_API_TOKEN" in str(error)
    assert "Zone > DNS > Edit" in str(error) and error.status == 400


def test_a_wrong_global_key_is_a_credentials_problem_even_as_a_403() -> None:
    error = explained(403, {"code": 9103, "message": "Unknown X-Auth-Key or X-Auth-Email"})
    assert "rejected the credentials" in str(error)


def test_a_token_without_the_permission_is_told_which_one_on_which_zone() -> None:
    error = explained(403, {"code": 10000, "message": "Authentication error"})
    assert str(error).endswith("the token needs Zone > DNS > Edit on example.com")


def test_a_token_that_may_not_list_zones_is_told_the_way_out() -> None:
    error = explained(
        403,
        {"code": 10000, "message": "Authentication error"},
        action="listing zones",
        zone=None,
        permission=ZONE_READ_PERMISSION,
    )
    assert "give it Zone > Zone > Read, or pass --zone-id" in str(error)


def test_an_unknown_zone_id_is_a_zone_not_found() -> None:
    error = explained(400, {"code": 7003, "message": "Could not route to /zones/x/dns_records"})
    assert isinstance(error, ZoneNotFoundError) and "check --zone-id" in str(error)


def test_the_record_quota_is_explained() -> None:
    error = explained(400, {"code": 81045, "message": "Record quota exceeded."})
    assert "as many DNS records as its plan allows" in str(error)


def test_the_error_chain_is_kept_in_the_message_and_the_codes() -> None:
    error = explained(
        400,
        {
            "code": 1004,
            "message": "DNS Validation Error",
            "error_chain": [
                {"code": 9300, "message": "DNS record has 1 tags, exceeding the quota of 0."}
            ],
        },
    )
    assert error.codes == (1004, 9300)
    assert "1004 DNS Validation Error (9300 DNS record has 1 tags" in str(error)


@pytest.mark.parametrize("status", [400, 500])
def test_anything_else_says_what_was_refused(status: int) -> None:
    error = explained(status, {"code": 1234, "message": "Something new"})
    assert (
        str(error)
        == "Cloudflare refused creating TXT _acme-challenge.example.com: 1234 Something new"
    )
