"""The settings table: one declaration per stored setting, and what is derived from it."""

from __future__ import annotations

import dataclasses

import pytest

from acmecf.errors import SettingError
from acmecf.settings.table import (
    BY_NAME,
    SETTINGS,
    CertificateSettings,
    environment_overrides,
    merge,
    settings_from_mapping,
    to_mapping,
)


def test_every_setting_is_a_field_and_every_field_a_setting() -> None:
    fields = {f.name for f in dataclasses.fields(CertificateSettings)} - {"cert_name"}
    assert fields == {s.name for s in SETTINGS}


def test_each_default_is_the_dataclass_default() -> None:
    defaults = CertificateSettings(cert_name="x", names=("x.example.com",))
    for setting in SETTINGS:
        if setting.name != "names":
            assert getattr(defaults, setting.name) == setting.default, setting.name


def test_every_setting_with_a_flag_round_trips_through_the_stored_tables() -> None:
    settings = CertificateSettings(
        cert_name="example.com",
        names=("example.com", "*.example.com"),
        deploy_hooks=("systemctl reload nginx",),
        validation_timeout=120.0,
        reuse_key=True,
    )
    assert settings_from_mapping("example.com", to_mapping(settings)) == settings


def test_environment_variables_come_from_the_table() -> None:
    overrides = environment_overrides(
        {
            "ACMECF_KEY_TYPE": "rsa-2048",
            "ACMECF_DNS_RESOLVER": "127.0.0.1:5353, 127.0.0.2",
            "ACMECF_REUSE_KEY": "yes",
            "ACMECF_DEPLOY_HOOK": "systemctl reload nginx",
            "ACMECF_PROPAGATION_TIMEOUT": "2m",
            "ACMECF_SERVER": "",  # empty counts as unset
        }
    )
    assert overrides == {
        "key_type": "rsa-2048",
        "dns_resolvers": ("127.0.0.1:5353", "127.0.0.2"),
        "reuse_key": True,
        "deploy_hooks": ("systemctl reload nginx",),
        "propagation_timeout": 120.0,
    }


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACMECF_KEY_TYPE", "dsa"),
        ("ACMECF_SERVER", "http://insecure.example/dir"),
        ("ACMECF_NAMESERVER_PORT", "99999"),
        ("ACMECF_REUSE_KEY", "perhaps"),
        ("ACMECF_ZONE_ID", "not-a-zone-id"),
    ],
)
def test_a_bad_environment_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(SettingError) as caught:
        environment_overrides({variable: value})
    assert caught.value.key == variable


def test_names_have_no_environment_variable() -> None:
    assert BY_NAME["names"].environment_variable is None


def test_later_layers_win_and_unknown_names_are_a_bug() -> None:
    base = CertificateSettings(cert_name="x", names=("x.example.com",))
    merged = merge(base, {"key_type": "rsa-2048"}, {"key_type": "ecdsa-p384"})
    assert merged.key_type == "ecdsa-p384"
    with pytest.raises(KeyError):
        merge(base, {"no_such_setting": 1})
