"""dns-persist-01 records: publish them once, check them, remove them.

`setup` asks the CA, through a throwaway order it never finalizes, which issuer domain name
and account its dns-persist-01 challenges expect, publishes `_validation-persist.<name>`
through the DNS provider (following a CNAME there, as for `_acme-challenge`), waits until
every authoritative nameserver serves it, and then removes this account's older records at
that name. `status` reads the records from the authoritative nameservers and judges them as
the CA would, changing nothing. `remove` deletes this account's records, and no other's.

The records are never journaled: unlike challenge records, they are meant to stay, and the
next run's cleanup must not take them away. Does not: parse options or print.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acmecf.acme import persist
from acmecf.dns.propagation import ExpectedRecord, NameserverAddress
from acmecf.errors import AcmecfError, UsageError
from acmecf.lifecycle.services import Services
from acmecf.settings.table import CertificateSettings

if TYPE_CHECKING:
    from acmecf.cloudflare.dns import CloudflareDns

log = logging.getLogger(__name__)

RECORD_COMMENT = (
    "acmecf: dns-persist-01, lets one ACME account issue for this name while it stands; "
    "acmecf persist remove deletes it"
)


@dataclass(frozen=True)
class PersistName:
    """A name to publish (or check) a record for; `wildcard`: it must cover `*.name` too."""

    name: str
    wildcard: bool = False


@dataclass(frozen=True)
class Binding:
    """Who a record names: the CA's issuer domain names (the first is written) and the
    account URL it expects."""

    issuers: tuple[str, ...]
    account_uri: str


@dataclass
class Published:
    name: str
    record_name: str
    value: str
    created: bool  # False: every nameserver served it already
    replaced: list[str] = field(default_factory=list)  # this account's older records, removed
    foreign: list[str] = field(default_factory=list)  # other accounts' records, left alone


@dataclass(frozen=True)
class Status:
    name: str
    record_name: str
    check: persist.PersistCheck
    lagging: tuple[str, ...] = ()  # nameservers that do not serve the record yet


@dataclass(frozen=True)
class Removed:
    name: str
    record_name: str
    removed: int
    others: int  # records at that name bound to other accounts, left alone


def binding(services: Services, settings: CertificateSettings, names: Sequence[str]) -> Binding:
    """The issuer domain names and account the CA's dns-persist-01 challenges for `names`
    expect (registering acmecf's account at the CA when there is none, which needs
    --agree-tos). Raises AcmeError in one line when the CA does not offer dns-persist-01."""
    session = services.acme(settings)
    issuers, expected = persist.probe(session, list(names))
    account = expected or session.account_uri
    if account is None:
        raise AcmecfError(f"no account at {session.server}: run `acmecf account register`")
    if session.account_uri and account != session.account_uri:
        log.info(
            "the CA names this account %s (acmecf knows it as %s)", account, session.account_uri
        )
    return Binding(issuers, account)


def setup(
    services: Services,
    settings: CertificateSettings,
    wanted: Sequence[PersistName],
    *,
    until: datetime.datetime | None = None,
) -> list[Published]:
    """Publish the record of each name and wait until every nameserver serves it (see the
    module doc). Idempotent: a record already served everywhere is not created again."""
    bound = binding(services, settings, [w.name for w in wanted])
    propagation = services.propagation(settings)
    dns = _provider(services, settings)
    results: list[Published] = []
    expected: list[ExpectedRecord] = []
    for item in wanted:
        target = propagation.follow_cname(persist.record_name(item.name))
        if target != persist.record_name(item.name):
            log.info("%s is delegated to %s", persist.record_name(item.name), target)
        value = persist.record_value(
            bound.issuers[0], bound.account_uri, wildcard=item.wildcard, until=until
        )
        everywhere, anywhere = _values(propagation.served(target))
        result = Published(item.name, target, value, created=value not in everywhere)
        for text in sorted(anywhere - {value}):
            record = persist.parse_record(text)
            if record.issuer not in {i.lower() for i in bound.issuers}:
                continue
            if record.account_uri == bound.account_uri:
                result.replaced.append(text)
            elif record.account_uri is not None:
                result.foreign.append(record.account_uri)
        if result.created:
            dns.present(target, value)
            zone = dns.zone_for(target).name
            expected.append(ExpectedRecord(target, value, zone))
        results.append(result)
    propagation.wait(expected, timeout=settings.propagation_timeout)
    # The new records are served everywhere: only now may the ones they replace go.
    for result in results:
        for text in result.replaced:
            dns.cleanup(result.record_name, text)
    return results


def status(
    services: Services,
    settings: CertificateSettings,
    wanted: Sequence[PersistName],
    now: datetime.datetime,
) -> list[Status]:
    """How the record of each name stands for acmecf's account at the CA, as every
    authoritative nameserver serves it now. Changes nothing at the DNS."""
    bound = binding(services, settings, [w.name for w in wanted])
    propagation = services.propagation(settings)
    results: list[Status] = []
    for item in wanted:
        target = propagation.follow_cname(persist.record_name(item.name))
        served = propagation.served(target)
        everywhere, anywhere = _values(served)

        def judge(values: set[str], item: PersistName = item) -> persist.PersistCheck:
            return persist.check_records(
                item.name,
                values,
                issuers=bound.issuers,
                account_uri=bound.account_uri,
                wildcard=item.wildcard,
                now=now,
            )

        check = judge(everywhere)
        lagging: tuple[str, ...] = ()
        if not check.ok and judge(anywhere).ok:
            good = judge(anywhere).record
            lagging = tuple(
                f"{server.name} ({server.address})"
                for server, values in served.items()
                if good is not None and good.text not in values
            )
        results.append(Status(item.name, target, check, lagging))
    return results


def remove(
    services: Services, settings: CertificateSettings, names: Sequence[str]
) -> list[Removed]:
    """Delete every record at each name that binds acmecf's account at the CA; records of
    other accounts stay. Needs no word with the CA: the account's URL is stored."""
    stored = services.store.load_account(services.server(settings))
    account = str(stored.info.get("uri") or "") if stored is not None else ""
    if not account:
        raise UsageError(
            f"no account at {services.server(settings)} in {services.store.config_dir}: "
            "acmecf published no dns-persist-01 record for it"
        )
    propagation = services.propagation(settings)
    dns = _provider(services, settings)
    results: list[Removed] = []
    for name in names:
        target = propagation.follow_cname(persist.record_name(name))
        _, anywhere = _values(propagation.served(target))
        mine = [v for v in sorted(anywhere) if persist.parse_record(v).account_uri == account]
        for value in mine:
            dns.cleanup(target, value)
        others = sum(
            1 for v in anywhere if persist.parse_record(v).account_uri not in (None, account)
        )
        results.append(Removed(name, target, len(mine), others))
    return results


def _provider(services: Services, settings: CertificateSettings) -> CloudflareDns:
    from acmecf.cloudflare.dns import CloudflareDns

    return CloudflareDns(
        services.cloudflare(settings.credentials_file),
        zones=services.zones(settings.credentials_file),
        zone_id=settings.zone_id,
        comment=RECORD_COMMENT,
    )


def _values(served: dict[NameserverAddress, set[str]]) -> tuple[set[str], set[str]]:
    """The values every nameserver serves, and those any serves."""
    sets = list(served.values())
    everywhere = set.intersection(*sets) if sets else set()
    anywhere = set.union(*sets) if sets else set()
    return everywhere, anywhere
