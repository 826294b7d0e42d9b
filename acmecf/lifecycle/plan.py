"""What `acmecf issue` does for a certificate it is asked for again: order a new one, or only
store the settings that changed, so that running `issue` from a script or cron never burns the
CA's limits (Let's Encrypt allows 5 certificates for the same names a week).

A new certificate is ordered when there is none yet, when it is due (lifecycle.schedule),
when the names change or a setting that changes what the CA signs does (the settings table's
`new_certificate`), or when forced. Dropping names needs the caller's consent: it is easy to
do by mistake (a `-d` left out) and takes names off a live site. Does not: talk to the CA,
store anything or print.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from acmecf.errors import UsageError
from acmecf.lifecycle.schedule import decide, next_renewal
from acmecf.settings.table import SETTINGS, CertificateSettings
from acmecf.storage.model import StoredCertificate


@dataclass(frozen=True)
class IssuePlan:
    """`order`: a new certificate is needed, `reason` says why (or why not). `changed` names
    the settings that differ from the stored ones, `dropped` the names the new certificate
    no longer covers; `renews_at` when a certificate kept as it is renews."""

    order: bool
    reason: str
    changed: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    renews_at: datetime.datetime | None = None


def plan_issue(
    existing: StoredCertificate | None,
    requested: CertificateSettings,
    now: datetime.datetime,
    *,
    force: bool = False,
    allow_fewer_names: bool = False,
) -> IssuePlan:
    """The plan for issuing `requested` where `existing` is stored (None: a new certificate).

    Raises UsageError, naming them, when names would be dropped without `allow_fewer_names`.
    """
    if existing is None:
        return IssuePlan(True, "a new certificate")
    stored = existing.settings
    dropped = tuple(name for name in stored.names if name not in requested.names)
    added = tuple(name for name in requested.names if name not in stored.names)
    if dropped and not allow_fewer_names:
        them = "it" if len(dropped) == 1 else "them"
        raise UsageError(
            f"{existing.name} also covers {', '.join(dropped)}: a certificate for "
            f"{', '.join(requested.names)} alone would drop {them}; pass --allow-fewer-names "
            f"to drop {them}, or add {them} with -d"
        )
    changed = tuple(
        setting.name
        for setting in SETTINGS
        if getattr(stored, setting.name) != getattr(requested, setting.name)
    )
    if force:
        return IssuePlan(True, "--force-renewal", changed, dropped)
    if added or dropped:
        what = [f"adds {', '.join(added)}"] if added else []
        what += [f"drops {', '.join(dropped)}"] if dropped else []
        return IssuePlan(True, f"the name set changed (it {' and '.join(what)})", changed, dropped)
    reissue = [name for name in changed if _needs_new_certificate(name)]
    if reissue:
        return IssuePlan(True, f"{', '.join(reissue)} changed", changed)
    decision = decide(existing.state, now)
    if decision.due:
        return IssuePlan(True, decision.reason, changed)
    return IssuePlan(False, decision.reason, changed, renews_at=next_renewal(existing.state))


def _needs_new_certificate(name: str) -> bool:
    # The names are judged as a set above: their order alone changes nothing the CA signs.
    return name != "names" and any(s.new_certificate for s in SETTINGS if s.name == name)
