"""Specification of the Pebble launcher and the sandbox built on it.

These tests run the real Pebble binary on free loopback ports, so they open
sockets (an allowed exception for the sandbox's own tests). Without Pebble,
or with one older than b1e1ca4 for the tests that need today's features,
they are skipped, and fail instead in CI (CI set).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import selectors
import shlex
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest
import requests
from acme import challenges, client, crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from acmecf.sandbox.pebble import (
    BINARY_VARIABLE,
    CURRENT_COMMIT,
    DEFAULT_BINARY,
    LETS_ENCRYPT_PROFILES,
    Pebble,
    PebbleFeatures,
    PebbleNotInstalled,
    PebbleStartupError,
    Profile,
    find_binary,
    probe_binary,
)
from acmecf.sandbox.testbed import Sandbox, start_sandbox

ROOT = Path(__file__).resolve().parents[2]
PROVIDE_PEBBLE = ROOT / "scripts" / "provide_pebble.py"

# Nothing listens here: Pebble only needs its DNS server when it validates a challenge.
UNUSED_DNS = ("127.0.0.1", 9)


def missing_part(reason: str) -> None:
    """Skip, or fail in CI, where the part a test needs is missing."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it: see README, Development)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module", autouse=True)
def _pebble_installed() -> None:
    try:
        find_binary()
    except PebbleNotInstalled as error:
        missing_part(str(error))


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with Pebble(tmp_path_factory.mktemp("pebble"), dns_server=UNUSED_DNS) as server:
        yield server


@pytest.fixture(scope="module")
def current(pebble: Pebble) -> PebbleFeatures:
    """The features of the test bed's Pebble, which must be b1e1ca4 or later."""
    features = pebble.features()
    if features.missing():
        missing_part(
            f"{pebble.binary} is older than Pebble {CURRENT_COMMIT}: it lacks "
            + ", ".join(features.missing())
        )
    return features


@pytest.fixture(scope="module")
def issuing_pebble(
    tmp_path_factory: pytest.TempPathFactory, current: PebbleFeatures
) -> Iterator[Pebble]:
    """A Pebble that passes every challenge unasked and never refuses a nonce: for issuing."""
    env = {"PEBBLE_VA_ALWAYS_VALID": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    with Pebble(tmp_path_factory.mktemp("issuing"), dns_server=UNUSED_DNS, env=env) as server:
        yield server


def acme_account(pebble: Pebble) -> client.ClientV2:
    """A fresh ACME account at ``pebble``, through certbot's acme library."""
    network = client.ClientNetwork(
        JWKEC(key=ec.generate_private_key(ec.SECP256R1())),
        alg=ES256,
        verify_ssl=str(pebble.ca_bundle),  # type: ignore[arg-type]  # requests takes a path
        user_agent="acmecf-testbed-tests",
    )
    acme = client.ClientV2(client.ClientV2.get_directory(pebble.directory_url, network), network)
    acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    return acme


def issue(
    acme: client.ClientV2,
    name: str,
    *,
    profile: str | None = None,
    publish: Callable[[str, str], None] = lambda record, value: None,
) -> x509.Certificate:
    """Order ``name``, answer its DNS-01 challenge after ``publish(record name, TXT value)``."""
    key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    order = acme.new_order(crypto_util.make_csr(key_pem, [name]), profile=profile)
    for authorization in order.authorizations:
        challenge = next(
            c for c in authorization.body.challenges if isinstance(c.chall, challenges.DNS01)
        )
        publish(
            challenge.chall.validation_domain_name(name), challenge.chall.validation(acme.net.key)
        )
        acme.answer_challenge(challenge, challenge.chall.response(acme.net.key))
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=30)
    order = acme.poll_and_finalize(order, deadline)
    return x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]


def lifetime(certificate: x509.Certificate) -> datetime.timedelta:
    # Pebble's notAfter is validityPeriod - 1 second after notBefore.
    return (
        certificate.not_valid_after_utc
        - certificate.not_valid_before_utc
        + datetime.timedelta(seconds=1)
    )


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
    with pytest.raises(PebbleNotInstalled, match=f"ACMECF_PEBBLE=.*go install .*@{CURRENT_COMMIT}"):
        Pebble(tmp_path, dns_server=UNUSED_DNS, binary=str(tmp_path / "no-such-pebble"))


# --- Which binary, and whether it is today's Pebble ---------------------------------------


def fake_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 3\n")
    path.chmod(0o755)
    return path


def test_the_variable_wins_over_the_virtualenv_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = fake_executable(tmp_path / "chosen" / "pebble")
    fake_executable(tmp_path / "venv" / "bin" / "pebble")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setenv(BINARY_VARIABLE, str(chosen))
    assert find_binary() == str(chosen)


def test_the_virtualenv_build_wins_over_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = fake_executable(tmp_path / "venv" / "bin" / "pebble")
    fake_executable(tmp_path / "on-path" / "pebble")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.delenv(BINARY_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "on-path"))
    assert find_binary() == str(built)


def test_outside_a_virtualenv_path_is_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = fake_executable(tmp_path / "on-path" / "pebble")
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)
    monkeypatch.delenv(BINARY_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "on-path"))
    assert find_binary() == str(on_path)


def test_a_pebble_without_todays_features_says_what_it_lacks() -> None:
    debian = PebbleFeatures(
        renewal_info=False,
        profiles=(),
        challenge_types=("dns-01", "http-01"),
        persist_account_uri=False,
    )
    assert debian.missing() == [
        "ACME Renewal Information (renewalInfo in the directory)",
        "certificate profiles (meta.profiles in the directory)",
        "the dns-persist-01 challenge",
    ]
    before_b1e1ca4 = PebbleFeatures(
        renewal_info=True,
        profiles=("default",),
        challenge_types=("dns-01", "dns-persist-01"),
        persist_account_uri=False,
    )
    assert before_b1e1ca4.missing() == ["accounturi in dns-persist-01 challenges"]


def test_the_test_bed_pebble_is_b1e1ca4_or_later(pebble: Pebble, current: PebbleFeatures) -> None:
    assert current.renewal_info
    assert {"dns-01", "dns-persist-01"} <= set(current.challenge_types)
    assert current.persist_account_uri
    assert current.missing() == []


def test_probing_a_binary_that_is_not_pebble_fails_at_startup(tmp_path: Path) -> None:
    impostor = fake_executable(tmp_path / "bin" / "pebble")
    with pytest.raises(PebbleStartupError, match="exited with status 3"):
        probe_binary(str(impostor), tmp_path / "work")


def test_probing_a_binary_reads_its_features(pebble: Pebble, tmp_path: Path) -> None:
    assert probe_binary(pebble.binary, tmp_path) == pebble.features()


# --- Profiles ---------------------------------------------------------------------------


def test_the_directory_offers_lets_encrypt_profiles(
    pebble: Pebble, current: PebbleFeatures
) -> None:
    assert pebble.directory()["meta"]["profiles"] == {
        "classic": "https://letsencrypt.org/docs/profiles#classic",
        "tlsserver": "https://letsencrypt.org/docs/profiles#tlsserver",
        "shortlived": "https://letsencrypt.org/docs/profiles#shortlived",
    }


def test_the_config_declares_lets_encrypt_lifetimes_in_seconds(pebble: Pebble) -> None:
    profiles = json.loads(pebble.config_path.read_text())["pebble"]["profiles"]
    assert {name: p["validityPeriod"] for name, p in profiles.items()} == {
        "classic": 7776000,
        "tlsserver": 3888000,
        "shortlived": 576000,
    }


@pytest.mark.parametrize("profile", sorted(LETS_ENCRYPT_PROFILES))
def test_a_certificate_lasts_as_long_as_its_profile_says(
    issuing_pebble: Pebble, profile: str
) -> None:
    certificate = issue(acme_account(issuing_pebble), f"{profile}.example.com", profile=profile)
    assert lifetime(certificate) == LETS_ENCRYPT_PROFILES[profile].validity
    common_names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    # Only classic still names the first domain in the subject, as at Let's Encrypt.
    assert [n.value for n in common_names] == (
        [f"{profile}.example.com"] if profile == "classic" else []
    )


def test_an_order_without_profile_gets_one_of_the_offered_ones(issuing_pebble: Pebble) -> None:
    certificate = issue(acme_account(issuing_pebble), "any-profile.example.com")
    assert lifetime(certificate) in {p.validity for p in LETS_ENCRYPT_PROFILES.values()}


def test_a_single_profile_makes_orders_without_profile_deterministic(
    tmp_path: Path, current: PebbleFeatures
) -> None:
    only = {"classic": LETS_ENCRYPT_PROFILES["classic"]}
    env = {"PEBBLE_VA_ALWAYS_VALID": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    with Pebble(tmp_path, dns_server=UNUSED_DNS, env=env, profiles=only) as server:
        assert server.features().profiles == ("classic",)
        certificate = issue(acme_account(server), "classic-only.example.com")
    assert lifetime(certificate) == datetime.timedelta(days=90)


def test_no_profiles_leave_pebbles_own_default(tmp_path: Path, current: PebbleFeatures) -> None:
    with Pebble(tmp_path, dns_server=UNUSED_DNS, profiles={}) as server:
        assert server.features().profiles == ("default",)


def test_a_profile_keeps_validity_in_whole_seconds() -> None:
    profile = Profile(datetime.timedelta(hours=160), "short", promote_common_name=False)
    assert profile.config() == {
        "description": "short",
        "validityPeriod": 576000,
        "promoteCommonName": False,
    }


# --- The management API -----------------------------------------------------------------


def test_management_api_reports_the_status_of_an_issued_certificate(issuing_pebble: Pebble) -> None:
    certificate = issue(acme_account(issuing_pebble), "status.example.com", profile="classic")
    status = issuing_pebble.certificate_status(certificate.serial_number)
    assert status is not None
    assert status["Status"] == "Valid"
    assert int(status["Serial"], 16) == certificate.serial_number
    assert x509.load_pem_x509_certificate(status["Certificate"].encode()) == certificate
    assert issuing_pebble.certificate_status(certificate.serial_number + 1) is None


def test_management_api_sets_the_renewal_window_of_a_certificate(issuing_pebble: Pebble) -> None:
    certificate = issue(acme_account(issuing_pebble), "ari.example.com", profile="classic")
    window = {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}
    issuing_pebble.set_renewal_info(
        certificate.public_bytes(serialization.Encoding.PEM), {"suggestedWindow": window}
    )
    # RFC 9773 §4.1: the certificate's ID is base64url(AKI keyIdentifier) "." base64url(serial).
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    serial = certificate.serial_number.to_bytes(
        (certificate.serial_number.bit_length() + 8) // 8, "big"
    )
    certificate_id = ".".join(base64url(part) for part in (aki.key_identifier, serial))
    base = issuing_pebble.directory()["renewalInfo"]
    response = requests.get(
        f"{base}/{certificate_id}", verify=str(issuing_pebble.ca_bundle), timeout=5
    )
    response.raise_for_status()
    assert response.json() == {"suggestedWindow": window}
    assert response.headers["Retry-After"] == "21600"


def test_management_api_refuses_a_window_for_a_stranger_certificate(pebble: Pebble) -> None:
    stranger = pebble.ca_bundle.read_bytes()  # a certificate Pebble never issued
    with pytest.raises(requests.HTTPError):
        pebble.set_renewal_info(stranger, {"suggestedWindow": {}})


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- scripts/provide_pebble.py ----------------------------------------------------------


def provide_pebble(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != BINARY_VARIABLE}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(PROVIDE_PEBBLE)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_provide_pebble_prints_a_current_pebble_given_in_the_variable(
    pebble: Pebble, current: PebbleFeatures
) -> None:
    result = provide_pebble(**{BINARY_VARIABLE: pebble.binary})
    assert (result.returncode, result.stdout) == (0, pebble.binary + "\n"), result.stderr


def test_provide_pebble_takes_a_current_pebble_on_path(
    pebble: Pebble, current: PebbleFeatures, tmp_path: Path
) -> None:
    (tmp_path / "pebble").symlink_to(pebble.binary)
    result = provide_pebble(PATH=f"{tmp_path}:{os.environ['PATH']}")
    assert (result.returncode, result.stdout) == (0, f"{tmp_path / 'pebble'}\n"), result.stderr


def test_provide_pebble_refuses_an_old_pebble_in_the_variable(tmp_path: Path) -> None:
    if not Path(DEFAULT_BINARY).is_file() or not probe_binary(DEFAULT_BINARY, tmp_path).missing():
        pytest.skip(f"no old Pebble at {DEFAULT_BINARY} to refuse")
    result = provide_pebble(**{BINARY_VARIABLE: DEFAULT_BINARY})
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"{BINARY_VARIABLE}={DEFAULT_BINARY} is older than {CURRENT_COMMIT}" in result.stderr
    assert f"go install github.com/letsencrypt/pebble/v2/cmd/pebble@{CURRENT_COMMIT}" in (
        result.stderr
    )


def test_provide_pebble_refuses_a_variable_that_names_no_pebble(tmp_path: Path) -> None:
    impostor = fake_executable(tmp_path / "pebble")
    result = provide_pebble(**{BINARY_VARIABLE: str(impostor)})
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"{BINARY_VARIABLE}={impostor} does not run as Pebble" in result.stderr


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    pytest.importorskip(
        "acmecf.sandbox.emulator", reason="the Cloudflare emulator is not written yet"
    )

    # No nonce rejection: the issuance below uses the acme library, which retries badNonce once.
    with start_sandbox(
        tmp_path_factory.mktemp("sandbox"), pebble_env={"PEBBLE_WFE_NONCEREJECT": "0"}
    ) as running:
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


def test_sandbox_resolver_answers_over_tcp_as_todays_pebble_asks(sandbox: Sandbox) -> None:
    host, _, port = sandbox.client_environment()["ACMECF_DNS_RESOLVER"].rpartition(":")
    for index in range(12):  # more TXT than fit in 512 bytes of plain UDP
        sandbox.emulator.add_record(
            "example.net", "TXT", "_acme-challenge.tcp.example.net", f'"{index:02d}{"x" * 40}"'
        )
    query = dns.message.make_query("_acme-challenge.tcp.example.net", dns.rdatatype.TXT)
    over_tcp = dns.query.tcp(query, host, port=int(port), timeout=2)
    assert not over_tcp.flags & dns.flags.TC
    assert over_tcp.flags & dns.flags.RA
    assert sum(len(rrset) for rrset in over_tcp.answer) == 12


def test_sandbox_resolver_accepts_a_burst_of_tcp_connections_at_once(sandbox: Sandbox) -> None:
    # Today's Pebble opens a TCP connection per lookup, tens at once when orders run in
    # parallel, and gives up on one that is not accepted within 2 s (its DNS library's dial
    # timeout). A listener whose accept queue overflows drops SYNs, which come back after 1 s.
    host, _, port = sandbox.client_environment()["ACMECF_DNS_RESOLVER"].rpartition(":")
    burst = 64
    started = time.monotonic()
    connections = []
    with selectors.DefaultSelector() as selector:
        try:
            for _ in range(burst):
                connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                connection.setblocking(False)
                connections.append(connection)
                connection.connect_ex((host, int(port)))
                selector.register(connection, selectors.EVENT_WRITE)
            slowest = 0.0
            connected = 0
            while connected < burst and time.monotonic() - started < 3:
                for key, _ in selector.select(timeout=0.1):
                    assert isinstance(key.fileobj, socket.socket)
                    assert key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                    selector.unregister(key.fileobj)
                    connected += 1
                    slowest = time.monotonic() - started
        finally:
            for connection in connections:
                connection.close()
    assert connected == burst
    assert slowest < 0.5, f"the slowest of {burst} connections took {slowest:.2f} s"


def test_sandbox_pebble_validates_dns_01_through_the_emulator(
    sandbox: Sandbox, current: PebbleFeatures
) -> None:
    # Today's Pebble asks its DNS server over TCP only: this issuance is the end-to-end proof.
    def publish(record: str, value: str) -> None:
        sandbox.emulator.add_record("example.com", "TXT", record, f'"{value}"')

    certificate = issue(acme_account(sandbox.pebble), "tcp.example.com", publish=publish)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["tcp.example.com"]
    asked = [
        q for q in sandbox.emulator.dns_queries if q.qname == "_acme-challenge.tcp.example.com"
    ]
    assert asked and all(q.server == sandbox.emulator.resolver_address for q in asked)


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
