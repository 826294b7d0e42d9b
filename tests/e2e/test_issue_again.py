"""`acmecf issue` run again respects the CA's limits: with the same names and settings it orders
nothing while the certificate is valid and not due, a changed setting that needs no new
certificate is only stored, `--force-renewal` orders anyway, a changed name set orders, and
dropping names needs `--allow-fewer-names`."""

from __future__ import annotations

import datetime
import json
import tomllib

from cryptography import x509

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf
from .states import NEW_ORDER, leaf, pebble_count, stored, travel, versions


def names_of(acmecf: Acmecf, name: str) -> list[str]:
    san = leaf(acmecf.live(name)).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return sorted(san.value.get_values_for_type(x509.DNSName))


def test_a_second_issue_orders_nothing_and_says_when_it_renews(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    name = "again.example.com"
    assert acmecf.issue(name).code == 0
    orders = pebble_count(sandbox, NEW_ORDER)
    sandbox.emulator.clear_logs()
    renew_at = stored(acmecf.config_dir, name).state.ari_renew_at
    assert renew_at is not None

    result = acmecf.issue(name)

    assert result.code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Certificate {name} is valid until "
        f"{stored(acmecf.config_dir, name).state.not_after:%Y-%m-%d %H:%M} UTC and not due: "
        f"ordered nothing; it renews around {renew_at:%Y-%m-%d %H:%M} UTC (`acmecf renew`; "
        "--force-renewal renews now)"
    ]
    assert result.stderr == ""
    assert pebble_count(sandbox, NEW_ORDER) == orders
    assert sandbox.emulator.requests == []
    assert versions(acmecf.config_dir, name) == ["0001"]
    document = json.loads(acmecf.issue(name, extra=("--json",)).stdout)
    [record] = document["certificates"]
    assert (document["ok"], record["outcome"]) == (True, "not_due")
    assert record["reason"] == result.stdout.strip()


def test_a_changed_setting_that_needs_no_new_certificate_is_stored_without_ordering(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    name = "hooked.example.com"
    assert acmecf.issue(name).code == 0
    orders = pebble_count(sandbox, NEW_ORDER)
    result = acmecf.issue(name, extra=("--deploy-hook", "true", "--propagation-timeout", "5m"))
    assert result.code == 0, result.output
    assert "stored the new --propagation-timeout, --deploy-hook; ordered nothing" in result.stdout
    settings = tomllib.loads((acmecf.config_dir / f"renewal/{name}.toml").read_text())
    assert settings["hooks"]["deploy"] == ["true"]
    assert settings["certificate"]["propagation_timeout"] == 300
    assert pebble_count(sandbox, NEW_ORDER) == orders
    assert versions(acmecf.config_dir, name) == ["0001"]
    # A setting that changes what the CA signs orders a new certificate.
    rekeyed = acmecf.issue(name, extra=("--key-type", "rsa-2048"))
    assert rekeyed.code == 0, rekeyed.output
    assert f"Certificate {name} issued" in rekeyed.stdout
    assert versions(acmecf.config_dir, name) == ["0001", "0002"]


def test_force_renewal_orders_anyway(acmecf: Acmecf) -> None:
    name = "forced.example.com"
    assert acmecf.issue(name).code == 0
    first = leaf(acmecf.live(name)).serial_number
    result = acmecf.issue(name, extra=("--force-renewal",))
    assert result.code == 0, result.output
    assert f"Certificate {name} issued" in result.stdout
    assert leaf(acmecf.live(name)).serial_number != first
    assert versions(acmecf.config_dir, name) == ["0001", "0002"]


def test_a_due_certificate_is_ordered_again(acmecf: Acmecf) -> None:
    name = "due.example.com"
    assert acmecf.issue(name).code == 0
    travel(acmecf.config_dir, name, datetime.timedelta(days=75))
    result = acmecf.issue(name)
    assert result.code == 0, result.output
    assert f"Certificate {name} issued" in result.stdout
    assert versions(acmecf.config_dir, name) == ["0001", "0002"]


def test_more_names_order_a_new_certificate_and_fewer_need_the_flag(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    name = "app.example.com"
    assert acmecf.issue(name).code == 0
    grown = acmecf.issue(name, "api.example.com", extra=("--cert-name", name))
    assert grown.code == 0, grown.output
    assert names_of(acmecf, name) == ["api.example.com", "app.example.com"]
    assert versions(acmecf.config_dir, name) == ["0001", "0002"]

    orders = pebble_count(sandbox, NEW_ORDER)
    refused = acmecf.issue(name)
    assert refused.code == 2
    assert refused.stderr.splitlines() == [
        f"acmecf: error: {name} also covers api.example.com: a certificate for {name} alone "
        "would drop it; pass --allow-fewer-names to drop it, or add it with -d"
    ]
    assert pebble_count(sandbox, NEW_ORDER) == orders
    assert names_of(acmecf, name) == ["api.example.com", "app.example.com"]
    assert stored(acmecf.config_dir, name).settings.names == (name, "api.example.com")

    shrunk = acmecf.issue(name, extra=("--allow-fewer-names",))
    assert shrunk.code == 0, shrunk.output
    assert shrunk.stdout.splitlines()[0] == f"{name}: the new certificate drops api.example.com"
    assert names_of(acmecf, name) == [name]
    assert stored(acmecf.config_dir, name).settings.names == (name,)
    assert versions(acmecf.config_dir, name) == ["0001", "0002", "0003"]
