from __future__ import annotations

import dataclasses
import datetime
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from acmecf.lifecycle.schedule import Decision, apply_renewal_info, decide, next_renewal
from acmecf.pki.chain import ari_certificate_id
from acmecf.settings.table import CertificateSettings
from acmecf.storage.model import CertificateState, StoredCertificate

UTC = datetime.UTC
ISSUED = datetime.datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = ISSUED + datetime.timedelta(days=90)
ARI_URL = "https://acme.example/renewal-info"
# A renewalInfo reply as RFC 9773 §4.2 shows it (Let's Encrypt sends the same shape).
RECORDED_REPLY = {
    "suggestedWindow": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-03T00:00:00Z"},
    "explanationURL": "https://acme.example/docs/ari",
}


def certificate(**state: object) -> StoredCertificate:
    defaults: dict[str, object] = {"not_before": ISSUED, "not_after": EXPIRES}
    defaults.update(state)
    return StoredCertificate(
        CertificateSettings(cert_name="example.com", names=("example.com",)),
        CertificateState(**defaults),  # type: ignore[arg-type]
    )


def at(days: float) -> datetime.datetime:
    return ISSUED + datetime.timedelta(days=days)


def test_without_ari_renewal_is_due_when_a_third_of_the_lifetime_is_left() -> None:
    assert not decide(certificate().state, at(59.9)).due
    assert decide(certificate().state, at(60.1)).due


def test_days_overrides_the_threshold() -> None:
    assert decide(certificate().state, at(10), days=85).due
    assert not decide(certificate().state, at(70), days=10).due


def test_force_and_expiry_are_always_due() -> None:
    assert decide(certificate().state, at(1), force=True).due
    assert decide(certificate().state, at(91)).reason == "expired"


def test_a_certificate_never_issued_is_due() -> None:
    assert decide(certificate(not_before=None, not_after=None).state, at(0)).due


def test_no_ari_check_when_the_ca_offers_none() -> None:
    assert not decide(certificate().state, at(1)).ari_check_needed


def test_an_ari_check_is_needed_only_after_retry_after() -> None:
    stored = certificate(renewal_info_url=ARI_URL, ari_next_check=at(2))
    assert not decide(stored.state, at(1)).ari_check_needed
    assert decide(stored.state, at(2.5)).ari_check_needed


def test_the_ari_moment_decides_over_the_threshold() -> None:
    stored = certificate(renewal_info_url=ARI_URL, ari_renew_at=at(75), ari_next_check=at(80))
    assert not decide(stored.state, at(70)).due, "ARI says later than the 1/3 threshold: wait"
    assert decide(stored.state, at(75.1)).due
    early = certificate(renewal_info_url=ARI_URL, ari_renew_at=at(20), ari_next_check=at(80))
    assert decide(early.state, at(21)).due, "ARI says earlier (e.g. revocation coming): renew now"


def test_a_recorded_reply_picks_a_moment_inside_the_window() -> None:
    now = at(10)
    state = apply_renewal_info(
        CertificateState(),
        RECORDED_REPLY,
        datetime.timedelta(hours=6),
        now,
        pick=random.Random(1),
    )
    assert at(59) <= state.ari_renew_at <= at(61)  # 2026-03-01 .. 2026-03-03
    assert state.ari_next_check == now + datetime.timedelta(hours=6)


def test_a_picked_moment_is_kept_while_the_window_holds_it() -> None:
    first = apply_renewal_info(
        CertificateState(),
        RECORDED_REPLY,
        datetime.timedelta(hours=6),
        at(10),
        pick=random.Random(1),
    )
    again = apply_renewal_info(
        first, RECORDED_REPLY, datetime.timedelta(hours=6), at(11), pick=random.Random(99)
    )
    assert again.ari_renew_at == first.ari_renew_at


def test_a_window_moved_earlier_moves_the_moment() -> None:
    first = apply_renewal_info(
        CertificateState(), RECORDED_REPLY, datetime.timedelta(hours=6), at(10)
    )
    moved = {"suggestedWindow": {"start": "2026-01-15T00:00:00Z", "end": "2026-01-16T00:00:00Z"}}
    second = apply_renewal_info(first, moved, datetime.timedelta(hours=6), at(11))
    assert at(14) <= second.ari_renew_at <= at(15)


def test_a_window_in_the_past_renews_now() -> None:
    past = {"suggestedWindow": {"start": "2026-01-02T00:00:00Z", "end": "2026-01-03T00:00:00Z"}}
    state = apply_renewal_info(CertificateState(), past, datetime.timedelta(hours=6), at(5))
    assert state.ari_renew_at == at(5)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (datetime.timedelta(seconds=1), datetime.timedelta(minutes=1)),
        (datetime.timedelta(days=30), datetime.timedelta(days=1)),
    ],
)
def test_retry_after_is_clamped(
    retry_after: datetime.timedelta, expected: datetime.timedelta
) -> None:
    state = apply_renewal_info(CertificateState(), RECORDED_REPLY, retry_after, at(10))
    assert state.ari_next_check == at(10) + expected


def test_a_malformed_reply_is_refused() -> None:
    with pytest.raises((KeyError, ValueError)):
        apply_renewal_info(CertificateState(), {"window": {}}, datetime.timedelta(hours=1), at(1))
    backwards = {
        "suggestedWindow": {"start": "2026-03-03T00:00:00Z", "end": "2026-03-01T00:00:00Z"}
    }
    with pytest.raises(ValueError):
        apply_renewal_info(CertificateState(), backwards, datetime.timedelta(hours=1), at(1))


def test_next_renewal_is_ari_or_threshold() -> None:
    assert next_renewal(certificate().state) == at(60)
    assert next_renewal(certificate(ari_renew_at=at(70)).state) == at(70)


def test_the_ari_certificate_id_follows_rfc_9773() -> None:
    # RFC 9773 §4.1: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
    # serial 0x87654321 -> "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x87654321)
        .not_valid_before(ISSUED)
        .not_valid_after(EXPIRES)
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    assert ari_certificate_id(leaf) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_replacing_state_keeps_settings() -> None:
    stored = certificate()
    updated = dataclasses.replace(stored.state, last_result="ok")
    assert StoredCertificate(stored.settings, updated).settings == stored.settings


# --- short lifetimes, unusable replies, certificates replaced elsewhere -----------------------


def short(**state: object) -> StoredCertificate:
    """A shortlived certificate: 160 hours."""
    return certificate(not_after=ISSUED + datetime.timedelta(hours=160), **state)


def hours(value: float) -> datetime.datetime:
    return ISSUED + datetime.timedelta(hours=value)


def test_a_lifetime_under_ten_days_renews_at_half_life() -> None:
    assert not decide(short().state, hours(79.9)).due
    decision = decide(short().state, hours(80.1))
    assert decision.due
    assert decision.reason.endswith("past half of its short lifetime")
    assert next_renewal(short().state) == hours(80)


def test_ten_days_or_more_renews_at_a_third_left() -> None:
    ten_days = certificate(not_after=ISSUED + datetime.timedelta(days=10))
    assert next_renewal(ten_days.state) == ISSUED + datetime.timedelta(days=10) * 2 / 3
    forty_five = certificate(not_after=ISSUED + datetime.timedelta(days=45))
    assert next_renewal(forty_five.state) == at(30)
    assert decide(forty_five.state, at(30.1)).reason.endswith("less than a third of its lifetime")


def test_an_ari_window_decides_for_short_lifetimes_too() -> None:
    stored = short(renewal_info_url=ARI_URL, ari_renew_at=hours(100), ari_next_check=hours(110))
    assert not decide(stored.state, hours(90)).due
    assert decide(stored.state, hours(100.1)).due


def test_a_window_that_ends_when_it_starts_is_unusable() -> None:
    same = {"suggestedWindow": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}}
    with pytest.raises(ValueError):
        apply_renewal_info(CertificateState(), same, datetime.timedelta(hours=1), at(1))


def test_an_unusable_reply_drops_the_moment_and_waits_for_retry_after() -> None:
    from acmecf.lifecycle.schedule import renewal_info_unusable

    stored = certificate(renewal_info_url=ARI_URL, ari_renew_at=at(75), ari_next_check=at(10))
    state = renewal_info_unusable(stored.state, datetime.timedelta(hours=6), at(10))
    assert state.ari_renew_at is None, "no usable window: acmecf's own schedule decides"
    assert state.ari_next_check == at(10) + datetime.timedelta(hours=6)
    assert next_renewal(state) == at(60)


def test_no_answer_keeps_the_moment_and_waits_for_retry_after_or_an_hour() -> None:
    from acmecf.lifecycle.schedule import renewal_info_unanswered

    stored = certificate(renewal_info_url=ARI_URL, ari_renew_at=at(75), ari_next_check=at(10))
    asked = renewal_info_unanswered(stored.state, datetime.timedelta(minutes=30), at(10))
    assert (asked.ari_renew_at, asked.ari_next_check) == (
        at(75),
        at(10) + datetime.timedelta(minutes=30),
    )
    silent = renewal_info_unanswered(stored.state, None, at(10))
    assert silent.ari_next_check == at(10) + datetime.timedelta(hours=1)


def test_a_certificate_replaced_elsewhere_waits_for_its_last_resort_and_asks_no_ari() -> None:
    stored = certificate(
        renewal_info_url=ARI_URL,
        ari_renew_at=at(59),
        ari_next_check=at(1),
        replaced_elsewhere=at(59),
    )
    decision = decide(stored.state, at(70))
    assert not decision.due and not decision.ari_check_needed
    assert decision.reason == "replaced elsewhere; this copy renews at 2026-03-17 00:00"
    assert next_renewal(stored.state) == at(75), "a sixth of 90 days before expiry"
    assert decide(stored.state, at(75.1)).due
    assert decide(stored.state, at(70), force=True).due
    assert decide(stored.state, at(70), days=30).due, "--days still decides"


def test_a_revoked_certificate_is_due_whatever_its_window() -> None:
    stored = certificate(renewal_info_url=ARI_URL, ari_renew_at=at(80), last_result="revoked")
    assert decide(stored.state, at(1)) == Decision(True, "revoked")
