"""When a certificate is due: from its stored state and the clock, never the network.

`decide` says whether a certificate is due and whether its CA's renewal information (ARI,
RFC 9773) should be fetched; `apply_renewal_info` turns a renewalInfo reply into the moment to
renew. Reading a state needs only the state file, so deciding that nothing is due costs no
heavy import and no network. Does not: talk to the CA, read files or renew.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acmecf.storage.model import CertificateState

UTC = datetime.UTC


@dataclass(frozen=True)
class Decision:
    due: bool
    reason: str
    ari_check_needed: bool = False


def decide(
    state: CertificateState,
    now: datetime.datetime,
    *,
    days: float | None = None,
    force: bool = False,
) -> Decision:
    """Whether a certificate in `state` is due for renewal at `now`, and whether its ARI must be
    fetched.

    Due means: `force`; revoked; no live certificate at all; expired; fewer than `days` days
    left when `days` is given; or the moment picked inside the CA's ARI window has come; or,
    without an ARI window, the lifetime threshold (`threshold_time`). A certificate the CA
    says another order already replaced (another machine renewed it) is left alone until
    `last_resort_time`, and its ARI is no longer asked. An ARI fetch is needed when the CA
    offers renewalInfo and the time it asked us to wait (Retry-After) has passed.
    """
    if force:
        return Decision(True, "forced")
    if state.last_result == "revoked":
        return Decision(True, "revoked")
    if state.not_after is None or state.not_before is None:
        return Decision(True, "no certificate issued yet")
    left = state.not_after - now
    if left <= datetime.timedelta(0):
        return Decision(True, "expired")
    if days is not None:
        if left < datetime.timedelta(days=days):
            return Decision(True, f"{_days(left)} left, fewer than --days {days:g}")
        return Decision(False, f"{_days(left)} left")
    if state.replaced_elsewhere is not None:
        last_resort = last_resort_time(state)
        if last_resort is not None and now >= last_resort:
            return Decision(True, f"{_days(left)} left; another machine replaced it, but this one")
        return Decision(
            False, f"replaced elsewhere; this copy renews at {last_resort:%Y-%m-%d %H:%M}"
        )
    ari_check = state.renewal_info_url is not None and (
        state.ari_next_check is None or now >= state.ari_next_check
    )
    if state.ari_renew_at is not None:
        if now >= state.ari_renew_at:
            return Decision(True, "inside the CA's renewal window (ARI)")
        return Decision(False, f"ARI renewal at {state.ari_renew_at:%Y-%m-%d %H:%M}", ari_check)
    threshold = threshold_time(state)
    if threshold is not None and now >= threshold:
        return Decision(True, f"{_days(left)} left, {_threshold_text(state)}", ari_check)
    return Decision(False, f"{_days(left)} left", ari_check)


SHORT_LIFETIME = datetime.timedelta(days=10)


def lifetime(state: CertificateState) -> datetime.timedelta | None:
    """How long the live certificate is valid in all (None when there is none)."""
    if state.not_after is None or state.not_before is None:
        return None
    return state.not_after - state.not_before


def threshold_time(state: CertificateState) -> datetime.datetime | None:
    """When a certificate is due without ARI: at half its lifetime when that is under 10
    days (short-lived certificates need room for retries, as certbot and lego have it),
    otherwise when a third of it is left (day 60 of 90)."""
    total = lifetime(state)
    if total is None or state.not_before is None or state.not_after is None:
        return None
    if total < SHORT_LIFETIME:
        return state.not_before + total / 2
    return state.not_after - total / 3


def last_resort_time(state: CertificateState) -> datetime.datetime | None:
    """When a certificate that another machine replaced is renewed here after all, so this
    machine is never left with an expired one: a sixth of its lifetime before expiry."""
    total = lifetime(state)
    if total is None or state.not_after is None:
        return None
    return state.not_after - total / 6


def next_renewal(state: CertificateState) -> datetime.datetime | None:
    """The moment the certificate is expected to be renewed: ARI's pick, else the threshold
    (the last resort for one replaced elsewhere)."""
    if state.replaced_elsewhere is not None:
        return last_resort_time(state)
    return state.ari_renew_at or threshold_time(state)


def _threshold_text(state: CertificateState) -> str:
    total = lifetime(state)
    if total is not None and total < SHORT_LIFETIME:
        return "past half of its short lifetime"
    return "less than a third of its lifetime"


def apply_renewal_info(
    state: CertificateState,
    reply: Mapping[str, Any],
    retry_after: datetime.timedelta,
    now: datetime.datetime,
    *,
    pick: random.Random | None = None,
) -> CertificateState:
    """The state after a renewalInfo reply (RFC 9773 §4.2): a moment picked in the window.

    A window already past renews now; a moment already picked inside an unchanged window is
    kept, so repeated checks do not move it. The next check waits for Retry-After, clamped to
    between one minute and a day (§4.3.3). Raises ValueError (or KeyError, TypeError) for a
    malformed reply, one whose window ends before or when it starts included (§4.2).
    """
    window = reply["suggestedWindow"]
    start = _parse_time(str(window["start"]))
    end = _parse_time(str(window["end"]))
    if end <= start:
        raise ValueError("renewalInfo window ends before it starts")
    if end <= now:
        renew_at = now
    elif state.ari_renew_at is not None and start <= state.ari_renew_at <= end:
        renew_at = state.ari_renew_at
    else:
        begin = max(start, now)
        span = (end - begin).total_seconds()
        renew_at = begin + datetime.timedelta(seconds=(pick or random).uniform(0, span))
    return dataclasses.replace(
        state, ari_renew_at=renew_at, ari_next_check=now + _clamped(retry_after)
    )


def renewal_info_unusable(
    state: CertificateState, retry_after: datetime.timedelta, now: datetime.datetime
) -> CertificateState:
    """The state after a renewalInfo reply that holds no usable window: RFC 9773 §4.2 has the
    client treat it as no reply, so the moment picked earlier is dropped (the lifetime
    threshold decides) and the CA is asked again after Retry-After (clamped as above)."""
    return dataclasses.replace(state, ari_renew_at=None, ari_next_check=now + _clamped(retry_after))


def renewal_info_unanswered(
    state: CertificateState, retry_after: datetime.timedelta | None, now: datetime.datetime
) -> CertificateState:
    """The state after the CA did not answer renewalInfo (down, unreachable): the moment
    picked earlier stays, and the CA is asked again after its Retry-After, or in an hour."""
    wait = retry_after if retry_after is not None else datetime.timedelta(hours=1)
    return dataclasses.replace(state, ari_next_check=now + _clamped(wait))


def _clamped(retry_after: datetime.timedelta) -> datetime.timedelta:
    return min(max(retry_after, datetime.timedelta(minutes=1)), datetime.timedelta(days=1))


def _parse_time(text: str) -> datetime.datetime:
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _days(delta: datetime.timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"
