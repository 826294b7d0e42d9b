"""The issuance narrative against a fake CA and a fake DNS: records are always removed."""

from __future__ import annotations

import pytest

from acmecf.errors import AcmeError, CloudflareError, PropagationError, ValidationFailed
from acmecf.issuers.acme import AcmeIssuer, CleanupReport
from acmecf.issuers.base import CertificateRequest
from acmecf.pki.chain import certificate_names
from acmecf.pki.keys import load_key

from .fakes import FakeCa, FakeDns, FakeManyDns, FakePropagation

REQUEST = CertificateRequest(cert_name="example.com", names=("example.com", "*.example.com"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def issuer(dns: FakeDns, ca: FakeCa, propagation: FakePropagation | None = None) -> AcmeIssuer:
    clock = Clock()
    return AcmeIssuer(
        lambda: ca,
        dns,
        propagation or FakePropagation(dns),
        cleanup_report=CleanupReport(),
        clock=clock,
        cleanup_sleep=clock.sleep,
    )


def test_a_certificate_is_issued_and_every_record_removed() -> None:
    dns = FakeDns()
    ca = FakeCa(dns)
    issued = issuer(dns, ca).issue(REQUEST)
    assert sorted(certificate_names(issued.chain.leaf)) == ["*.example.com", "example.com"]
    assert issued.chain.leaf.public_key() == load_key(issued.key_pem).public_key()
    assert len(dns.created) == 2, "apex and wildcard: two values at one name"
    assert dns.records == set()
    assert issued.renewal_info_url == ca.renewal_info_url


def test_records_are_removed_when_the_ca_refuses() -> None:
    dns = FakeDns()
    ca = FakeCa(dns, refuse_finalize="the CA refused to issue the certificate: no")
    with pytest.raises(AcmeError, match="refused to issue"):
        issuer(dns, ca).issue(REQUEST)
    assert dns.created and dns.records == set()


def test_records_are_removed_when_dns_never_catches_up() -> None:
    dns = FakeDns()
    propagation = FakePropagation(dns)
    propagation.fail = PropagationError("nameserver ns1 still lacks the record")
    with pytest.raises(PropagationError):
        issuer(dns, FakeCa(dns), propagation).issue(REQUEST)
    assert dns.created and dns.records == set()


def test_records_are_removed_when_interrupted() -> None:
    dns = FakeDns()
    propagation = FakePropagation(dns)
    propagation.fail = KeyboardInterrupt()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        issuer(dns, FakeCa(dns), propagation).issue(REQUEST)
    assert dns.created and dns.records == set()


def test_an_unknown_zone_fails_before_anything_is_ordered_or_created() -> None:
    dns = FakeDns(zones=("example.net",))
    ca = FakeCa(dns)
    with pytest.raises(CloudflareError, match="no zone"):
        issuer(dns, ca).issue(REQUEST)
    assert ca.orders == [] and dns.created == []


def test_a_cleanup_that_fails_for_a_while_is_retried_until_it_works() -> None:
    dns = FakeDns()
    dns.fail_cleanups = 3
    narrative = issuer(dns, FakeCa(dns))
    narrative.issue(REQUEST)
    assert dns.records == set()
    assert narrative.cleanup_report.left == []


def test_a_cleanup_that_keeps_failing_is_left_to_the_journal_and_reported() -> None:
    dns = FakeDns()
    dns.fail_cleanups = 10_000
    narrative = issuer(dns, FakeCa(dns))
    narrative.issue(REQUEST)  # the certificate itself is fine
    assert len(dns.records) == 2
    assert narrative.cleanup_report.left == ["_acme-challenge.example.com"] * 2


def test_a_create_refused_outright_is_not_cleaned_up() -> None:
    dns = FakeDns()
    dns.fail_present = CloudflareError("refused", status=403)
    narrative = issuer(dns, FakeCa(dns))
    dns.fail_cleanups = 10_000  # a cleanup attempt would be reported as left over
    with pytest.raises(CloudflareError, match="refused"):
        narrative.issue(REQUEST)
    assert narrative.cleanup_report.left == []


def test_a_renewal_names_the_certificate_it_replaces_and_keeps_the_key() -> None:
    from acmecf.pki.keys import generate_key, key_pem

    dns = FakeDns()
    ca = FakeCa(dns)
    kept = key_pem(generate_key("ecdsa-p384"))
    request = CertificateRequest(
        cert_name="example.com",
        names=("example.com",),
        replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        reuse_key_pem=kept,
        profile="shortlived",
    )
    issued = issuer(dns, ca).issue(request)
    assert ca.orders[0]["replaces"] == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    assert ca.orders[0]["profile"] == "shortlived"
    assert issued.key_pem == kept


def test_a_provider_that_takes_several_records_gets_them_all_at_once() -> None:
    dns = FakeManyDns()
    issuer(dns, FakeCa(dns)).issue(REQUEST)
    assert dns.batches == [("present", 2), ("cleanup", 2)]
    assert dns.records == set()


def test_a_record_refused_among_several_fails_and_only_the_created_one_is_removed() -> None:
    dns = FakeManyDns()
    dns.refuse = {"token-for-*.example.com"}
    narrative = issuer(dns, FakeCa(dns))
    with pytest.raises(CloudflareError, match="refused token-for-"):
        narrative.issue(REQUEST)
    assert dns.batches == [("present", 2), ("cleanup", 1)]
    assert dns.records == set()


def test_a_record_whose_removal_failed_is_retried_alone() -> None:
    dns = FakeManyDns()
    dns.fail_cleanups = 1
    narrative = issuer(dns, FakeCa(dns))
    narrative.issue(REQUEST)
    assert dns.batches == [("present", 2), ("cleanup", 2), ("cleanup", 1)]
    assert dns.records == set()
    assert narrative.cleanup_report.left == []


def test_dns_persist_01_orders_without_touching_the_dns_provider_at_all() -> None:
    dns = FakeDns()
    ca = FakeCa(dns)
    clock = Clock()
    narrative = AcmeIssuer(lambda: ca, None, None, clock=clock, cleanup_sleep=clock.sleep)
    request = CertificateRequest(
        cert_name="example.com",
        names=("example.com", "*.example.com"),
        challenge="dns-persist-01",
        preferred_profile="shortlived",
    )
    issued = narrative.issue(request)
    assert ca.persist_answered == ["example.com", "*.example.com"]
    assert dns.created == [] and dns.records == set()
    assert sorted(certificate_names(issued.chain.leaf)) == ["*.example.com", "example.com"]
    assert ca.orders[0]["preferred_profile"] == "shortlived"
    assert issued.profile == "shortlived", "the profile the order got"


def test_dns_persist_01_at_a_ca_without_it_fails_before_anything_is_answered() -> None:
    dns = FakeDns()
    ca = FakeCa(dns, persist=False)
    narrative = AcmeIssuer(lambda: ca, None, None)
    with pytest.raises(AcmeError, match="does not offer dns-persist-01"):
        narrative.issue(
            CertificateRequest(cert_name="x", names=("example.com",), challenge="dns-persist-01")
        )
    assert ca.persist_answered == []


def test_a_validation_the_ca_failed_for_lag_is_retried_once_with_a_new_order_and_longer_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dns = FakeDns()
    ca = FakeCa(dns, not_found_yet=1)
    propagation = FakePropagation(dns)
    issued = issuer(dns, ca, propagation).issue(REQUEST)
    assert sorted(certificate_names(issued.chain.leaf)) == ["*.example.com", "example.com"]
    assert len(ca.orders) == 2, "a new order: the failed authorization is invalid for good"
    assert propagation.settles == [None, 60.0], "the retry waits 12 settle times"
    assert dns.records == set(), "the first order's records went before the second"
    retry_lines = [r.getMessage() for r in caplog.records if "ordering again" in r.getMessage()]
    assert len(retry_lines) == 1
    assert "retry 1 of 1" in retry_lines[0] and "No TXT records found" in retry_lines[0]


def test_no_retry_line_when_the_first_validation_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    dns = FakeDns()
    ca = FakeCa(dns)
    issuer(dns, ca).issue(REQUEST)
    assert len(ca.orders) == 1
    assert not [r for r in caplog.records if "ordering again" in r.getMessage()]


def test_a_second_failed_validation_is_the_error_within_the_cas_failure_limit() -> None:
    dns = FakeDns()
    ca = FakeCa(dns, not_found_yet=5)
    with pytest.raises(ValidationFailed, match="No TXT records found"):
        issuer(dns, ca).issue(REQUEST)
    assert len(ca.orders) == 2, "at most two failed authorizations per name and run"
    assert dns.records == set()


def test_the_retry_waits_at_least_a_few_seconds_when_there_is_no_settle_time() -> None:
    dns = FakeDns()
    propagation = FakePropagation(dns)
    propagation.settle = 0.0
    issuer(dns, FakeCa(dns, not_found_yet=1), propagation).issue(REQUEST)
    assert propagation.settles == [None, 5.0]
