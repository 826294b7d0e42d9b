"""The settings of issue 15 (files, pruning, Origin CA validity) and the [run] section."""

from __future__ import annotations

import pytest

from acmecf.errors import SettingError, StoredFileError
from acmecf.settings.config_file import parse
from acmecf.settings.run import RunDefaults, run_defaults
from acmecf.settings.table import (
    CertificateSettings,
    environment_overrides,
    settings_from_mapping,
    to_mapping,
)


def test_the_new_settings_round_trip_through_the_stored_file() -> None:
    settings = CertificateSettings(
        cert_name="a.example.com",
        names=("a.example.com",),
        combined=True,
        pkcs12=True,
        pkcs12_password_file="/etc/acmecf/p12-password",
        key_group="ssl-cert",
        keep_versions=3,
        origin_ca_validity=30,
    )
    assert settings_from_mapping("a.example.com", to_mapping(settings)) == settings


@pytest.mark.parametrize(
    ("variable", "value", "name", "parsed"),
    [
        ("ACMECF_KEEP_VERSIONS", "7", "keep_versions", 7),
        ("ACMECF_ORIGIN_CA_VALIDITY", "90", "origin_ca_validity", 90),
        ("ACMECF_KEY_GROUP", "ssl-cert", "key_group", "ssl-cert"),
        ("ACMECF_COMBINED", "yes", "combined", True),
    ],
)
def test_new_settings_have_environment_variables(
    variable: str, value: str, name: str, parsed: object
) -> None:
    assert environment_overrides({variable: value}) == {name: parsed}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACMECF_KEEP_VERSIONS", "-1"),
        ("ACMECF_ORIGIN_CA_VALIDITY", "100"),
        ("ACMECF_KEY_GROUP", "bad group"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingError) as caught:
        environment_overrides({variable: value})
    assert caught.value.key == variable


def test_run_defaults_come_from_the_run_section() -> None:
    config = parse(
        "/etc/acmecf/acmecf.toml",
        b'[run]\nparallel = 4\nhook_timeout = "2m"\nkeep_logs = 100\nlog_format = "json"\n',
    )
    assert run_defaults(config) == RunDefaults(4, 120.0, 100, "json")
    assert run_defaults(parse("/x.toml", b"")) == RunDefaults()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (b"[run]\nparallel = 0\n", "run.parallel"),
        (b"[run]\nkeep_logs = 5000\n", "run.keep_logs"),
        (b'[run]\nlog_format = "xml"\n', "run.log_format"),
        (b"[run]\nparalel = 4\n", "run.paralel"),
    ],
)
def test_a_bad_run_section_names_the_key(text: bytes, key: str) -> None:
    with pytest.raises(StoredFileError) as caught:
        run_defaults(parse("/etc/acmecf/acmecf.toml", text))
    assert caught.value.key == key
