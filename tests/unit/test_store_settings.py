"""Choosing the store: --store, ACMECF_STORE and [store], the fleet key's sources, the error
lines; and FleetStore sends every storage contract method to etcd."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from acmecf.cli import cli
from acmecf.errors import StoredFileError, UsageError
from acmecf.settings.store import FILES, parse_store_url, store_settings
from acmecf.storage import contracts
from acmecf.storage.files import FileStore
from acmecf.storage.fleet import FleetStore


def settings(
    tmp_path: Path,
    *,
    flag_url: str | None = None,
    flag_key: str | None = None,
    environment: dict[str, str] | None = None,
    **section: Any,
) -> Any:
    """The settings of --store `flag_url`, --store-key-file `flag_key`, `environment` and the
    [store] keys `section`."""
    return store_settings(
        url=flag_url,
        key_file=flag_key,
        environment=environment or {},
        section=section,
        config_path=str(tmp_path / "acmecf.toml"),
        config_dir=tmp_path,
    )


@pytest.mark.parametrize(
    ("url", "endpoints", "prefix", "tls"),
    [
        ("etcd://10.0.0.1:2379/acmecf", ("10.0.0.1:2379",), "/acmecf/", False),
        ("etcd://a:1,b:2,c:3/fleet/prod/", ("a:1", "b:2", "c:3"), "/fleet/prod/", False),
        ("etcd://[::1]:2379", ("[::1]:2379",), "/acmecf/", False),
        ("etcds://etcd.example.net/acmecf", ("etcd.example.net",), "/acmecf/", True),
        ("files", (), "", False),
    ],
)
def test_store_urls(url: str, endpoints: tuple[str, ...], prefix: str, tls: bool) -> None:
    assert parse_store_url(url, "--store") == (endpoints, prefix, tls)


@pytest.mark.parametrize(
    "url", ["http://a:2379/x", "etcd:/a/x", "etcd:///x", "etcd://a:99999/x", "etcd://a b/x"]
)
def test_a_bad_store_url_is_a_usage_error_showing_the_form(url: str) -> None:
    with pytest.raises(UsageError, match="invalid --store") as caught:
        parse_store_url(url, "--store")
    assert "\n" not in str(caught.value)


def test_the_command_line_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    environment = {"ACMECF_STORE": "etcd://env:2379/env", "ACMECF_STORE_KEY_FILE": "/env.key"}
    section = {"url": "etcd://file:2379/file", "key_file": "file.key", "origin": "web1"}
    from_file = settings(tmp_path, **section)
    assert from_file.endpoints == ("file:2379",) and from_file.key_file == tmp_path / "file.key"
    from_env = settings(tmp_path, environment=environment, **section)
    assert from_env.endpoints == ("env:2379",) and from_env.key_file == Path("/env.key")
    given = settings(tmp_path, flag_url="etcd://flag:1/f", flag_key="/flag.key", **section)
    assert given.url == "etcd://flag:1/f/" and given.key_file == Path("/flag.key")
    assert settings(tmp_path, flag_url="files", **section).url == FILES


def test_the_systemd_credential_beats_the_file_but_not_the_flag(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "acmecf-store-key").write_bytes(b"x" * 32)
    environment = {"CREDENTIALS_DIRECTORY": str(credentials)}
    chosen = settings(tmp_path, environment=environment, url="etcd://a:1/p")
    assert chosen.key_file == credentials / "acmecf-store-key"
    assert chosen.key_source == "systemd credential acmecf-store-key"
    flagged = settings(tmp_path, environment=environment, url="etcd://a:1/p", flag_key="/k")
    assert flagged.key_file == Path("/k")


def test_tls_files_make_the_endpoints_https_and_durations_are_read(tmp_path: Path) -> None:
    chosen = settings(
        tmp_path,
        url="etcd://a:1/p",
        etcd_ca_file="ca.pem",
        lease_ttl="1m",
        timeout=5,
        lock_wait="0",
        origin="web-1.example",
    )
    assert chosen.tls and chosen.ca_file == tmp_path / "ca.pem"
    assert (chosen.lease_ttl, chosen.timeout, chosen.lock_wait) == (60, 5.0, 0.0)
    assert chosen.origin == "web-1.example"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"urls": "etcd://a:1/p"}, "store.urls"),
        ({"url": 5}, "store.url"),
        ({"url": "etcd://a:1/p", "lease_ttl": "1s"}, "store.lease_ttl"),
        ({"url": "etcd://a:1/p", "timeout": "soon"}, "store.timeout"),
        ({"url": "etcd://a:1/p", "etcd_ca_file": 3}, "store.etcd_ca_file"),
    ],
)
def test_a_bad_store_section_names_its_key(
    tmp_path: Path, section: dict[str, Any], key: str
) -> None:
    with pytest.raises(StoredFileError) as caught:
        settings(tmp_path, **section)
    assert caught.value.key == key


def test_an_origin_name_that_cannot_be_a_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="origin name 'web/1'"):
        settings(tmp_path, url="etcd://a:1/p", origin="web/1")


def test_the_cli_says_in_one_line_what_is_missing(tmp_path: Path) -> None:
    runner = CliRunner()
    config = ["--config-dir", str(tmp_path / "config")]
    bad = runner.invoke(cli, ["list", *config, "--store", "etcd:/x"])
    assert bad.exit_code == 2 and "invalid --store 'etcd:/x'" in bad.output
    keyless = runner.invoke(cli, ["sync", *config, "--store", "etcd://127.0.0.1:9/p"])
    assert keyless.exit_code == 2 and "needs the fleet key" in keyless.output
    local = runner.invoke(cli, ["sync", *config])
    assert local.exit_code == 2 and "works with a store that origins share" in local.output
    for result in (bad, keyless, local):
        assert result.output.count("\n") == 1, result.output


def test_a_fleet_store_sends_every_contract_method_to_etcd() -> None:
    protocols = (contracts.CertificateStore, contracts.AccountStore, contracts.Locker)
    methods = {
        name
        for protocol in protocols
        for name, _ in inspect.getmembers(protocol, inspect.isfunction)
        if not name.startswith("_")
    }
    assert methods
    inherited = sorted(m for m in methods if getattr(FleetStore, m) is getattr(FileStore, m))
    assert inherited == [], f"FleetStore would keep these in local files: {inherited}"


def test_a_no_op_renew_on_one_machine_loads_no_etcd_client(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.argv = ['acmecf', 'renew']\n"
        "from acmecf.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('etcd3gw', 'requests') if m in sys.modules))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACMECF_")}
    environment["ACMECF_CONFIG_DIR"] = str(tmp_path / "config")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    assert result.stdout.strip() == "[]", result.stderr
