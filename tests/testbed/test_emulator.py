"""The Cloudflare emulator behaves like the real API and like Cloudflare's nameservers.

The API side is exercised through the official ``cloudflare`` SDK (and raw HTTP where the SDK
hides what is checked); the DNS side through dnspython against loopback sockets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import pytest
from cloudflare import Cloudflare
from cloudflare.types.dns.record_response import RecordResponse

from acmecf.sandbox.emulator import CloudflareEmulator
from tests.testbed.sdk_helpers import OTHER_TOKEN, TOKEN, codes, error_of, running_emulator
from tests.testbed.sdk_helpers import sdk as client

EMAIL = "owner@example.com"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"

Value = TypeVar("Value")


@pytest.fixture(autouse=True)
def _no_cloudflare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK fills missing credentials from CLOUDFLARE_* variables.
    for variable in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    with running_emulator() as emulator:
        yield emulator


def present(value: Value | None) -> Value:
    """The SDK types every result as optional; the emulator always sends one."""
    assert value is not None
    return value


def present_record(record: RecordResponse | None) -> RecordResponse:
    assert record is not None
    return record


def ask(
    emulator: CloudflareEmulator, address: str, name: str, rdtype: str, *, tcp: bool = False
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, address, port=emulator.dns_port, timeout=2)
    return dns.query.udp(query, address, port=emulator.dns_port, timeout=2)


def txt_values(response: dns.message.Message) -> set[str]:
    return {
        b"".join(rdata.strings).decode()
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TXT
        for rdata in rrset
    }


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> float:
    """Poll ``condition`` every 20 ms; return the seconds it took, fail after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail("condition not met in time")
        time.sleep(0.02)
    return time.monotonic() - start


# --------------------------------------------------------------------------- credentials


def test_verify_reports_an_active_token(emulator: CloudflareEmulator) -> None:
    assert present(client(emulator).user.tokens.verify()).status == "active"


def test_verify_rejects_an_unknown_token_with_401_and_code_1000(
    emulator: CloudflareEmulator,
) -> None:
    error = error_of(lambda: client(emulator, OTHER_TOKEN).user.tokens.verify())
    assert (error.status_code, codes(error)) == (401, [1000])


def test_unknown_token_gets_403_and_9109_on_zones(emulator: CloudflareEmulator) -> None:
    error = error_of(lambda: list(client(emulator, OTHER_TOKEN).zones.list()))
    assert (error.status_code, codes(error)) == (403, [9109])


def test_malformed_token_gets_400_6003_with_6111_in_the_chain(
    emulator: CloudflareEmulator,
) -> None:
    error = error_of(lambda: list(client(emulator, "not a token").zones.list()))
    assert (error.status_code, codes(error)) == (400, [6003])
    assert isinstance(error.body, dict)
    assert error.body["errors"][0]["error_chain"][0]["code"] == 6111


def test_missing_credentials_get_403_and_9106(emulator: CloudflareEmulator) -> None:
    response = httpx.get(f"{emulator.base_url}/zones")
    assert response.status_code == 403
    assert [error["code"] for error in response.json()["errors"]] == [9106]


def test_global_key_sees_every_zone_and_a_wrong_one_gets_9103(
    emulator: CloudflareEmulator,
) -> None:
    emulator.add_zone("example.com")
    emulator.add_global_key(EMAIL, GLOBAL_KEY)
    sdk = Cloudflare(api_email=EMAIL, api_key=GLOBAL_KEY, base_url=emulator.base_url, max_retries=0)
    assert [zone.name for zone in sdk.zones.list()] == ["example.com"]
    wrong = Cloudflare(api_email=EMAIL, api_key="f" * 37, base_url=emulator.base_url, max_retries=0)
    error = error_of(lambda: list(wrong.zones.list()))
    assert (error.status_code, codes(error)) == (403, [9103])
    assert emulator.requests[-1].auth == "global"


def test_request_log_names_the_credential_kind_never_the_secret(
    emulator: CloudflareEmulator,
) -> None:
    list(client(emulator).zones.list())
    httpx.get(f"{emulator.base_url}/zones")
    logged = emulator.requests
    assert [(request.auth, request.status) for request in logged] == [
        ("token", 200),
        ("none", 403),
    ]
    assert TOKEN not in repr(logged)


# --------------------------------------------------------------------------- zones


def test_zone_listing_pages_through_more_than_fifty_zones(emulator: CloudflareEmulator) -> None:
    names = {f"zone{number:02d}.example" for number in range(57)}
    for name in names:
        emulator.add_zone(name)
    assert {zone.name for zone in client(emulator).zones.list(per_page=50)} == names
    # A full page, a partial one, then the empty page that stops the SDK's auto-pager.
    assert requested_pages(emulator) == [1, 2, 3]
    emulator.clear_logs()
    assert {zone.name for zone in client(emulator).zones.list()} == names
    assert requested_pages(emulator) == [1, 2, 3, 4]  # 20 per page by default


def requested_pages(emulator: CloudflareEmulator) -> list[int]:
    return [int(float(request.query.get("page", ["1"])[0])) for request in emulator.requests]


def test_a_page_past_the_last_is_an_empty_success(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("example.com")
    response = httpx.get(
        f"{emulator.base_url}/zones",
        params={"page": 9},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["result"] == []
    assert body["result_info"] == {
        "page": 9,
        "per_page": 20,
        "count": 0,
        "total_count": 1,
        "total_pages": 1,
    }


def test_zone_name_filter_matches_exactly(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("example.com")
    emulator.add_zone("sub.example.com")
    found = list(client(emulator).zones.list(name="example.com"))
    assert [zone.name for zone in found] == ["example.com"]


def test_zone_carries_the_emulated_nameservers(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    zone = present(client(emulator).zones.get(zone_id=zone_id))
    assert zone.status == "active"
    assert zone.name_servers == [nameserver.name for nameserver in emulator.nameservers]
    assert zone.name_servers[0] == "ada.ns.cloudflare.com"


def test_malformed_zone_id_gets_400_with_7003_and_7000(emulator: CloudflareEmulator) -> None:
    error = error_of(lambda: client(emulator).zones.get(zone_id="example.com"))
    assert (error.status_code, codes(error)) == (400, [7003, 7000])


def test_unknown_path_gets_7000(emulator: CloudflareEmulator) -> None:
    response = httpx.get(
        f"{emulator.base_url}/nothing/here", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 400
    assert [error["code"] for error in response.json()["errors"]] == [7000]


# --------------------------------------------------------------------------- DNS records


def test_txt_record_is_created_found_by_filters_and_deleted(
    emulator: CloudflareEmulator,
) -> None:
    zone_id = emulator.add_zone("example.com")
    sdk = client(emulator)
    created = present_record(
        sdk.dns.records.create(
            zone_id=zone_id, type="TXT", name="_acme-challenge", content='"token-value"', ttl=60
        )
    )
    assert created.name == "_acme-challenge.example.com"
    assert created.ttl == 60
    found = list(
        sdk.dns.records.list(
            zone_id=zone_id,
            type="TXT",
            name={"exact": "_acme-challenge.example.com"},
            content={"exact": '"token-value"'},
        )
    )
    assert [record.id for record in found] == [created.id]
    assert present(sdk.dns.records.delete(created.id, zone_id=zone_id)).id == created.id
    assert list(sdk.dns.records.list(zone_id=zone_id, type="TXT")) == []
    assert emulator.records(type="TXT") == []


def test_record_list_filters_combine_with_match_any(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    emulator.add_record("example.com", "A", "a", "192.0.2.1")
    emulator.add_record("example.com", "TXT", "b", "x")
    emulator.add_record("example.com", "TXT", "c", "y")
    sdk = client(emulator)
    any_of = sdk.dns.records.list(zone_id=zone_id, type="A", content={"exact": "y"}, match="any")
    assert sorted(record.name for record in any_of) == ["a.example.com", "c.example.com"]
    all_of = sdk.dns.records.list(zone_id=zone_id, type="A", content={"exact": "y"})
    assert list(all_of) == []


def test_name_outside_the_zone_is_taken_as_relative(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    created = present_record(
        client(emulator).dns.records.create(
            zone_id=zone_id, type="TXT", name="_acme-challenge.other.org", content="v", ttl=1
        )
    )
    assert created.name == "_acme-challenge.other.org.example.com"


def test_identical_record_gets_400_and_81058(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    sdk = client(emulator)
    sdk.dns.records.create(zone_id=zone_id, type="TXT", name="x", content="v", ttl=60)
    error = error_of(
        lambda: sdk.dns.records.create(
            zone_id=zone_id, type="TXT", name="x.example.com", content="v", ttl=120
        )
    )
    assert (error.status_code, codes(error)) == (400, [81058])


def test_cname_clashes_only_with_address_and_cname_records(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    emulator.add_record("example.com", "A", "host", "192.0.2.1")
    emulator.add_record("example.com", "CNAME", "alias", "host.example.com")
    sdk = client(emulator)
    on_address = error_of(
        lambda: sdk.dns.records.create(
            zone_id=zone_id, type="CNAME", name="host", content="elsewhere.example.net", ttl=1
        )
    )
    on_alias = error_of(
        lambda: sdk.dns.records.create(
            zone_id=zone_id, type="AAAA", name="alias", content="2001:db8::1", ttl=1
        )
    )
    assert codes(on_address) == [81053]
    assert codes(on_alias) == [81054]
    # Cloudflare lets a TXT record sit beside a CNAME.
    sdk.dns.records.create(zone_id=zone_id, type="TXT", name="alias", content="v", ttl=1)


def test_invalid_ttl_gets_1004_with_9021(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    error = error_of(
        lambda: client(emulator).dns.records.create(
            zone_id=zone_id, type="TXT", name="x", content="v", ttl=30
        )
    )
    assert (error.status_code, codes(error)) == (400, [1004])
    assert isinstance(error.body, dict)
    assert error.body["errors"][0]["error_chain"][0]["code"] == 9021


def test_deleting_an_unknown_record_gets_404_and_81044(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    error = error_of(lambda: client(emulator).dns.records.delete("0" * 32, zone_id=zone_id))
    assert (error.status_code, codes(error)) == (404, [81044])


def test_unquoted_txt_is_flagged_but_served_like_quoted(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{emulator.base_url}/zones/{zone_id}/dns_records"
    bare = httpx.post(url, headers=headers, json={"type": "TXT", "name": "a", "content": "v 1"})
    quoted = httpx.post(url, headers=headers, json={"type": "TXT", "name": "b", "content": '"v 1"'})
    assert "quotation marks" in bare.json()["messages"][0]["message"]
    assert quoted.json()["messages"] == []
    assert bare.json()["result"]["content"] == "v 1"
    nameserver = emulator.nameservers[0].address
    assert txt_values(ask(emulator, nameserver, "a.example.com", "TXT")) == {"v 1"}
    assert txt_values(ask(emulator, nameserver, "b.example.com", "TXT")) == {"v 1"}


# --------------------------------------------------------------------------- permissions


def test_scoped_token_sees_only_its_zones(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("example.com")
    other_id = emulator.add_zone("example.net")
    emulator.add_token(OTHER_TOKEN, zones=["example.com"])
    sdk = client(emulator, OTHER_TOKEN)
    assert [zone.name for zone in sdk.zones.list()] == ["example.com"]
    zone_error = error_of(lambda: sdk.zones.get(zone_id=other_id))
    records_error = error_of(lambda: list(sdk.dns.records.list(zone_id=other_id)))
    assert (zone_error.status_code, codes(zone_error)) == (403, [9109])
    assert (records_error.status_code, codes(records_error)) == (403, [10000])


def test_dns_edit_only_token_cannot_read_zones_but_can_edit_records(
    emulator: CloudflareEmulator,
) -> None:
    zone_id = emulator.add_zone("example.com")
    emulator.add_token(OTHER_TOKEN, zone_read=False, dns_read=False)
    sdk = client(emulator, OTHER_TOKEN)
    assert error_of(lambda: list(sdk.zones.list())).status_code == 403
    assert error_of(lambda: sdk.zones.get(zone_id=zone_id)).status_code == 403
    created = present_record(
        sdk.dns.records.create(zone_id=zone_id, type="TXT", name="x", content="v", ttl=60)
    )
    assert [record.id for record in sdk.dns.records.list(zone_id=zone_id)] == [created.id]
    sdk.dns.records.delete(created.id, zone_id=zone_id)


def test_token_without_dns_edit_gets_403_and_10000_on_writes(
    emulator: CloudflareEmulator,
) -> None:
    zone_id = emulator.add_zone("example.com")
    record_id = emulator.add_record("example.com", "TXT", "x", "v")
    emulator.add_token(OTHER_TOKEN, dns_edit=False)
    sdk = client(emulator, OTHER_TOKEN)
    create = error_of(
        lambda: sdk.dns.records.create(zone_id=zone_id, type="TXT", name="y", content="v", ttl=1)
    )
    delete = error_of(lambda: sdk.dns.records.delete(record_id, zone_id=zone_id))
    assert (create.status_code, codes(create)) == (403, [10000])
    assert (delete.status_code, codes(delete)) == (403, [10000])
    assert len(list(sdk.dns.records.list(zone_id=zone_id))) == 1


# --------------------------------------------------------------------------- rate limits


def test_injected_rate_limit_answers_429_971_with_retry_after(
    emulator: CloudflareEmulator,
) -> None:
    emulator.inject_rate_limit(2, retry_after=7)
    sdk = client(emulator)
    for _ in range(2):
        error = error_of(sdk.user.tokens.verify)
        assert (error.status_code, codes(error)) == (429, [971])
        assert error.response.headers["Retry-After"] == "7"
    assert present(sdk.user.tokens.verify()).status == "active"


def test_exceeding_the_request_budget_blocks_the_user_for_the_window() -> None:
    emulator = CloudflareEmulator(rate_limit=3, rate_window=60.0)
    emulator.add_token(TOKEN)
    emulator.add_token(OTHER_TOKEN, user="someone-else@example.com")
    with emulator:
        sdk = client(emulator)
        for _ in range(3):
            sdk.user.tokens.verify()
        error = error_of(sdk.user.tokens.verify)
        assert (error.status_code, codes(error)) == (429, [971])
        assert int(error.response.headers["Retry-After"]) == 60
        assert error_of(sdk.user.tokens.verify).status_code == 429
        assert present(client(emulator, OTHER_TOKEN).user.tokens.verify()).status == "active"


# --------------------------------------------------------------------------- DNS side


def test_each_nameserver_serves_a_change_after_its_own_delay() -> None:
    emulator = CloudflareEmulator(nameserver_delays=(0.0, 1.0))
    zone_id = emulator.add_zone("example.com")
    emulator.add_token(TOKEN)
    with emulator:
        prompt, lagging = (nameserver.address for nameserver in emulator.nameservers)
        name = "_acme-challenge.example.com"
        created = present_record(
            client(emulator).dns.records.create(
                zone_id=zone_id, type="TXT", name=name, content="v", ttl=60
            )
        )
        assert txt_values(ask(emulator, prompt, name, "TXT")) == {"v"}
        assert txt_values(ask(emulator, lagging, name, "TXT")) == set()
        waited = wait_for(lambda: txt_values(ask(emulator, lagging, name, "TXT")) == {"v"})
        assert 0.7 <= waited <= 1.5

        emulator.set_nameserver_delay(1, 0.3)
        client(emulator).dns.records.delete(created.id, zone_id=zone_id)
        assert txt_values(ask(emulator, prompt, name, "TXT")) == set()
        assert txt_values(ask(emulator, lagging, name, "TXT")) == {"v"}
        wait_for(lambda: txt_values(ask(emulator, lagging, name, "TXT")) == set())


def test_resolver_sees_a_record_only_once_the_most_lagging_nameserver_does() -> None:
    emulator = CloudflareEmulator(nameserver_delays=(0.0, 0.0, 0.4))
    zone_id = emulator.add_zone("example.com")
    emulator.add_token(TOKEN)
    with emulator:
        client(emulator).dns.records.create(
            zone_id=zone_id, type="TXT", name="x", content="v", ttl=60
        )
        early = ask(emulator, emulator.resolver_address, "x.example.com", "TXT")
        assert early.rcode() == dns.rcode.NXDOMAIN
        assert early.flags & dns.flags.RA and not early.flags & dns.flags.AA
        wait_for(
            lambda: (
                txt_values(ask(emulator, emulator.resolver_address, "x.example.com", "TXT"))
                == {"v"}
            )
        )


def test_resolver_follows_a_cname_chain_into_another_zone(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("example.com")
    emulator.add_zone("acme-delegate.example.org")
    emulator.add_record(
        "example.com", "CNAME", "_acme-challenge", "_acme-challenge.acme-delegate.example.org"
    )
    emulator.add_record("acme-delegate.example.org", "TXT", "_acme-challenge", '"delegated"')
    response = ask(emulator, emulator.resolver_address, "_acme-challenge.example.com", "TXT")
    assert [dns.rdatatype.to_text(rrset.rdtype) for rrset in response.answer] == ["CNAME", "TXT"]
    assert txt_values(response) == {"delegated"}


def test_negative_answers_distinguish_nxdomain_from_nodata_and_carry_the_soa(
    emulator: CloudflareEmulator,
) -> None:
    emulator.add_zone("example.com")
    emulator.add_record("example.com", "A", "deep.below", "192.0.2.1")
    nameserver = emulator.nameservers[0].address
    missing = ask(emulator, nameserver, "nothing.example.com", "TXT")
    no_data = ask(emulator, nameserver, "deep.below.example.com", "TXT")
    empty_non_terminal = ask(emulator, nameserver, "below.example.com", "A")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert no_data.rcode() == empty_non_terminal.rcode() == dns.rcode.NOERROR
    for response in (missing, no_data, empty_non_terminal):
        assert response.flags & dns.flags.AA
        assert response.answer == []
        (soa,) = response.authority
        assert soa.rdtype == dns.rdatatype.SOA
        assert soa.name.to_text() == "example.com."
        assert soa[0].mname.to_text() == "ada.ns.cloudflare.com."


def test_wildcard_answers_only_for_names_that_do_not_exist(
    emulator: CloudflareEmulator,
) -> None:
    emulator.add_zone("example.com")
    emulator.add_record("example.com", "A", "*", "192.0.2.7")
    emulator.add_record("example.com", "TXT", "real", "v")
    nameserver = emulator.nameservers[0].address
    synthesized = ask(emulator, nameserver, "anything.example.com", "A")
    assert synthesized.answer[0].name.to_text() == "anything.example.com."
    assert ask(emulator, nameserver, "anything.example.com", "TXT").rcode() == dns.rcode.NOERROR
    assert ask(emulator, nameserver, "real.example.com", "A").answer == []


def test_names_outside_every_zone_are_refused(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("example.com")
    response = ask(emulator, emulator.nameservers[0].address, "example.org", "A")
    assert response.rcode() == dns.rcode.REFUSED


def test_nameserver_names_resolve_and_come_as_glue(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("example.com")
    for server in [nameserver.address for nameserver in emulator.nameservers] + [
        emulator.resolver_address
    ]:
        answer = ask(emulator, server, "bob.ns.cloudflare.com", "A").answer
        assert [rdata.address for rrset in answer for rdata in rrset] == ["127.0.53.2"]
    response = ask(emulator, emulator.resolver_address, "example.com", "NS")
    assert sorted(rdata.target.to_text() for rdata in response.answer[0]) == [
        "ada.ns.cloudflare.com.",
        "bob.ns.cloudflare.com.",
        "cruz.ns.cloudflare.com.",
    ]
    assert {rrset.name.to_text() for rrset in response.additional} >= {"ada.ns.cloudflare.com."}


def test_large_answer_is_truncated_over_udp_and_whole_over_tcp(
    emulator: CloudflareEmulator,
) -> None:
    emulator.add_zone("example.com")
    for number in range(12):
        emulator.add_record("example.com", "TXT", "big", f"{number:02d}" + "x" * 98)
    nameserver = emulator.nameservers[0].address
    over_udp = ask(emulator, nameserver, "big.example.com", "TXT")
    over_tcp = ask(emulator, nameserver, "big.example.com", "TXT", tcp=True)
    assert over_udp.flags & dns.flags.TC
    assert not over_tcp.flags & dns.flags.TC
    assert len(txt_values(over_tcp)) == 12


def test_dns_queries_are_logged_with_their_answers(emulator: CloudflareEmulator) -> None:
    emulator.add_zone("example.com")
    emulator.add_record("example.com", "TXT", "x", '"v"')
    ask(emulator, emulator.nameservers[1].address, "x.example.com", "TXT")
    (query,) = emulator.dns_queries
    assert (query.server, query.qname, query.qtype, query.answers) == (
        "127.0.53.2",
        "x.example.com",
        "TXT",
        ('"v"',),
    )
    emulator.clear_logs()
    assert emulator.dns_queries == []


def test_emulators_start_on_fresh_ports_and_stop_closes_them() -> None:
    ports: list[tuple[str, int]] = []
    for _ in range(2):
        emulator = CloudflareEmulator()
        emulator.add_zone("example.com")
        with emulator:
            ports.append((emulator.base_url, emulator.dns_port))
            assert ask(emulator, emulator.resolver_address, "example.com", "SOA").answer
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{ports[-1][0]}/zones", timeout=1)
    assert ports[0] != ports[1]


def test_add_record_refuses_what_the_api_would_refuse() -> None:
    emulator = CloudflareEmulator()
    emulator.add_zone("example.com")
    with pytest.raises(ValueError, match="9005"):
        emulator.add_record("example.com", "A", "x", "not-an-address")
