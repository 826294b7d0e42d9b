"""Certificate profiles end to end: `--profile` (required), `--preferred-profile` (falls back
to the CA's default), both stored and honoured on renewal, `list` with profile and lifetime,
short-lived certificates renewed at half life, and Must-Staple refused for Let's Encrypt.

Let's Encrypt's three profiles need a Pebble of their own: the shared bed offers `classic`
alone (an order naming no profile gets a random one of those offered at Pebble)."""

from __future__ import annotations

import datetime
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from acmecf.sandbox.pebble import LETS_ENCRYPT_PROFILES
from acmecf.sandbox.testbed import Sandbox, start_sandbox
from acmecf.settings.table import LETSENCRYPT, LETSENCRYPT_STAGING

from .conftest import ZONES, Acmecf
from .states import ask_ari_now, leaf, lifetime, stored, travel, versions

UTC = datetime.UTC
SHORT = datetime.timedelta(hours=160)


@pytest.fixture(scope="module")
def profiled(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A second bed whose Pebble offers classic, tlsserver and shortlived. (It asks for the
    shared `sandbox` first, which skips or fails the module without a current Pebble.)"""
    bed = start_sandbox(
        tmp_path_factory.mktemp("profiled"), zones=ZONES, profiles=LETS_ENCRYPT_PROFILES
    )
    try:
        yield bed
    finally:
        bed.stop()


@pytest.fixture
def on_profiled(profiled: Sandbox, tmp_path: Path) -> Acmecf:
    return Acmecf(profiled, tmp_path / "profiled-config")


def listed(acmecf: Acmecf, name: str) -> dict[str, object]:
    rows = json.loads(acmecf("list", "--json").stdout)["certificates"]
    return next(row for row in rows if row["name"] == name)


def test_shortlived_lasts_160_hours_and_is_listed_with_its_profile(on_profiled: Acmecf) -> None:
    result = on_profiled.issue("short.example.com", extra=("--profile", "shortlived"))
    assert result.code == 0, result.output
    assert lifetime(leaf(on_profiled.live("short.example.com"))) == SHORT
    row = listed(on_profiled, "short.example.com")
    assert row["profile"] == "shortlived"
    assert row["lifetime_seconds"] == SHORT.total_seconds() - 1
    table = on_profiled("list").stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "DOMAINS", "KEY", "PROFILE", "LIFETIME"]
    line = next(line for line in table if line.startswith("short.example.com"))
    assert line.split()[3:5] == ["shortlived", "160h"]


def test_shortlived_renews_at_half_life_without_a_usable_renewal_window(
    on_profiled: Acmecf, profiled: Sandbox
) -> None:
    name = "half.example.com"
    assert on_profiled.issue(name, extra=("--profile", "shortlived")).code == 0
    config = on_profiled.config_dir
    # The CA's renewalInfo now answers a window that ends before it starts, which RFC 9773
    # §4.2 counts as no answer: acmecf falls back on its own schedule.
    pem = leaf(on_profiled.live(name)).public_bytes(serialization.Encoding.PEM)
    broken = {"suggestedWindow": {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}}
    profiled.pebble.set_renewal_info(pem, broken)
    ask_ari_now(config, name)
    checked = on_profiled("renew")
    assert checked.code == 0, checked.output
    assert checked.stdout == ""
    assert "renewal information is unusable" in checked.stderr
    state = stored(config, name).state
    assert state.not_before is not None and state.not_after is not None
    assert state.ari_renew_at is None
    half = state.not_before + (state.not_after - state.not_before) / 2
    row = listed(on_profiled, name)
    assert row["renewal_basis"] == "lifetime"
    assert row["next_renewal"] == half.isoformat(), "half of 160 hours, not a third left"

    # 79 hours on: not due yet. 81 hours on: past half its life, it is renewed.
    travel(config, name, datetime.timedelta(hours=79))
    ask_ari_now(config, name)
    early = on_profiled("renew")
    assert (early.code, early.stdout) == (0, ""), early.output
    travel(config, name, datetime.timedelta(hours=2))
    renewed = on_profiled("renew")
    assert renewed.code == 0, renewed.output
    assert f"{name} is due: " in renewed.stderr and "past half of its short lifetime" in (
        renewed.stderr
    )
    assert f"renewed {name}" in renewed.stdout
    assert versions(config, name) == ["0001", "0002"]
    assert lifetime(leaf(on_profiled.live(name))) == SHORT, "the profile is kept on renewal"


def test_a_required_profile_is_honoured_on_renewal(on_profiled: Acmecf) -> None:
    name = "tls.example.com"
    assert on_profiled.issue(name, extra=("--profile", "tlsserver")).code == 0
    for _ in range(2):  # an order naming no profile would get each one a third of the time
        assert on_profiled("renew", "--force").code == 0
        assert lifetime(leaf(on_profiled.live(name))) == datetime.timedelta(days=45)
        assert stored(on_profiled.config_dir, name).state.profile == "tlsserver"
    settings = tomllib.loads((on_profiled.config_dir / f"renewal/{name}.toml").read_text())
    assert settings["certificate"]["profile"] == "tlsserver"


def test_a_preferred_profile_is_used_when_the_ca_offers_it(on_profiled: Acmecf) -> None:
    name = "prefers-short.example.com"
    result = on_profiled.issue(name, extra=("--preferred-profile", "shortlived"))
    assert result.code == 0, result.output
    assert "offers no profile" not in result.stderr
    assert lifetime(leaf(on_profiled.live(name))) == SHORT


def test_a_preferred_profile_the_ca_lacks_falls_back_to_its_default_with_a_notice(
    acmecf: Acmecf,
) -> None:
    # The shared bed offers classic alone, Let's Encrypt's default.
    name = "prefers.example.com"
    result = acmecf.issue(name, extra=("--preferred-profile", "shortlived"))
    assert result.code == 0, result.output
    notice = [line for line in result.stderr.splitlines() if "offers no profile" in line]
    assert len(notice) == 1
    assert notice[0].startswith("warning: the CA at ")
    assert notice[0].endswith(
        "offers no profile 'shortlived' (it offers classic): ordering its default profile"
    )
    assert lifetime(leaf(acmecf.live(name))) == datetime.timedelta(days=90)
    settings = tomllib.loads((acmecf.config_dir / f"renewal/{name}.toml").read_text())
    assert settings["certificate"]["preferred_profile"] == "shortlived"
    assert "profile" not in settings["certificate"]
    row = listed(acmecf, name)
    assert row["profile"] == "classic", "what the CA issued"
    renewed = acmecf("renew", "--force")
    assert renewed.code == 0, renewed.output
    assert "offers no profile 'shortlived'" in renewed.stderr, "stored and asked again"


def test_profile_and_preferred_profile_exclude_each_other(acmecf: Acmecf) -> None:
    result = acmecf.issue(
        "both.example.com", extra=("--profile", "classic", "--preferred-profile", "shortlived")
    )
    assert result.code == 2
    assert result.stderr.strip() == (
        "acmecf: error: --profile and --preferred-profile exclude each other: give one"
    )


@pytest.mark.parametrize(
    "server", [("--staging",), ("--server", LETSENCRYPT), ("--server", LETSENCRYPT_STAGING)]
)
def test_must_staple_is_refused_for_lets_encrypt(
    acmecf: Acmecf, sandbox: Sandbox, server: tuple[str, ...]
) -> None:
    result = acmecf.issue(
        "staple.example.com", extra=("--must-staple", *server), ACMECF_SERVER=None
    )
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "acmecf: error: Let's Encrypt no longer issues OCSP Must-Staple certificates (since 7 "
        "May 2025): leave out --must-staple"
    ]
    assert sandbox.emulator.requests == []
    assert not (acmecf.config_dir / "renewal").exists()
