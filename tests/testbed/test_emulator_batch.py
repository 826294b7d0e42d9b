"""DNS record batches, updates and quotas as the real API runs them, through the SDK.

https://developers.cloudflare.com/dns/manage-dns-records/how-to/batch-record-changes/
https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/batch/
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.query
import pytest

from acmecf.sandbox.emulator import CloudflareEmulator
from tests.testbed.sdk_helpers import TOKEN, codes, error_of, raw, running_emulator, sdk


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    with running_emulator() as emulator:
        yield emulator


def txt(name: str, content: str) -> Any:
    """A TXT record payload (typed Any: the SDK wants one TypedDict per record type)."""
    return {"type": "TXT", "name": name, "content": content, "ttl": 60}


def contents(emulator: CloudflareEmulator) -> list[str]:
    return sorted(record["content"] for record in emulator.records(type="TXT"))


def test_a_batch_runs_deletes_patches_puts_posts_in_that_order(
    emulator: CloudflareEmulator,
) -> None:
    zone_id = emulator.add_zone("example.com")
    gone = emulator.add_record("example.com", "TXT", "_acme-challenge", "old")
    patched = emulator.add_record("example.com", "TXT", "patch.example.com", "before")
    overwritten = emulator.add_record("example.com", "A", "put", "192.0.2.1", proxied=True)
    result = sdk(emulator).dns.records.batch(
        zone_id=zone_id,
        # The post reuses the deleted record's name and content: it works only because
        # deletes run first.
        posts=[txt("_acme-challenge.example.com", "old")],
        puts=[{"id": overwritten, "type": "A", "name": "put", "content": "192.0.2.2", "ttl": 1}],
        patches=[{"id": patched, "content": "after"}],  # type: ignore[list-item]
        deletes=[{"id": gone}],
    )
    assert result is not None
    assert [record.id for record in result.deletes or []] == [gone]
    assert [(r.id, r.content) for r in result.patches or []] == [(patched, "after")]
    put = (result.puts or [])[0]
    # A put resets what it does not name: proxied falls back to false.
    assert (put.id, put.content, put.proxied) == (overwritten, "192.0.2.2", False)
    assert [record.content for record in result.posts or []] == ["old"]
    assert contents(emulator) == ["after", "old"]


def test_the_request_log_counts_a_batch_s_changes_and_keeps_none_of_their_content(
    emulator: CloudflareEmulator,
) -> None:
    zone_id = emulator.add_zone("example.com")
    gone = emulator.add_record("example.com", "TXT", "_acme-challenge", "old")
    emulator.clear_logs()
    sdk(emulator).dns.records.batch(
        zone_id=zone_id,
        posts=[txt("a.example.com", "secret-one"), txt("b.example.com", "secret-two")],
        deletes=[{"id": gone}],
    )
    [request] = emulator.requests
    assert {k: n for k, n in request.changes.items() if n} == {"posts": 2, "deletes": 1}
    assert "secret" not in repr(request)


def test_a_failing_change_applies_nothing_and_returns_its_error(
    emulator: CloudflareEmulator,
) -> None:
    zone_id = emulator.add_zone("example.com")
    kept = emulator.add_record("example.com", "TXT", "keep", "kept")
    error = error_of(
        lambda: sdk(emulator).dns.records.batch(
            zone_id=zone_id,
            deletes=[{"id": kept}],
            posts=[txt("new", "one"), {"type": "A", "name": "bad", "content": "x", "ttl": 1}],
        )
    )
    assert (error.status_code, codes(error)) == (400, [9005])
    assert contents(emulator) == ["kept"]


def test_a_batch_is_one_request_for_the_rate_limit(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    emulator.set_rate_limit(2, 60.0)
    client = sdk(emulator)
    client.dns.records.batch(
        zone_id=zone_id, posts=[txt(f"n{index}", f"v{index}") for index in range(50)]
    )
    client.dns.records.batch(zone_id=zone_id, posts=[txt("one-more", "v")])
    assert len(emulator.records(type="TXT")) == 51
    assert emulator.count_requests("POST /zones/{zone_id}/dns_records/batch") == 2
    assert error_of(lambda: client.dns.records.batch(zone_id=zone_id)).status_code == 429


@pytest.mark.parametrize(("plan", "limit"), [("free", 200), ("pro", 3500), ("enterprise", 3500)])
def test_a_batch_over_the_plan_limit_is_refused_whole(
    emulator: CloudflareEmulator, plan: str, limit: int
) -> None:
    zone_id = emulator.add_zone("example.com", plan=plan)
    emulator.set_zone_quota(zone_id, records=10_000)
    deletes = [{"id": "0" * 32}] * (limit + 1)
    response = raw(
        emulator, "POST", f"/zones/{zone_id}/dns_records/batch", json={"deletes": deletes}
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == 1004
    assert str(limit) in error["error_chain"][0]["message"]
    # At the limit the batch is judged on its changes (here: unknown ids, 81044).
    response = raw(
        emulator, "POST", f"/zones/{zone_id}/dns_records/batch", json={"deletes": deletes[:limit]}
    )
    assert (response.status_code, response.json()["errors"][0]["code"]) == (404, 81044)


def test_the_batch_answer_has_the_documented_envelope(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    response = raw(emulator, "POST", f"/zones/{zone_id}/dns_records/batch", json={"posts": []})
    body = response.json()
    assert body == {
        "result": {"deletes": [], "patches": [], "puts": [], "posts": []},
        "success": True,
        "errors": [],
        "messages": [],
    }


def test_a_zone_over_its_record_quota_gets_81045(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    emulator.set_zone_quota("example.com", records=2)
    client = sdk(emulator)
    client.dns.records.create(zone_id=zone_id, type="TXT", name="a", content="1", ttl=60)
    client.dns.records.create(zone_id=zone_id, type="TXT", name="b", content="2", ttl=60)
    error = error_of(
        lambda: client.dns.records.create(
            zone_id=zone_id, type="TXT", name="c", content="3", ttl=60
        )
    )
    assert (error.status_code, codes(error)) == (400, [81045])
    assert isinstance(error.body, dict)
    assert error.body["errors"][0]["message"] == "Record quota exceeded."
    with pytest.raises(ValueError, match="81045"):
        emulator.add_record("example.com", "TXT", "d", "4")


def test_a_free_zone_refuses_tags_with_1004_and_9300_in_the_chain(
    emulator: CloudflareEmulator,
) -> None:
    zone_id = emulator.add_zone("example.com")
    response = raw(
        emulator,
        "POST",
        f"/zones/{zone_id}/dns_records",
        json={**txt("tagged", "v"), "tags": ["owner:acmecf"]},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": 1004,
            "message": "DNS Validation Error",
            "error_chain": [
                {"code": 9300, "message": "DNS record has 1 tags, exceeding the quota of 0."}
            ],
        }
    ]
    emulator.set_zone_plan(zone_id, "pro")
    created = raw(
        emulator,
        "POST",
        f"/zones/{zone_id}/dns_records",
        json={**txt("tagged", "v"), "tags": ["owner:acmecf"]},
    )
    assert created.json()["result"]["tags"] == ["owner:acmecf"]


def test_patch_keeps_unnamed_fields_and_put_resets_them(emulator: CloudflareEmulator) -> None:
    zone_id = emulator.add_zone("example.com")
    record_id = emulator.add_record("example.com", "A", "www", "192.0.2.1", proxied=True, ttl=1)
    client = sdk(emulator)
    patched = client.dns.records.edit(
        dns_record_id=record_id, zone_id=zone_id, type="A", name="www", ttl=1, content="192.0.2.9"
    )
    assert patched is not None and (patched.content, patched.proxied) == ("192.0.2.9", True)
    put = client.dns.records.update(
        dns_record_id=record_id, zone_id=zone_id, type="A", name="www", ttl=1, content="192.0.2.7"
    )
    assert put is not None and (put.id, put.content, put.proxied) == (record_id, "192.0.2.7", False)


def test_an_update_reaches_each_nameserver_after_its_delay() -> None:
    emulator = CloudflareEmulator(nameserver_delays=(0.0, 0.6))
    zone_id = emulator.add_zone("example.com")
    emulator.add_token(TOKEN)
    record_id = emulator.add_record("example.com", "TXT", "probe", "old")
    with emulator:
        sdk(emulator).dns.records.batch(
            zone_id=zone_id,
            patches=[{"id": record_id, "content": "new"}],  # type: ignore[list-item]
        )

        def served(address: str) -> list[str]:
            query = dns.message.make_query("probe.example.com", "TXT")
            response = dns.query.udp(query, address, port=emulator.dns_port, timeout=2)
            return [b"".join(r.strings).decode() for rrset in response.answer for r in rrset]

        fast, slow = (nameserver.address for nameserver in emulator.nameservers)
        assert served(fast) == ["new"]
        assert served(slow) == ["old"]
        assert served(emulator.resolver_address) == ["old"]
        time.sleep(0.7)
        assert served(slow) == ["new"]
        assert served(emulator.resolver_address) == ["new"]
