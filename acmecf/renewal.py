"""What each certificate remembers: how it was issued, and when it is due for renewal.

One small TOML file per certificate, `<config>/renewal/<cert-name>.toml`, with a `[certificate]`
table (names, key type, server, hooks and every other issue-time option) and a `[state]` table
(validity, ACME Renewal Information, last result). Reading it needs only `tomllib`, so deciding
that nothing is due costs no heavy imports and no network. This module does not talk to the
CA; it only decides, from stored facts and the clock, what is due.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acmecf.errors import StoreError

UTC = datetime.UTC
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CertificateConfig:
    """How a certificate is issued: everything `acmecf renew` needs to do it again.

    Never holds a secret: Cloudflare credentials are a file path or "from the environment".
    """

    cert_name: str
    names: tuple[str, ...]
    key_type: str = "ecdsa-p256"
    server: str = "https://acme-v02.api.letsencrypt.org/directory"
    email: str | None = None
    ca_bundle: str | None = None
    credentials_file: str | None = None
    zone_id: str | None = None
    dns_resolvers: tuple[str, ...] = ()
    nameserver_port: int | None = None
    propagation_timeout: float = 180.0
    deploy_hooks: tuple[str, ...] = ()
    failure_hooks: tuple[str, ...] = ()
    reuse_key: bool = False
    preferred_chain: str | None = None
    profile: str | None = None
    must_staple: bool = False
    issuer: str = "acme"  # or "cloudflare-origin-ca" (acmecf.origin_ca)


@dataclass(frozen=True)
class CertificateState:
    """What the last issuance left to know, so deciding what is due needs no certificate parsing."""

    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    ari_id: str | None = None  # RFC 9773 certificate identifier, for renewalInfo and `replaces`
    renewal_info_url: str | None = None  # the CA's renewalInfo base URL; None: no ARI there
    ari_renew_at: datetime.datetime | None = None  # the moment picked inside the ARI window
    ari_next_check: datetime.datetime | None = None
    last_attempt: datetime.datetime | None = None
    last_result: str | None = None  # "ok" or the error line
    last_success: datetime.datetime | None = None


@dataclass(frozen=True)
class StoredCertificate:
    config: CertificateConfig
    state: CertificateState = field(default_factory=CertificateState)

    @property
    def name(self) -> str:
        return self.config.cert_name


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

    Due means: `force`; or fewer than `days` days left when `days` is given; or the moment
    picked inside the CA's ARI window has come; or, without an ARI window, less than a third of
    the lifetime left; or no live certificate at all. An ARI fetch is needed when the CA offers
    renewalInfo and the time the CA asked us to wait (Retry-After) has passed.
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
    ari_check = state.renewal_info_url is not None and (
        state.ari_next_check is None or now >= state.ari_next_check
    )
    if state.ari_renew_at is not None:
        if now >= state.ari_renew_at:
            return Decision(True, "inside the CA's renewal window (ARI)")
        return Decision(False, f"ARI renewal at {state.ari_renew_at:%Y-%m-%d %H:%M}", ari_check)
    threshold = threshold_time(state)
    if threshold is not None and now >= threshold:
        return Decision(True, f"{_days(left)} left, less than a third of its lifetime", ari_check)
    return Decision(False, f"{_days(left)} left", ari_check)


def threshold_time(state: CertificateState) -> datetime.datetime | None:
    """When less than a third of the certificate's lifetime remains."""
    if state.not_after is None or state.not_before is None:
        return None
    return state.not_after - (state.not_after - state.not_before) / 3


def next_renewal(state: CertificateState) -> datetime.datetime | None:
    """The moment the certificate is expected to be renewed: ARI's pick, else the threshold."""
    return state.ari_renew_at or threshold_time(state)


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
    between one minute and a day (§4.3.3). Raises ValueError for a malformed reply.
    """
    window = reply["suggestedWindow"]
    start = _parse_time(str(window["start"]))
    end = _parse_time(str(window["end"]))
    if end < start:
        raise ValueError("renewalInfo window ends before it starts")
    if end <= now:
        renew_at = now
    elif state.ari_renew_at is not None and start <= state.ari_renew_at <= end:
        renew_at = state.ari_renew_at
    else:
        begin = max(start, now)
        span = (end - begin).total_seconds()
        renew_at = begin + datetime.timedelta(seconds=(pick or random).uniform(0, span))
    wait = min(max(retry_after, datetime.timedelta(minutes=1)), datetime.timedelta(days=1))
    return dataclasses.replace(state, ari_renew_at=renew_at, ari_next_check=now + wait)


def state_to_json(state: CertificateState) -> dict[str, str]:
    """The state as JSON-ready strings (for the state cache)."""
    result: dict[str, str] = {}
    for item in dataclasses.fields(CertificateState):
        value = getattr(state, item.name)
        if value is not None:
            result[item.name] = value.isoformat() if isinstance(value, datetime.datetime) else value
    return result


def state_from_json(data: Mapping[str, str]) -> CertificateState:
    """The inverse of state_to_json. Raises ValueError or KeyError for a malformed entry."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(CertificateState):
        raw = data.get(item.name)
        if raw is None:
            continue
        values[item.name] = (
            datetime.datetime.fromisoformat(raw) if item.name in _TIME_FIELDS else str(raw)
        )
    return CertificateState(**values)


_TIME_FIELDS = {
    "not_before", "not_after", "ari_renew_at", "ari_next_check", "last_attempt", "last_success",
}  # fmt: skip


# --- the TOML file --------------------------------------------------------------------------


def load(path: Path) -> StoredCertificate:
    """Read one certificate's file. Raises StoreError naming the file when it is unreadable."""
    try:
        data = tomllib.loads(path.read_text())
        section = data["certificate"]
        config = CertificateConfig(
            cert_name=path.stem,
            names=tuple(section["names"]),
            key_type=section.get("key_type", "ecdsa-p256"),
            server=section["server"],
            email=section.get("email"),
            ca_bundle=section.get("ca_bundle"),
            credentials_file=section.get("credentials_file"),
            zone_id=section.get("zone_id"),
            dns_resolvers=tuple(section.get("dns_resolvers", ())),
            nameserver_port=section.get("nameserver_port"),
            propagation_timeout=float(section.get("propagation_timeout", 180.0)),
            deploy_hooks=tuple(data.get("hooks", {}).get("deploy", ())),
            failure_hooks=tuple(data.get("hooks", {}).get("failure", ())),
            reuse_key=bool(section.get("reuse_key", False)),
            preferred_chain=section.get("preferred_chain"),
            profile=section.get("profile"),
            must_staple=bool(section.get("must_staple", False)),
            issuer=str(section.get("issuer", "acme")),
        )
        raw_state = data.get("state", {})
        known = {f.name for f in dataclasses.fields(CertificateState)}
        state = CertificateState(**{k: v for k, v in raw_state.items() if k in known})
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
        raise StoreError(
            f"cannot read {path}: {err}; fix the file or remove it and issue the certificate again"
        ) from err
    return StoredCertificate(config, state)


def dumps(certificate: StoredCertificate) -> str:
    """The TOML text of a certificate's file (a small writer: tomllib only reads)."""
    config, state = certificate.config, certificate.state
    lines = [
        f"# acmecf: how {config.cert_name} is issued and renewed. Written by `acmecf issue`;",
        "# change it with `acmecf issue --cert-name ...` rather than by hand.",
        f"version = {FORMAT_VERSION}",
        "",
        "[certificate]",
    ]
    for key in (
        "names", "key_type", "server", "email", "ca_bundle", "credentials_file", "zone_id",
        "dns_resolvers", "nameserver_port", "propagation_timeout", "issuer", "reuse_key",
        "preferred_chain", "profile", "must_staple",
    ):  # fmt: skip
        lines.extend(_entry(key, getattr(config, key)))
    lines += ["", "[hooks]"]
    lines.extend(_entry("deploy", config.deploy_hooks))
    lines.extend(_entry("failure", config.failure_hooks))
    lines += ["", "[state]"]
    for item in dataclasses.fields(CertificateState):
        lines.extend(_entry(item.name, getattr(state, item.name)))
    return "\n".join(lines) + "\n"


def _entry(key: str, value: object) -> list[str]:
    if value is None:
        return []
    return [f"{key} = {_toml_value(value)}"]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, Iterable):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _parse_time(text: str) -> datetime.datetime:
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _days(delta: datetime.timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"
