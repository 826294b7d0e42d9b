"""Specification of the Pebble launcher and the sandbox built on it.

These tests run the real Pebble binary on free loopback ports, so they open
sockets (an allowed exception for the sandbox's own tests). They are skipped
when Pebble is not installed.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
import requests
from cryptography import x509

from acmecf.sandbox.pebble import Pebble, PebbleNotInstalled, find_binary
from acmecf.sandbox.testbed import Sandbox, start_sandbox

try:
    find_binary()
except PebbleNotInstalled as error:
    pytest.skip(str(error), allow_module_level=True)

# Nothing listens here: Pebble only needs its DNS server when it validates a challenge.
UNUSED_DNS = ("127.0.0.1", 9)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with Pebble(tmp_path_factory.mktemp("pebble"), dns_server=UNUSED_DNS) as server:
        yield server


def test_directory_is_served_over_tls_verified_with_the_ca_bundle(pebble: Pebble) -> None:
    response = requests.get(pebble.directory_url, verify=str(pebble.ca_bundle), timeout=5)
    response.raise_for_status()
    directory = response.json()
    # Printed so a run with -s shows what this Pebble version offers (renewalInfo? profiles?).
    print(json.dumps(directory, indent=2, sort_keys=True))
    assert {"newNonce", "newAccount", "newOrder"} <= directory.keys()
    assert pebble.directory_url.startswith("https://127.0.0.1:")


def test_directory_is_rejected_by_default_trust(pebble: Pebble) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(pebble.directory_url, timeout=5)


def test_pebble_never_listens_on_its_default_ports(pebble: Pebble) -> None:
    assert not {pebble.port, pebble.management_port} & {14000, 15000, 5001, 5002}


def test_root_pem_is_a_self_signed_ca_distinct_from_the_https_test_ca(pebble: Pebble) -> None:
    root = x509.load_pem_x509_certificate(pebble.root_pem())
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    https_ca = x509.load_pem_x509_certificate(pebble.ca_bundle.read_bytes())
    assert root.subject != https_ca.subject


def test_intermediate_pem_is_issued_by_the_root(pebble: Pebble) -> None:
    root = x509.load_pem_x509_certificate(pebble.root_pem())
    intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem())
    intermediate.verify_directly_issued_by(root)


def test_log_text_holds_pebble_output(pebble: Pebble) -> None:
    assert "ACME directory available at" in pebble.log_text()


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    server = Pebble(tmp_path, dns_server=UNUSED_DNS)
    server.start()
    process = server.process
    assert process is not None
    server.stop()
    assert process.returncode is not None  # reaped, not a zombie
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)
    server.stop()  # idempotent


def test_external_account_binding_is_advertised_when_keys_are_given(tmp_path: Path) -> None:
    keys = {"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}
    with Pebble(tmp_path, dns_server=UNUSED_DNS, eab_keys=keys) as server:
        response = requests.get(server.directory_url, verify=str(server.ca_bundle), timeout=5)
        assert response.json()["meta"]["externalAccountRequired"] is True
        assert stat.S_IMODE(server.config_path.stat().st_mode) == 0o600


def test_missing_binary_raises_with_install_hint(tmp_path: Path) -> None:
    with pytest.raises(PebbleNotInstalled, match="apt-get install pebble"):
        Pebble(tmp_path, dns_server=UNUSED_DNS, binary=str(tmp_path / "no-such-pebble"))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    pytest.importorskip(
        "acmecf.sandbox.emulator", reason="the Cloudflare emulator is not written yet"
    )

    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


def test_sandbox_client_environment_names_exactly_what_the_client_reads(sandbox: Sandbox) -> None:
    environment = sandbox.client_environment()
    assert set(environment) == {
        "ACMECF_SERVER",
        "ACMECF_CA_BUNDLE",
        "CLOUDFLARE_BASE_URL",
        "CLOUDFLARE_API_TOKEN",
        "ACMECF_DNS_RESOLVER",
        "ACMECF_NAMESERVER_PORT",
    }
    assert environment["ACMECF_SERVER"] == sandbox.pebble.directory_url
    assert environment["CLOUDFLARE_API_TOKEN"] == sandbox.token
    assert environment["ACMECF_DNS_RESOLVER"].endswith(":" + environment["ACMECF_NAMESERVER_PORT"])
    response = requests.get(
        environment["ACMECF_SERVER"], verify=environment["ACMECF_CA_BUNDLE"], timeout=5
    )
    assert response.ok


def test_sandbox_env_file_is_private_and_matches_the_environment(sandbox: Sandbox) -> None:
    assert stat.S_IMODE(sandbox.env_file.stat().st_mode) == 0o600
    exported = {}
    for line in sandbox.env_file.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        exported[name] = shlex.split(value)[0]
    assert exported == sandbox.client_environment()


def test_sandbox_pebble_validates_through_the_emulator_resolver(sandbox: Sandbox) -> None:
    resolver = sandbox.client_environment()["ACMECF_DNS_RESOLVER"]
    assert f"Using custom DNS resolver for ACME challenges: {resolver}" in sandbox.pebble.log_text()


def test_sandbox_resolver_serves_the_delegation_fixture(sandbox: Sandbox) -> None:
    host, _, port = sandbox.client_environment()["ACMECF_DNS_RESOLVER"].rpartition(":")
    name = "_acme-challenge.delegated.example.com"
    query = dns.message.make_query(name, dns.rdatatype.CNAME)
    answer = dns.query.udp(query, host, port=int(port), timeout=2).answer
    assert [rdata.to_text() for rrset in answer for rdata in rrset] == [
        "_acme-challenge.delegated.example.com.acme-delegate.example.org."
    ]


def test_sandbox_token_is_valid_and_sees_every_demo_zone(sandbox: Sandbox) -> None:
    environment = sandbox.client_environment()
    headers = {"Authorization": f"Bearer {environment['CLOUDFLARE_API_TOKEN']}"}
    response = requests.get(
        environment["CLOUDFLARE_BASE_URL"] + "/zones", headers=headers, timeout=5
    )
    response.raise_for_status()
    zones = {zone["name"] for zone in response.json()["result"]}
    assert zones == {"example.com", "example.net", "acme-delegate.example.org"}
