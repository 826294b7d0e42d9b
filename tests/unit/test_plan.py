"""What `acmecf issue` does for a certificate asked for again (lifecycle.plan)."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from acmecf.errors import UsageError
from acmecf.lifecycle.plan import plan_issue
from acmecf.settings.table import CertificateSettings
from acmecf.storage.model import CertificateState, StoredCertificate

UTC = datetime.UTC
ISSUED = datetime.datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = CertificateSettings(cert_name="app", names=("app.example.com", "api.example.com"))
VALID = CertificateState(not_before=ISSUED, not_after=ISSUED + datetime.timedelta(days=90))
EXISTING = StoredCertificate(SETTINGS, VALID)
NOW = ISSUED + datetime.timedelta(days=10)


def test_a_new_certificate_is_ordered() -> None:
    assert plan_issue(None, SETTINGS, NOW).order


def test_the_same_names_and_settings_order_nothing_and_say_when_it_renews() -> None:
    plan = plan_issue(EXISTING, SETTINGS, NOW)
    assert not plan.order
    assert plan.changed == ()
    assert plan.renews_at == ISSUED + datetime.timedelta(days=60)


def test_the_same_names_in_another_order_order_nothing() -> None:
    swapped = dataclasses.replace(SETTINGS, names=("api.example.com", "app.example.com"))
    plan = plan_issue(EXISTING, swapped, NOW)
    assert not plan.order and plan.changed == ("names",)


@pytest.mark.parametrize(
    "change",
    [
        {"deploy_hooks": ("systemctl reload nginx",)},
        {"zone_id": "023e105f4ecef8ad9ca31a8372d0c353"},
        {"reuse_key": True},
        {"challenge": "dns-persist-01"},
        {"propagation_timeout": 300.0},
    ],
)
def test_a_setting_that_needs_no_new_certificate_is_only_stored(change: dict[str, object]) -> None:
    plan = plan_issue(EXISTING, dataclasses.replace(SETTINGS, **change), NOW)  # type: ignore[arg-type]
    assert not plan.order
    assert plan.changed == tuple(change)


@pytest.mark.parametrize(
    "change",
    [
        {"key_type": "rsa-2048"},
        {"server": "https://acme.example/directory"},
        {"issuer": "cloudflare-origin-ca"},
        {"profile": "shortlived"},
        {"preferred_profile": "tlsserver"},
        {"must_staple": True},
        {"preferred_chain": "ISRG Root X2"},
    ],
)
def test_a_setting_that_changes_what_the_ca_signs_orders(change: dict[str, object]) -> None:
    plan = plan_issue(EXISTING, dataclasses.replace(SETTINGS, **change), NOW)  # type: ignore[arg-type]
    assert plan.order
    assert plan.reason == f"{next(iter(change))} changed"


def test_force_orders_anyway() -> None:
    assert plan_issue(EXISTING, SETTINGS, NOW, force=True).order


def test_a_due_certificate_is_ordered() -> None:
    plan = plan_issue(EXISTING, SETTINGS, ISSUED + datetime.timedelta(days=61))
    assert plan.order and "less than a third" in plan.reason
    never = StoredCertificate(SETTINGS, CertificateState())
    assert plan_issue(never, SETTINGS, NOW).order


def test_added_names_order() -> None:
    more = dataclasses.replace(SETTINGS, names=(*SETTINGS.names, "www.example.com"))
    plan = plan_issue(EXISTING, more, NOW)
    assert plan.order and plan.reason == "the name set changed (it adds www.example.com)"


def test_dropping_names_needs_consent_and_says_which() -> None:
    fewer = dataclasses.replace(SETTINGS, names=("app.example.com",))
    with pytest.raises(UsageError) as refused:
        plan_issue(EXISTING, fewer, NOW)
    assert str(refused.value) == (
        "app also covers api.example.com: a certificate for app.example.com alone would drop "
        "it; pass --allow-fewer-names to drop it, or add it with -d"
    )
    plan = plan_issue(EXISTING, fewer, NOW, allow_fewer_names=True)
    assert plan.order and plan.dropped == ("api.example.com",)
