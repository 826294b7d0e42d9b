"""What origin check concludes from a handshake: each problem found, each with its fix.

The handshake is built in memory here; tests/e2e/test_origin.py makes a real one with nginx."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from acmecf.errors import UsageError
from acmecf.origin.findings import (
    ClientAuthExpectation,
    Finding,
    HeldCertificate,
    evaluate,
    name_matches,
)
from acmecf.origin.handshake import Handshake, parse_origin

from .x509_factory import NOW, TinyCA

NAME = "www.example.com"
CA = TinyCA()
LEAF = CA.leaf(ec.generate_private_key(ec.SECP256R1()), [NAME, "example.com"])
HEALTHY = Handshake(
    chain=(LEAF, CA.intermediate),
    tls_version="TLSv1.3",
    verify_errors=(),
    client_ca_names=(),
    client_auth="not requested",
    http_status=200,
)
MISSING_ISSUER = ((0, 20),)  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY at the leaf


def findings(
    result: Handshake = HEALTHY,
    *,
    name: str = NAME,
    held: HeldCertificate | None = None,
    expectation: ClientAuthExpectation | None = None,
    now: datetime.datetime = NOW,
) -> dict[str, Finding]:
    found = evaluate(
        name, result, now=now, trust="the system trust store", held=held, expectation=expectation
    )
    return {f.check: f for f in found}


def test_a_healthy_origin_has_no_problem() -> None:
    report = findings(held=HeldCertificate("www", LEAF, Path("/live/www/fullchain.pem")))
    assert all(f.ok is not False for f in report.values())
    assert report["chain"].message == "www.example.com <- Intermediate (1 intermediate)"
    assert report["trust"].message == "validates against the system trust store without help"
    assert report["acmecf"].ok is True


def test_a_leaf_alone_is_told_to_serve_the_full_chain() -> None:
    result = dataclasses.replace(HEALTHY, chain=(LEAF,), verify_errors=MISSING_ISSUER)
    report = findings(result)
    assert report["chain"].ok is False
    assert (
        report["chain"]
        .line()
        .endswith(
            "the server sends no intermediates: point ssl_certificate at fullchain.pem, not "
            "cert.pem (Apache: SSLCertificateFile)"
        )
    )
    assert report["trust"].ok is False
    assert "unable to get local issuer certificate" in report["trust"].message


def test_an_unknown_root_with_intermediates_suggests_a_ca_bundle_not_fullchain() -> None:
    report = findings(dataclasses.replace(HEALTHY, verify_errors=((1, 20),)))
    assert report["chain"].ok is True
    assert report["trust"].ok is False
    assert "--ca-bundle" in (report["trust"].fix or "")


def test_certificates_out_of_order_are_a_problem() -> None:
    report = findings(dataclasses.replace(HEALTHY, chain=(CA.intermediate, LEAF)))
    assert report["chain"].ok is False
    assert "out of order" in (report["chain"].fix or "")


def test_a_self_signed_certificate_is_refused_by_full_strict() -> None:
    result = dataclasses.replace(HEALTHY, chain=(CA.root,), verify_errors=((0, 18),))
    assert "error 526" in (findings(result)["trust"].fix or "")


def test_an_origin_ca_certificate_is_noted_not_failed() -> None:
    issuer = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "CloudFlare, Inc."),
            x509.NameAttribute(
                x509.NameOID.ORGANIZATIONAL_UNIT_NAME,
                "CloudFlare Origin SSL ECC Certificate Authority",
            ),
        ]
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "CloudFlare")]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=300))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), False)
        .sign(key, hashes.SHA256())
    )
    report = findings(dataclasses.replace(HEALTHY, chain=(leaf,), verify_errors=MISSING_ISSUER))
    assert report["chain"].ok is True
    assert report["trust"].ok is None
    assert "only Cloudflare trusts it" in report["trust"].message


@pytest.mark.parametrize(
    ("name", "patterns", "matches"),
    [
        ("www.example.com", ["www.example.com"], True),
        ("WWW.Example.com.", ["www.example.com"], True),
        ("www.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("a.b.example.com", ["*.example.com"], False),
        ("www.example.com", ["example.com"], False),
    ],
)
def test_host_names_match_like_rfc_6125(name: str, patterns: list[str], matches: bool) -> None:
    assert name_matches(name, patterns) is matches


def test_a_name_missing_from_the_certificate_is_a_problem() -> None:
    report = findings(name="api.example.com")
    assert report["name"].ok is False
    assert "acmecf issue -d api.example.com" in (report["name"].fix or "")


def test_expiry_close_or_past_is_a_problem() -> None:
    soon = LEAF.not_valid_after_utc - datetime.timedelta(days=3)
    assert findings(now=soon)["expiry"].ok is False
    assert "renewal is not happening" in (findings(now=soon)["expiry"].fix or "")
    past = LEAF.not_valid_after_utc + datetime.timedelta(days=1)
    assert findings(now=past)["expiry"].message.startswith("expired on")
    assert findings()["expiry"].ok is True


def test_an_older_certificate_than_the_one_held_means_no_reload() -> None:
    newer = CA.leaf(ec.generate_private_key(ec.SECP256R1()), [NAME])
    newer = _reissued_later(newer)
    held = HeldCertificate("www", newer, Path("/live/www/fullchain.pem"))
    report = findings(held=held)
    assert report["acmecf"].ok is False
    assert "the web server was not reloaded after the renewal" in report["acmecf"].message
    assert "systemctl reload nginx" in (report["acmecf"].fix or "")


def test_a_certificate_acmecf_does_not_hold_is_pointed_at_the_live_files() -> None:
    older_than_served = _reissued_later(LEAF, days=-2)
    held = HeldCertificate("www", older_than_served, Path("/live/www/fullchain.pem"))
    report = findings(held=held)
    assert report["acmecf"].ok is False
    assert "/live/www/fullchain.pem" in (report["acmecf"].fix or "")


def test_no_certificate_held_is_only_information() -> None:
    assert findings(held=None)["acmecf"].ok is None


def test_old_tls_versions_are_a_problem() -> None:
    assert findings(dataclasses.replace(HEALTHY, tls_version="TLSv1"))["tls"].ok is False
    assert findings(dataclasses.replace(HEALTHY, tls_version="TLSv1.2"))["tls"].ok is True


def test_origin_pulls_on_but_no_client_certificate_demanded_is_a_bypass() -> None:
    expectation = ClientAuthExpectation("shared", "example.com", Path("/ca.pem"))
    report = findings(expectation=expectation)
    assert report["client certificate"].ok is False
    assert "bypass Cloudflare" in (report["client certificate"].fix or "")


def test_a_demanded_certificate_from_another_ca_than_cloudflares_is_a_problem() -> None:
    demanding = dataclasses.replace(
        HEALTHY, client_auth="required", client_ca_names=("CN=Some Other CA",), http_status=400
    )
    expectation = ClientAuthExpectation("shared", "example.com", Path("/ca.pem"))
    assert findings(demanding, expectation=expectation)["client certificate"].ok is False
    cloudflare = dataclasses.replace(
        demanding, client_ca_names=("CN=origin-pull.cloudflare.net,OU=Origin Pull",)
    )
    assert findings(cloudflare, expectation=expectation)["client certificate"].ok is True


def test_an_origin_that_refuses_our_own_client_certificate_is_a_problem() -> None:
    demanding = dataclasses.replace(HEALTHY, client_auth="required", client_ca_names=("CN=x",))
    refused = ClientAuthExpectation("own-ca", "example.com", Path("/ca.pem"), accepted=False)
    accepted = dataclasses.replace(refused, accepted=True)
    assert findings(demanding, expectation=refused)["client certificate"].ok is False
    assert findings(demanding, expectation=accepted)["client certificate"].ok is True


def test_demanding_a_client_certificate_with_origin_pulls_off_locks_cloudflare_out() -> None:
    demanding = dataclasses.replace(HEALTHY, client_auth="required")
    off = ClientAuthExpectation(None, "example.com")
    finding = findings(demanding, expectation=off)["client certificate"]
    assert finding.ok is False
    assert "No required SSL certificate was sent" in (finding.fix or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.7", ("203.0.113.7", 443)),
        ("203.0.113.7:8443", ("203.0.113.7", 8443)),
        ("origin.internal", ("origin.internal", 443)),
        ("[2001:db8::1]:8443", ("2001:db8::1", 8443)),
        ("2001:db8::1", ("2001:db8::1", 443)),
    ],
)
def test_origin_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_origin(text) == expected


@pytest.mark.parametrize("text", ["", "host:0", "host:99999", "host:https"])
def test_bad_origin_addresses_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--origin"):
        parse_origin(text)


def _reissued_later(leaf: x509.Certificate, days: int = 1) -> x509.Certificate:
    """`leaf` again, issued `days` later (a renewal), by the same tiny CA."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf.not_valid_before_utc + datetime.timedelta(days=days))
        .not_valid_after(leaf.not_valid_after_utc + datetime.timedelta(days=days))
    )
    for extension in leaf.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(CA.intermediate_key, hashes.SHA256())


def test_a_fresh_short_lived_certificate_is_not_reported_as_expiring() -> None:
    import datetime

    from cryptography.hazmat.primitives import hashes

    from acmecf.origin.findings import _expiry_finding

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, NAME)])
    start = NOW - datetime.timedelta(hours=1)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(hours=160))
        .sign(key, hashes.SHA256())
    )
    assert _expiry_finding(leaf, NOW).ok is True
    assert _expiry_finding(leaf, start + datetime.timedelta(hours=150)).ok is False
