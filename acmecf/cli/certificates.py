"""Commands for certificates: issue, renew, list (certificates) and delete."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from acmecf.cli.base import (
    EXIT_CODES,
    Common,
    cli,
    common_options,
    log,
    note_published,
    run_command,
    say,
)
from acmecf.cli.options import (
    CERT_NAME,
    DURATION_OR_ZERO,
    cert_names_option,
    choose_server,
    eab_from,
    eab_options,
    given_settings,
    run_options,
    run_options_from,
    stored_setting_options,
)
from acmecf.cli.report import (
    Progress,
    other_record,
    outcome_record,
    print_document,
    print_outcome,
    records_left_text,
    summary_line,
)

if TYPE_CHECKING:
    from acmecf.lifecycle.obtain import Outcome
    from acmecf.lifecycle.plan import IssuePlan
    from acmecf.lifecycle.renew import RenewReport, RenewSelection
    from acmecf.lifecycle.services import RunOptions, Services
    from acmecf.settings.table import CertificateSettings
    from acmecf.storage.files import FileStore
    from acmecf.storage.model import StoredCertificate


JSON_HELP = (
    "Print one JSON document on stdout instead of the result lines: each certificate's "
    'outcome, new expiry, files and error ({"version": 1, ...}; see the README).'
)

# --- acmecf issue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueOptions:
    common: Common
    wanted: list[tuple[str, tuple[str, ...]]]  # (cert name, names) of each certificate
    given: dict[str, Any]  # stored settings given on the command line or in the environment
    server_given: bool
    server: str
    run: RunOptions
    force_renewal: bool = False
    allow_fewer_names: bool = False
    as_json: bool = False


def _issue_options(ctx: click.Context, common: Common, kwargs: Mapping[str, Any]) -> IssueOptions:
    from click.core import ParameterSource

    from acmecf.errors import UsageError

    wanted = _requested_certificates(kwargs)
    given = given_settings(ctx, kwargs)
    # A certificate has a required or a preferred profile, never both: giving one clears the
    # other that may be stored.
    if given.get("profile") and given.get("preferred_profile"):
        raise UsageError("--profile and --preferred-profile exclude each other: give one")
    if given.get("profile"):
        given["preferred_profile"] = None
    elif given.get("preferred_profile"):
        given["profile"] = None
    server_given = any(
        ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
        for name in ("server", "staging")
    )
    server = choose_server(kwargs["server"], kwargs["staging"], dry_run=kwargs["dry_run"])
    given.pop("server", None)
    eab = eab_from(kwargs, os.environ)
    run = run_options_from(kwargs, agree_tos=kwargs["agree_tos"], eab=eab)
    return IssueOptions(
        common,
        wanted,
        given,
        server_given,
        server,
        run,
        force_renewal=bool(kwargs["force_renewal"]),
        allow_fewer_names=bool(kwargs["allow_fewer_names"]),
        as_json=bool(kwargs["as_json"]),
    )


@cli.command(epilog=EXIT_CODES)
@click.option(
    "-d",
    "--domain",
    "domains",
    multiple=True,
    metavar="NAME",
    help="A name for the certificate (repeat for more; '*.example.com' for a wildcard).",
)
@click.option(
    "--cert-name",
    type=CERT_NAME,
    help="Name of the certificate's directory. Default: the first name.",
)
@stored_setting_options
@click.option(
    "--force-renewal",
    is_flag=True,
    help="Order a new certificate even when the stored one is valid and not due.",
)
@click.option(
    "--allow-fewer-names",
    is_flag=True,
    help="Let the new certificate drop names the stored one covers.",
)
@click.option("--staging", is_flag=True, help="Use Let's Encrypt's staging server (for trials).")
@click.option("--agree-tos", is_flag=True, help="Accept the CA's terms of service (first run).")
@eab_options
@click.option(
    "--batch",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Issue many certificates at once: one per line, 'NAME [NAME...]' or "
    "'CERT-NAME: NAME [NAME...]'; the other options apply to each.",
)
@run_options(
    dry_run="Do everything against the staging CA (or --server) but write nothing.",
    parallel="With --batch: issue up to N certificates at once.",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@common_options
@click.pass_context
def issue(ctx: click.Context, /, **kwargs: Any) -> None:
    """Obtain a certificate and write it under <config-dir>/live/<cert-name>/.

    Writes cert.pem (the leaf), chain.pem (the intermediates), fullchain.pem (both; point
    nginx's ssl_certificate here) and privkey.pem (mode 600). The new files replace the old
    ones in one atomic step; on any failure the old ones stay as they were, and every TXT
    record this run created is removed.

    The settings are remembered in <config-dir>/renewal/<cert-name>.toml for `acmecf renew`.
    Run `issue` again with the same --cert-name to change them: options you give replace the
    stored ones, the others are kept.

    Running `issue` again is safe: while the certificate is valid and not due, it orders
    nothing (it says when the certificate renews) and only stores settings that changed; a
    new certificate is ordered when the names change, or a setting that changes what the CA
    signs (key type, CA, issuer, profile, chain, Must-Staple), or with --force-renewal.
    Dropping names needs --allow-fewer-names.

    \b
    Examples:
      acmecf issue --agree-tos --email you@example.com -d example.com -d '*.example.com'
      acmecf issue --staging -d www.example.com --key-type rsa-2048
      acmecf issue -d example.com --deploy-hook 'systemctl reload nginx'
      acmecf issue -d example.com --zone-id 023e105f4ecef8ad9ca31a8372d0c353
      acmecf issue -d example.com --profile shortlived
      acmecf issue -d example.com -d '*.example.com' --challenge dns-persist-01
      acmecf issue --issuer cloudflare-origin-ca -d example.com -d '*.example.com'
    """
    run_command(_issue, kwargs, lambda common, kw: _issue_options(ctx, common, kw))


def _issue(options: IssueOptions) -> None:
    import datetime

    from acmecf.cli.reconfigure import check_settings
    from acmecf.errors import AcmecfError, CertificateNotFoundError
    from acmecf.issuers.origin_ca import request_type_for
    from acmecf.lifecycle.plan import plan_issue
    from acmecf.settings import config_file
    from acmecf.settings.table import ISSUER_ORIGIN_CA, defaults, merge
    from acmecf.storage.model import CertificateState, StoredCertificate

    store = options.common.store()
    store.prepare()
    global_config = config_file.load(store)
    now = datetime.datetime.now(datetime.UTC)
    certificates: list[StoredCertificate] = []
    kept: list[dict[str, Any]] = []  # --json records of the certificates left as they are
    for cert_name, names in options.wanted:
        try:
            existing: StoredCertificate | None = store.load(cert_name)
        except CertificateNotFoundError:
            existing = None
        # Options given now replace the stored ones; the others keep their stored values.
        base = (
            existing.settings
            if existing is not None
            else merge(defaults(cert_name, names), global_config.defaults)
        )
        layer: dict[str, Any] = dict(options.given)
        layer["names"] = names
        if options.server_given or existing is None:
            layer["server"] = options.server
        settings = merge(base, layer)
        _refuse_must_staple(settings, options)
        if settings.issuer == ISSUER_ORIGIN_CA:
            request_type_for(settings.key_type)  # refuse a key type it cannot sign, before any call
        for warning in check_settings(settings):  # key group, PKCS#12 password (cli.reconfigure)
            say(f"warning: {warning}", err=True)
        # A rehearsal orders against staging, whatever the stored certificate's state.
        plan = plan_issue(
            existing,
            settings,
            now,
            force=options.force_renewal or options.run.dry_run,
            allow_fewer_names=options.allow_fewer_names,
        )
        if plan.dropped and not (options.common.quiet or options.as_json):
            say(f"{cert_name}: the new certificate drops {', '.join(plan.dropped)}")
        if existing is not None and not plan.order:
            kept_line = _keep(store, StoredCertificate(settings, existing.state), plan)
            if options.as_json:
                kept.append(other_record(cert_name, "not_due", reason=kept_line))
            elif not options.common.quiet:
                say(kept_line)
            continue
        state = existing.state if existing is not None else CertificateState()
        certificates.append(StoredCertificate(settings, state))
    if not certificates:
        if options.as_json:
            print_document("issue", kept, dry_run=options.run.dry_run, ok=True)
        return
    services = _services(store, options.run)
    quiet = options.common.quiet or options.as_json
    try:
        outcomes = _run_protected(certificates, services, quiet=quiet)
    finally:
        services.close()
    log.debug("Cloudflare API calls: %d", services.cloudflare_api_calls())
    records_left = services.cleanup_report.left
    if options.as_json:
        print_document(
            "issue",
            [outcome_record(o, dry_run=options.run.dry_run, verb="issued") for o in outcomes]
            + kept,
            dry_run=options.run.dry_run,
            ok=all(o.ok and not o.warnings for o in outcomes) and not records_left,
            records_left=records_left,
        )
    if len(certificates) > 1:
        line = summary_line(outcomes, records_left=records_left, what="certificates")
        if line:
            raise AcmecfError(line)
        return
    outcome = outcomes[0]
    certificate = certificates[0]
    if outcome.skipped is not None:  # the CA says another machine renewed it
        if not quiet:
            say(f"{certificate.name} was not renewed: {outcome.skipped}")
        return
    if outcome.error is not None:
        if records_left:
            raise AcmecfError(f"{outcome.error}; {records_left_text(records_left)}")
        raise outcome.error
    issued = outcome.issued
    assert issued is not None
    if not quiet:
        verb = "would be issued (dry run, nothing written)" if options.run.dry_run else "issued"
        say(
            f"Certificate {certificate.name} {verb} for {', '.join(certificate.settings.names)}, "
            f"valid until {issued.chain.not_after:%Y-%m-%d %H:%M} UTC."
        )
        if not options.run.dry_run:
            live = store.live_paths(certificate.name)
            say(f"  fullchain: {live.fullchain}")
            say(f"  privkey:   {live.privkey}")
        if certificate.settings.issuer == ISSUER_ORIGIN_CA:
            from acmecf.issuers.origin_ca import TRUST_NOTE

            say(TRUST_NOTE)
    problems = [*outcome.hook_errors, *outcome.warnings]
    if problems:
        from acmecf.errors import HookError

        for extra in problems[1:]:
            say(f"{certificate.name} is live, but {extra}", err=True)
        raise HookError(
            f"{certificate.name} is live, but {problems[0]}"
            + (f" (and {len(problems) - 1} more problems, above)" if len(problems) > 1 else "")
        )
    if records_left:
        raise AcmecfError(f"{certificate.name} is live, but {records_left_text(records_left)}")


def _refuse_must_staple(settings: CertificateSettings, options: IssueOptions) -> None:
    """Let's Encrypt refuses every order with OCSP Must-Staple since 7 May 2025
    (https://letsencrypt.org/2024/12/05/ending-ocsp/): say so before ordering."""
    from acmecf.errors import UsageError
    from acmecf.settings.table import LETSENCRYPT, LETSENCRYPT_STAGING

    if options.given.get("must_staple") and settings.server in (LETSENCRYPT, LETSENCRYPT_STAGING):
        raise UsageError(
            "Let's Encrypt no longer issues OCSP Must-Staple certificates (since 7 May 2025): "
            "leave out --must-staple"
        )


def _keep(store: FileStore, certificate: StoredCertificate, plan: IssuePlan) -> str:
    """A certificate that is valid and not due: store the settings that changed and order
    nothing. Returns the line that says so, and when it renews."""
    from acmecf.storage.model import StoredCertificate

    name = certificate.name
    if plan.changed:
        with store.lock(name):
            current = store.load(name)
            store.save(StoredCertificate(certificate.settings, current.state))
    state = certificate.state
    until = f"{state.not_after:%Y-%m-%d %H:%M} UTC" if state.not_after else "its expiry"
    when = f"{plan.renews_at:%Y-%m-%d %H:%M} UTC" if plan.renews_at else "when it is due"
    stored = f"stored the new {', '.join(_flags(plan.changed))}; " if plan.changed else ""
    return (
        f"Certificate {name} is valid until {until} and not due: {stored}ordered nothing; "
        f"it renews around {when} (`acmecf renew`; --force-renewal renews now)"
    )


def _flags(names: tuple[str, ...]) -> list[str]:
    """Settings as the user gave them: their flags (the names' order has none)."""
    from acmecf.settings.table import BY_NAME

    flags = []
    for name in names:
        flag = BY_NAME[name].flag
        flags.append(flag.split("/")[0] if flag else "order of the names")
    return flags


def _services(store: FileStore, run: RunOptions) -> Services:
    from acmecf import interrupts
    from acmecf.cli.logs import start_run_log
    from acmecf.lifecycle.services import Services
    from acmecf.lifecycle.sync import join_fleet

    start_run_log(store)  # the run does something now: log it (cli.logs)
    services = Services(store, os.environ, run)
    join_fleet(services)  # a shared store: deploying brings the version into live/ first
    interrupts.on_interrupt(services.cancel)
    return services


def _run_protected(
    certificates: list[StoredCertificate], services: Services, *, quiet: bool
) -> list[Outcome]:
    """Obtain the certificates in worker threads, printing each outcome as it comes, with the
    first Ctrl-C or SIGTERM letting them remove their records (acmecf.interrupts)."""
    from acmecf import interrupts
    from acmecf.lifecycle.leftovers import remove_leftovers
    from acmecf.lifecycle.renew import obtain_all

    batch = len(certificates) > 1
    progress = Progress(enabled=batch and sys.stderr.isatty())
    outcomes: list[Outcome] = []
    with interrupts.protected():
        remove_leftovers(services)
        for outcome in obtain_all([(c, None) for c in certificates], services):
            outcomes.append(outcome)
            note_published(services.published)
            if batch:
                progress.clear()
                print_outcome(outcome, dry_run=services.options.dry_run, quiet=quiet, verb="issued")
                progress.show(f"[{len(outcomes)}/{len(certificates)}] issued")
    progress.clear()
    if interrupts.interrupted():
        from acmecf.errors import Interrupted

        raise Interrupted("interrupted")
    return outcomes


def _requested_certificates(kwargs: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """(cert-name, names) of each certificate asked for: from -d, or one per --batch line."""
    from acmecf.errors import UsageError
    from acmecf.names import check_cert_name, default_cert_name, normalize_names

    batch: Path | None = kwargs["batch"]
    if batch is None:
        if not kwargs["domains"]:
            raise UsageError("no names given: pass -d NAME (or --batch FILE)")
        names = tuple(normalize_names(list(kwargs["domains"])))
        return [(kwargs["cert_name"] or check_cert_name(default_cert_name(names)), names)]
    if kwargs["domains"] or kwargs["cert_name"]:
        raise UsageError("--batch names every certificate: leave out -d and --cert-name")
    try:
        text = batch.read_bytes().decode("utf-8")
    except OSError as err:
        raise UsageError(f"cannot read --batch {batch}: {err.strerror}") from err
    except UnicodeDecodeError:
        raise UsageError(f"--batch {batch} is not a text file: one certificate per line") from None
    wanted: list[tuple[str, tuple[str, ...]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        cert_name, colon, rest = content.partition(":")
        fields = rest.split() if colon else content.split()
        try:
            names = tuple(normalize_names(fields))
            name = check_cert_name(cert_name.strip() if colon else default_cert_name(names))
        except UsageError as err:
            raise UsageError(f"{batch} line {number}: {err}") from err
        if any(name == other for other, _ in wanted):
            raise UsageError(f"{batch} line {number}: certificate {name!r} is named twice")
        wanted.append((name, names))
    if not wanted:
        raise UsageError(f"--batch {batch} names no certificate")
    return wanted


# --- acmecf renew ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RenewOptions:
    common: Common
    selection: RenewSelection
    pre_hook: str | None
    post_hook: str | None
    random_sleep: float
    run: RunOptions
    as_json: bool = False


def _renew_options(common: Common, kwargs: Mapping[str, Any]) -> RenewOptions:
    import math

    from acmecf.errors import UsageError
    from acmecf.lifecycle.renew import RenewSelection

    days = kwargs["days"]
    if days is not None and not math.isfinite(days):
        raise UsageError(f"invalid --days {days}: give a number of days, such as 30")
    return RenewOptions(
        common=common,
        selection=RenewSelection(
            cert_names=tuple(kwargs["cert_names"]), days=days, force=kwargs["force"]
        ),
        pre_hook=kwargs["pre_hook"],
        post_hook=kwargs["post_hook"],
        random_sleep=float(kwargs["random_sleep"]),
        run=run_options_from(kwargs),
        as_json=bool(kwargs["as_json"]),
    )


@cli.command(epilog=EXIT_CODES)
@cert_names_option("Renew only this certificate (repeatable). Default: every one.")
@click.option(
    "--days",
    type=click.FloatRange(min=0),
    metavar="N",
    help="Renew when fewer than N days are left, instead of the CA's window.",
)
@click.option("--force", is_flag=True, help="Renew even what is not due.")
@click.option("--pre-hook", metavar="CMD", help="Run once before the first renewal of this run.")
@click.option("--post-hook", metavar="CMD", help="Run once after renewals, if any happened.")
@click.option(
    "--random-sleep",
    type=DURATION_OR_ZERO,
    default="0",
    metavar="DURATION",
    help="Sleep a random time up to this before renewing (for cron; timers use "
    "RandomizedDelaySec). Only when something is due.",
)
@run_options(
    dry_run="Renew against the staging CA (or the stored server) but write nothing.",
    parallel="Renew up to N certificates at once, overlapping their DNS and CA waits.",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@common_options
def renew(**kwargs: Any) -> None:
    """Renew every certificate that is due, and leave the others alone.

    Due means: inside the CA's renewal window when it publishes ACME Renewal Information
    (ARI), otherwise less than a third of the lifetime left (half of a lifetime under 10
    days), or revoked. When nothing is due, renew prints nothing, touches no network (only
    the CA's renewalInfo, once its Retry-After has passed) and exits 0 at once: run it as
    often as you like.
    One failing certificate does not stop the others; the exit status is then 1 and the
    last line names each failure. Two runs at once renew each certificate once: the second
    waits for the first and then finds nothing left to do.

    \b
    Examples:
      acmecf renew                                  # from a systemd timer or cron
      acmecf renew --cert-name example.com --force  # renew one now
      acmecf renew --dry-run                        # rehearse against the staging CA
      acmecf renew --post-hook 'systemctl reload nginx'
    """
    run_command(_renew, kwargs, _renew_options)


def _renew(options: RenewOptions) -> None:
    from acmecf import interrupts
    from acmecf.errors import AcmecfError, Interrupted
    from acmecf.lifecycle.renew import renew_due

    store = options.common.store()
    quiet = options.common.quiet or options.as_json
    progress = Progress(enabled=sys.stderr.isatty() and not quiet)
    services_made: list[Services] = []

    def make_services() -> Services:
        services = _services(store, options.run)
        services_made.append(services)
        return services

    def report_outcome(outcome: Outcome, done: int, total: int) -> None:
        progress.clear()
        print_outcome(outcome, dry_run=options.run.dry_run, quiet=quiet)
        if services_made:
            note_published(services_made[0].published)
        progress.show(f"[{done}/{total}] renewed" if done < total else "")

    with interrupts.protected():
        report = renew_due(
            store,
            make_services,
            options.selection,
            pre_hook=options.pre_hook,
            post_hook=options.post_hook,
            random_sleep=options.random_sleep,
            on_outcome=report_outcome,
        )
    progress.clear()
    if interrupts.interrupted():
        raise Interrupted("interrupted")
    _print_report(report, options, quiet=quiet)
    errors = [name for name, _ in report.errors]
    errors += [f"origin pulls of {c.zone_name}" for c in report.client_renewals if c.error]
    hooks = ["the post-hook" if report.outcomes else "the pre-hook" for _ in report.hook_errors]
    hooks += _sync_after_renew(store, options, make_services, quiet=quiet)
    line = summary_line(
        report.outcomes, errors=errors, hook_failures=hooks, records_left=report.records_left
    )
    if options.as_json:
        _print_renew_document(report, options, ok=line is None)
    if line:
        raise AcmecfError(line)


def _sync_after_renew(
    store: FileStore,
    options: RenewOptions,
    make_services: Callable[[], Services],
    *,
    quiet: bool,
) -> list[str]:
    """With a shared store: remove the records of other origins' runs that died while this
    one waited for their locks (their leases have expired since it started), then bring this
    origin in step (what other origins renewed, what a run here could not deploy); returns
    what failed."""
    from acmecf.storage.fleet import FleetStore

    if not isinstance(store, FleetStore) or options.run.dry_run:
        return []
    from acmecf.cli.fleet import print_sync, sync_services
    from acmecf.errors import AcmecfError
    from acmecf.lifecycle.leftovers import remove_leftovers
    from acmecf.lifecycle.sync import sync_all

    try:
        if not store.journal.empty():
            services = make_services()
            try:
                remove_leftovers(services)
            finally:
                services.close()
        report = sync_all(store, sync_services(store, options.run), options.selection.cert_names)
    except AcmecfError as err:  # etcd out of reach: the live files here stay as they are
        say(f"failed to sync this origin: {err}", err=True)
        return ["the sync of this origin"]
    return print_sync(report, quiet=quiet)


def _print_renew_document(report: RenewReport, options: RenewOptions, *, ok: bool) -> None:
    from acmecf.cli.report import other_record

    dry_run = options.run.dry_run
    records = [outcome_record(o, dry_run=dry_run, verb="renewed") for o in report.outcomes]
    records += [other_record(n, "not_due", reason=d.reason) for n, d in report.not_due]
    records += [other_record(n, "failed", error=str(e)) for n, e in report.errors]
    clients = [
        {
            "zone": c.zone_name,
            "not_after": c.not_after.isoformat() if c.not_after else None,
            "error": str(c.error) if c.error else None,
        }
        for c in report.client_renewals
    ]
    print_document(
        "renew",
        records,
        dry_run=dry_run,
        ok=ok,
        hook_errors=[str(e) for e in report.hook_errors],
        records_left=report.records_left,
        origin_pull_clients=clients,
    )


def _print_report(report: RenewReport, options: RenewOptions, *, quiet: bool) -> None:
    for name, error in report.errors:
        say(f"failed {name}: {error}", err=True)
    for client in report.client_renewals:
        if client.error is not None:
            say(
                f"failed origin-pull client certificate of {client.zone_name}: {client.error}",
                err=True,
            )
        elif not quiet and client.not_after is not None:
            say(
                f"renewed origin-pull client certificate of {client.zone_name}: valid until "
                f"{client.not_after:%Y-%m-%d %H:%M} UTC"
            )
    for hook_error in report.hook_errors:
        say(f"failed: {hook_error}", err=True)
    if not report.outcomes and not report.errors and options.common.verbose and not quiet:
        count = len(report.not_due)
        say(f"nothing due ({count} certificate{'s' * (count != 1)} checked)")
