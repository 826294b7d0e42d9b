"""The DNS provider contract suite (dns/provider.py), as libdns's libdnstest has it: run
against a fake and against CloudflareDns on the emulator. A new provider adds a factory and
must pass every test unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.credentials import Credentials
from acmecf.cloudflare.dns import CloudflareDns, unquoted
from acmecf.errors import ZoneNotFoundError
from acmecf.sandbox.emulator import CloudflareEmulator

from ..testbed.sdk_helpers import running_emulator
from ..unit.fakes import FakeDns

TOKEN = "C" * 40
NAME = "_acme-challenge.www.example.com"


class Harness:
    """A provider, a way to read back what it holds (the values at a name), and a second
    instance of the same provider (a later run, which knows nothing the first learned)."""

    def __init__(
        self, provider: Any, values: Callable[[str], list[str]], fresh: Callable[[], Any]
    ) -> None:
        self.provider = provider
        self.values = values
        self.fresh = fresh


@pytest.fixture(scope="module")
def emulator() -> Iterator[CloudflareEmulator]:
    with running_emulator("example.com", token=TOKEN) as emulator:
        yield emulator


def _fake() -> Harness:
    fake = FakeDns()
    return Harness(fake, lambda name: sorted(v for n, v in fake.records if n == name), lambda: fake)


def _cloudflare(emulator: CloudflareEmulator) -> Harness:
    api = CloudflareApi(Credentials(token=TOKEN), base_url=emulator.base_url)

    def values(name: str) -> list[str]:
        return sorted(
            unquoted(str(r["content"])) for r in emulator.records(type="TXT") if r["name"] == name
        )

    return Harness(CloudflareDns(api), values, lambda: CloudflareDns(api))


@pytest.fixture(params=["fake", "cloudflare"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "fake":
        return _fake()
    harness = _cloudflare(request.getfixturevalue("emulator"))
    for value in harness.values(NAME):
        harness.provider.cleanup(NAME, value)
    return harness


def test_present_creates_the_record(harness: Harness) -> None:
    harness.provider.present(NAME, "value-1")
    assert harness.values(NAME) == ["value-1"]
    harness.provider.cleanup(NAME, "value-1")


def test_present_is_idempotent(harness: Harness) -> None:
    harness.provider.present(NAME, "value-1")
    harness.provider.present(NAME, "value-1")
    assert harness.values(NAME) == ["value-1"]
    harness.provider.cleanup(NAME, "value-1")
    assert harness.values(NAME) == []


def test_present_never_changes_another_value_at_the_same_name(harness: Harness) -> None:
    harness.provider.present(NAME, "apex")
    harness.provider.present(NAME, "wildcard")
    assert harness.values(NAME) == ["apex", "wildcard"]
    harness.provider.cleanup(NAME, "apex")
    assert harness.values(NAME) == ["wildcard"], "cleanup removes exactly one record"
    harness.provider.cleanup(NAME, "wildcard")


def test_cleanup_of_a_missing_record_is_no_error(harness: Harness) -> None:
    harness.provider.cleanup(NAME, "never-created")
    harness.provider.present(NAME, "value-1")
    harness.provider.cleanup(NAME, "value-1")
    harness.provider.cleanup(NAME, "value-1")
    assert harness.values(NAME) == []


def test_a_name_in_no_zone_is_refused_before_anything_is_created(harness: Harness) -> None:
    with pytest.raises(ZoneNotFoundError):
        harness.provider.zone_for("_acme-challenge.www.not-here.org")
    with pytest.raises(ZoneNotFoundError):
        harness.provider.present("_acme-challenge.www.not-here.org", "v")


def test_a_later_instance_removes_a_record_by_name_and_value(harness: Harness) -> None:
    harness.provider.present(NAME, "left-by-a-dead-run")
    harness.provider.present(NAME, "still-wanted")
    harness.fresh().cleanup(NAME, "left-by-a-dead-run")
    assert harness.values(NAME) == ["still-wanted"]
    harness.provider.cleanup(NAME, "still-wanted")
