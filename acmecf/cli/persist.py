"""`acmecf persist setup | status | remove`: the dns-persist-01 records, published once through
Cloudflare so that issuing and renewing (`--challenge dns-persist-01`) need no DNS credentials.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from acmecf.cli.base import EXIT_CODES, Common, cli, common_options, run_command, say
from acmecf.cli.options import choose_server, eab_from, eab_options, given_settings, setting_options

if TYPE_CHECKING:
    from acmecf.lifecycle.persist import PersistName, Status
    from acmecf.lifecycle.services import Services
    from acmecf.settings.table import CertificateSettings

UTC = datetime.UTC
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class PersistOptions:
    common: Common
    wanted: tuple[PersistName, ...]  # empty for `status` of every stored certificate
    given: dict[str, Any]
    server: str
    agree_tos: bool = False
    eab: tuple[str, str] | None = None
    until: datetime.datetime | None = None


def _names(domains: Sequence[str], wildcard: bool) -> tuple[PersistName, ...]:
    """The base names asked for: `*.example.com` asks for example.com's record with
    policy=wildcard, as --wildcard does for every name."""
    from acmecf.lifecycle.persist import PersistName
    from acmecf.names import normalize_names

    wanted: dict[str, bool] = {}
    for name in normalize_names(list(domains)) if domains else ():
        base = name.removeprefix("*.")
        wanted[base] = wanted.get(base, False) or wildcard or name.startswith("*.")
    return tuple(PersistName(name, flag) for name, flag in wanted.items())


def _until(text: str | None, now: datetime.datetime) -> datetime.datetime | None:
    from acmecf.errors import UsageError

    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid --until {text!r}: give a date such as 2027-06-30 (or 2027-06-30T12:00Z)"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= now:
        raise UsageError(f"--until {text} has passed: give a later date")
    return moment


def _options(ctx: click.Context, common: Common, kwargs: Mapping[str, Any]) -> PersistOptions:
    given = given_settings(ctx, kwargs)
    given.pop("server", None)
    eab = eab_from(kwargs, os.environ) if "eab_kid" in kwargs else None
    return PersistOptions(
        common=common,
        wanted=_names(kwargs["domains"], bool(kwargs.get("wildcard"))),
        given=given,
        server=choose_server(kwargs.get("server"), bool(kwargs.get("staging"))),
        agree_tos=bool(kwargs.get("agree_tos")),
        eab=eab,
        until=_until(kwargs.get("until"), datetime.datetime.now(UTC)),
    )


def _domains(required: bool) -> Callable[[F], F]:
    return click.option(
        "-d",
        "--domain",
        "domains",
        multiple=True,
        required=required,
        metavar="NAME",
        help="A name whose record to "
        + (
            "publish or remove"
            if required
            else "check (default: the names of every certificate "
            "issued with --challenge dns-persist-01)"
        )
        + "; '*.example.com' means example.com's record with policy=wildcard. Repeatable.",
    )


def _ca_options(function: F) -> F:
    function = setting_options("server", "ca_bundle")(function)
    return click.option(
        "--staging", is_flag=True, help="Use Let's Encrypt's staging server (for trials)."
    )(function)


def _account_options(function: F) -> F:
    function = setting_options("email")(function)
    function = click.option(
        "--agree-tos", is_flag=True, help="Accept the CA's terms of service (first run)."
    )(function)
    return eab_options(function)


def _dns_options(*, cloudflare: bool, wait: bool) -> Callable[[F], F]:
    names = ["dns_resolvers", "nameserver_port", "dns_check"]
    if cloudflare:
        names = ["credentials_file", "zone_id", *names]
    if wait:
        names += ["propagation_timeout", "propagation_settle", "propagation_delay"]
    return setting_options(*names)


@cli.group(epilog=EXIT_CODES)
def persist() -> None:
    """dns-persist-01: one TXT record per name, published once, instead of one per order.

    `persist setup` publishes `_validation-persist.NAME` through Cloudflare: it names the CA
    and acmecf's account at that CA. From then on `acmecf issue --challenge dns-persist-01`
    (and every `acmecf renew` of that certificate) proves the names without any DNS change,
    so the Cloudflare token can leave the server. Whoever holds the account key can then
    issue for those names, as long as the record stands: keep the key safe, and `persist
    remove` the records you no longer need.

    \b
    Example:
      acmecf persist setup --agree-tos -d example.com --wildcard
      acmecf issue --challenge dns-persist-01 -d example.com -d '*.example.com'
      acmecf persist status
    """


# --- setup -----------------------------------------------------------------------------------


@persist.command("setup", epilog=EXIT_CODES)
@_domains(required=True)
@click.option(
    "--wildcard",
    is_flag=True,
    help="Let the records cover *.NAME and every name below NAME too (policy=wildcard).",
)
@click.option(
    "--until",
    metavar="DATE",
    help="The CA stops accepting the records after DATE (persistUntil), e.g. 2027-06-30.",
)
@_ca_options
@_account_options
@_dns_options(cloudflare=True, wait=True)
@common_options
@click.pass_context
def persist_setup(ctx: click.Context, /, **kwargs: Any) -> None:
    """Publish the dns-persist-01 record of each name and wait until DNS serves it.

    Asks the CA (through an order it never finalizes) for its issuer domain name and the
    account it expects, registers acmecf's account there first when there is none
    (--agree-tos), publishes `_validation-persist.NAME` = "ISSUER; accounturi=ACCOUNT
    [; policy=wildcard][; persistUntil=TIME]" with the Cloudflare token (Zone > DNS > Edit),
    waits until every authoritative nameserver serves it, and then removes this account's
    older records there. Running it again changes nothing that is in place.

    \b
    Examples:
      acmecf persist setup --agree-tos --email you@example.com -d example.com --wildcard
      acmecf persist setup -d www.example.com -d api.example.com --until 2027-06-30
    """
    run_command(_setup, kwargs, lambda common, kw: _options(ctx, common, kw))


def _setup(options: PersistOptions) -> None:
    from acmecf.lifecycle.persist import setup

    store = options.common.store()
    store.prepare()
    services = _services(store, options)
    try:
        results = setup(services, _settings(options), options.wanted, until=options.until)
    finally:
        services.close()
    if options.common.quiet:
        return
    for result in results:
        verb = "published" if result.created else "already published"
        say(f'{verb} {result.record_name} TXT "{result.value}"')
        if result.replaced:
            say(f"  removed this account's older record{'s' * (len(result.replaced) > 1)} there")
        for account in result.foreign:
            say(f"  note: another account's record stays there ({account})", err=True)
    names = " ".join(
        f"-d {w.name}" + (f" -d '*.{w.name}'" if w.wildcard else "") for w in options.wanted
    )
    say(
        "Every nameserver serves them: `acmecf issue --challenge dns-persist-01 "
        f"{names}` needs no Cloudflare credentials now."
    )


# --- status ----------------------------------------------------------------------------------


@persist.command("status", epilog=EXIT_CODES)
@_domains(required=False)
@click.option("--wildcard", is_flag=True, help="The records must cover *.NAME too.")
@_ca_options
@_account_options
@_dns_options(cloudflare=False, wait=False)
@common_options
@click.pass_context
def persist_status(ctx: click.Context, /, **kwargs: Any) -> None:
    """Check the dns-persist-01 records against acmecf's account, changing nothing.

    Reads each `_validation-persist.NAME` from every authoritative nameserver and judges it
    as the CA would: one line per name, ok or FAIL with what is wrong (no record for this CA,
    bound to another account, no policy=wildcard where a wildcard needs it, past its
    persistUntil, malformed, not yet on every nameserver) and what to do. Exit status 1 when
    any record fails. Needs no Cloudflare credentials.

    \b
    Examples:
      acmecf persist status
      acmecf persist status -d example.com -d '*.example.com'
    """
    run_command(_status, kwargs, lambda common, kw: _options(ctx, common, kw))


_REMEDIES = {
    "missing": "run `acmecf persist setup -d {name}`",
    "other-account": "run `acmecf persist setup -d {name}` to add this account's record "
    "(and remove the other one if that account must not issue)",
    "malformed": "run `acmecf persist setup -d {name}`",
    "ended": "run `acmecf persist setup -d {name}` (with a later --until, or none)",
    "no-wildcard": "run `acmecf persist setup -d {name} --wildcard`",
}


def _status(options: PersistOptions) -> None:
    from acmecf.errors import AcmecfError, UsageError
    from acmecf.lifecycle.persist import status

    store = options.common.store()
    wanted = options.wanted or _stored_names(store, options.server)
    if not wanted:
        raise UsageError(
            f"no certificate in {store.config_dir} uses dns-persist-01 at {options.server}: "
            "pass -d NAME"
        )
    services = _services(store, options)
    try:
        results = status(services, _settings(options, wanted), wanted, datetime.datetime.now(UTC))
    finally:
        services.close()
    failed = [r.name for r in results if not r.check.ok]
    for result in results:
        say(_status_line(result))
    if failed:
        raise AcmecfError(
            f"{len(failed)} of {len(results)} dns-persist-01 record"
            f"{'s' * (len(results) > 1)} would not let this account issue: "
            f"{', '.join(failed)} (see above)"
        )


def _status_line(result: Status) -> str:
    check = result.check
    where = f"{result.name}: {result.record_name}"
    if check.ok and check.record is not None:
        scope = f"{result.name} and *.{result.name}" if check.record.wildcard else result.name
        until = f"until {check.record.until:%Y-%m-%d %H:%M} UTC" if check.record.until else "no end"
        return f"ok    {where} lets {check.record.account_uri} issue for {scope} ({until})"
    if result.lagging:
        return (
            f"FAIL  {where}: not served by every nameserver yet ({', '.join(result.lagging)} "
            "lack it): wait a minute and check again"
        )
    remedy = _REMEDIES.get(check.kind or "", "").format(name=result.name)
    return f"FAIL  {where}: {check.problem}" + (f": {remedy}" if remedy else "")


def _stored_names(store: Any, server: str) -> tuple[PersistName, ...]:
    """The names of every certificate at `server` that is issued with dns-persist-01."""
    from acmecf.settings.table import CHALLENGE_DNS_PERSIST_01

    certificates, _ = store.load_all()
    domains = [
        name
        for certificate in certificates
        if certificate.settings.challenge == CHALLENGE_DNS_PERSIST_01
        and certificate.settings.server == server
        for name in certificate.settings.names
    ]
    return _names(domains, False) if domains else ()


# --- remove ----------------------------------------------------------------------------------


@persist.command("remove", epilog=EXIT_CODES)
@_domains(required=True)
@_ca_options
@_dns_options(cloudflare=True, wait=False)
@common_options
@click.pass_context
def persist_remove(ctx: click.Context, /, **kwargs: Any) -> None:
    """Delete the dns-persist-01 records that bind acmecf's account, at each name.

    Records of other accounts at the same name stay. Certificates issued with
    --challenge dns-persist-01 for these names cannot be renewed afterwards: issue them
    again with --challenge dns-01 first.

    \b
    Example:
      acmecf persist remove -d example.com
    """
    run_command(_remove, kwargs, lambda common, kw: _options(ctx, common, kw))


def _remove(options: PersistOptions) -> None:
    from acmecf.lifecycle.persist import remove

    store = options.common.store()
    store.prepare()
    services = _services(store, options)
    try:
        results = remove(services, _settings(options), [w.name for w in options.wanted])
    finally:
        services.close()
    if options.common.quiet:
        return
    for result in results:
        if result.removed:
            plural = "s" * (result.removed > 1)
            say(f"removed {result.record_name} ({result.removed} record{plural})")
        else:
            say(f"no record of this account at {result.record_name}")
        if result.others:
            say(f"  {result.others} record(s) of other accounts stay there")


# --- shared ----------------------------------------------------------------------------------


def _settings(options: PersistOptions, wanted: Sequence[PersistName] = ()) -> CertificateSettings:
    """The settings of the run: the CA, the account's contact, DNS and Cloudflare options."""
    from acmecf.settings.table import defaults, merge

    names = tuple(w.name for w in (wanted or options.wanted))
    base = defaults("dns-persist-01", names)
    return merge(base, options.given, {"server": options.server})


def _services(store: Any, options: PersistOptions) -> Services:
    from acmecf.lifecycle.services import RunOptions, Services

    return Services(store, os.environ, RunOptions(agree_tos=options.agree_tos, eab=options.eab))
