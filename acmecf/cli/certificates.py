"""Commands for certificates: issue, renew, list (certificates) and delete."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from acmecf.cli.base import (
    EXIT_CODES,
    F,
    cli,
    common_options,
    log,
    on_interrupt,
    run_command,
    store_from,
)

DEFAULT_PARALLEL = 32  # acmecf.renew.DEFAULT_PARALLEL, without importing it for --help


def _run_options(*, dry_run: str, parallel: str) -> Callable[[F], F]:
    """The options `issue` and `renew` share about how a run goes."""

    def decorate(function: F) -> F:
        options = [
            click.option("--dry-run", is_flag=True, help=dry_run),
            click.option(
                "--run-deploy-hooks", is_flag=True, help="With --dry-run: run deploy hooks anyway."
            ),
            click.option(
                "--hook-timeout",
                default="5m",
                show_default=True,
                metavar="DURATION",
                help="Stop a hook that runs longer.",
            ),
            click.option(
                "--parallel",
                type=click.IntRange(1, 64),
                default=DEFAULT_PARALLEL,
                show_default=True,
                metavar="N",
                help=parallel,
            ),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _run_settings(options: dict[str, Any], **extra: Any) -> Any:
    """The RunOptions those shared options describe."""
    from acmecf.config import parse_duration
    from acmecf.renew import RunOptions

    return RunOptions(
        dry_run=options["dry_run"],
        run_deploy_hooks=options["run_deploy_hooks"],
        hook_timeout=parse_duration(options["hook_timeout"], "--hook-timeout"),
        parallel=options["parallel"],
        **extra,
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
@click.option("--cert-name", help="Name of the certificate's directory. Default: the first name.")
@click.option(
    "--key-type",
    type=click.Choice(["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"]),
    default="ecdsa-p256",
    show_default=True,
    help="Type of the certificate's new private key.",
)
@click.option(
    "--server",
    envvar="ACMECF_SERVER",
    metavar="URL",
    help="ACME directory URL. Default: Let's Encrypt production. Env: ACMECF_SERVER.",
)
@click.option("--staging", is_flag=True, help="Use Let's Encrypt's staging server (for trials).")
@click.option("--email", envvar="ACMECF_EMAIL", help="Contact address for the ACME account.")
@click.option("--agree-tos", is_flag=True, help="Accept the CA's terms of service (first run).")
@click.option(
    "--ca-bundle",
    envvar="ACMECF_CA_BUNDLE",
    metavar="PEM",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    help="Trust this CA for the ACME server's HTTPS (private CAs). Env: ACMECF_CA_BUNDLE.",
)
@click.option(
    "--cloudflare-credentials",
    metavar="FILE",
    type=click.Path(dir_okay=False, resolve_path=True, path_type=Path),
    help="File with dns_cloudflare_api_token = ... (mode 600). "
    "Default: CLOUDFLARE_API_TOKEN, or CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY.",
)
@click.option(
    "--zone-id",
    metavar="ID",
    help="Cloudflare zone id of every name; lets a token with only DNS > Edit work.",
)
@click.option(
    "--dns-resolver",
    "dns_resolvers",
    multiple=True,
    envvar="ACMECF_DNS_RESOLVER",
    metavar="HOST[:PORT]",
    help="Resolver for finding zones and nameservers (repeatable). Default: the system's.",
)
@click.option(
    "--nameserver-port",
    type=click.IntRange(1, 65535),
    default=53,
    envvar="ACMECF_NAMESERVER_PORT",
    show_default=True,
    help="Port on which authoritative nameservers are asked (test beds).",
)
@click.option(
    "--propagation-timeout",
    default="3m",
    show_default=True,
    metavar="DURATION",
    help="Give up when DNS does not serve every record by then (e.g. 90s, 5m).",
)
@click.option(
    "--deploy-hook",
    "deploy_hooks",
    multiple=True,
    metavar="CMD",
    help="Shell command run after this certificate is issued or renewed (repeatable; stored).",
)
@click.option(
    "--failure-hook",
    "failure_hooks",
    multiple=True,
    metavar="CMD",
    help="Shell command run when issuing or renewing this certificate fails, with "
    "ACMECF_CERT_NAME, ACMECF_DOMAINS and ACMECF_ERROR set (repeatable; stored).",
)
@click.option(
    "--reuse-key/--no-reuse-key",
    default=False,
    help="Keep the private key across renewals (for key pinning). Default: a new key each time.",
)
@click.option(
    "--preferred-chain",
    metavar="ISSUER_CN",
    help="Prefer the alternate chain whose top certificate was issued by this CA name.",
)
@click.option(
    "--profile", metavar="NAME", help="ACME certificate profile, e.g. classic or shortlived."
)
@click.option(
    "--must-staple/--no-must-staple", default=False, help="Ask for the OCSP Must-Staple feature."
)
@click.option("--eab-kid", metavar="KID", help="External Account Binding key id (first run).")
@click.option("--eab-hmac-key", metavar="KEY", help="External Account Binding HMAC key.")
@click.option(
    "--batch",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Issue many certificates at once: one per line, 'NAME [NAME...]' or "
    "'CERT-NAME: NAME [NAME...]'; the other options apply to each.",
)
@_run_options(
    dry_run="Do everything against the staging CA (or --server) but write nothing.",
    parallel="With --batch: issue up to N certificates at once.",
)
@click.option(
    "--issuer",
    type=click.Choice(["acme", "cloudflare-origin-ca"]),
    default="acme",
    show_default=True,
    help="Who signs: the ACME CA (--server), or Cloudflare's Origin CA through the API "
    "(trusted only by Cloudflare's edge; key types ecdsa-p256 or rsa-2048).",
)
@common_options
@click.pass_context
def issue(ctx: click.Context, /, **options: Any) -> None:
    """Obtain a certificate and write it under <config-dir>/live/<cert-name>/.

    Writes cert.pem (the leaf), chain.pem (the intermediates), fullchain.pem (both; point
    nginx's ssl_certificate here) and privkey.pem (mode 600). The new files replace the old
    ones in one atomic step; on any failure the old ones stay as they were, and every TXT
    record this run created is removed.

    The settings are remembered in <config-dir>/renewal/<cert-name>.toml for `acmecf renew`.
    Run `issue` again with the same --cert-name to change them: options you give replace the
    stored ones, the others are kept.

    \b
    Examples:
      acmecf issue --agree-tos --email you@example.com -d example.com -d '*.example.com'
      acmecf issue --staging -d www.example.com --key-type rsa-2048
      acmecf issue -d example.com --deploy-hook 'systemctl reload nginx'
      acmecf issue -d example.com --zone-id 023e105f4ecef8ad9ca31a8372d0c353
      acmecf issue --issuer cloudflare-origin-ca -d example.com -d '*.example.com'
    """
    run_command(lambda o: _issue(ctx, o), options)


# The issue options that are remembered per certificate, by the name they have there.
_STORED_OPTIONS = {
    "key_type": "key_type",
    "email": "email",
    "ca_bundle": "ca_bundle",
    "cloudflare_credentials": "credentials_file",
    "zone_id": "zone_id",
    "dns_resolvers": "dns_resolvers",
    "nameserver_port": "nameserver_port",
    "propagation_timeout": "propagation_timeout",
    "deploy_hooks": "deploy_hooks",
    "issuer": "issuer",
    "failure_hooks": "failure_hooks",
    "reuse_key": "reuse_key",
    "preferred_chain": "preferred_chain",
    "profile": "profile",
    "must_staple": "must_staple",
}


def _issue(ctx: click.Context, options: dict[str, Any]) -> None:
    import dataclasses

    from click.core import ParameterSource

    from acmecf.config import parse_duration, parse_resolvers
    from acmecf.errors import AcmecfError, UsageError
    from acmecf.renew import Services, obtain, obtain_all
    from acmecf.renewal import CertificateConfig, CertificateState, StoredCertificate

    wanted = _requested_certificates(options)
    parse_resolvers(options["dns_resolvers"])  # validate before any network call
    store = store_from(options)

    def given(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)

    certificates = []
    for cert_name, names in wanted:
        existing = (
            store.load_certificate(cert_name) if store.renewal_path(cert_name).exists() else None
        )
        # Options given now replace the stored ones; the others keep their stored values.
        base = existing.config if existing else CertificateConfig(cert_name=cert_name, names=names)
        changes: dict[str, Any] = {"names": names}
        for option, setting in _STORED_OPTIONS.items():
            if given(option) or existing is None:
                value = options[option]
                if option == "propagation_timeout":
                    value = parse_duration(value, "--propagation-timeout")
                elif option == "cloudflare_credentials":
                    value = str(value) if value else None
                elif isinstance(value, tuple | list):
                    value = tuple(value)
                changes[setting] = value
        if given("server") or given("staging") or existing is None:
            changes["server"] = _server(options)
        config = dataclasses.replace(base, **changes)
        if config.issuer == "cloudflare-origin-ca":
            from acmecf.origin_ca import request_type_for

            request_type_for(config.key_type)  # refuse a key type it cannot sign, before any call
        state = existing.state if existing else CertificateState()
        certificates.append(StoredCertificate(config, state))
    eab = None
    if options["eab_kid"] or options["eab_hmac_key"]:
        if not (options["eab_kid"] and options["eab_hmac_key"]):
            raise UsageError("External Account Binding needs both --eab-kid and --eab-hmac-key")
        eab = (options["eab_kid"], options["eab_hmac_key"])
    run = _run_settings(options, agree_tos=options["agree_tos"], eab=eab)
    services = Services(store, os.environ, run)
    on_interrupt(services.cancel)
    if len(certificates) > 1:
        progress = Progress(enabled=sys.stderr.isatty() and not options["quiet"])
        failed = []
        with store.lock():
            for done, outcome in enumerate(obtain_all(certificates, services), 1):
                progress.clear()
                print_outcome(outcome, dry_run=run.dry_run, quiet=options["quiet"], verb="issued")
                progress.show(f"[{done}/{len(certificates)}] issued")
                if not outcome.ok:
                    failed.append(outcome.cert_name)
        progress.clear()
        log.debug("Cloudflare API calls: %d", services.cloudflare_api_calls())
        if failed:
            raise AcmecfError(
                f"{len(failed)} of {len(certificates)} certificates failed: "
                f"{', '.join(failed)} (see above)"
            )
        return
    certificate = certificates[0]
    with store.lock():
        outcome = obtain(certificate, services)
    log.debug("Cloudflare API calls: %d", services.cloudflare_api_calls())
    if outcome.error is not None:
        raise outcome.error
    issued = outcome.issued
    assert issued is not None
    if not options["quiet"]:
        verb = "would be issued (dry run, nothing written)" if run.dry_run else "issued"
        click.echo(
            f"Certificate {certificate.name} {verb} for {', '.join(certificate.config.names)}, "
            f"valid until {issued.chain.not_after:%Y-%m-%d %H:%M} UTC."
        )
        if not run.dry_run:
            click.echo(f"  fullchain: {issued.live.fullchain}")
            click.echo(f"  privkey:   {issued.live.privkey}")
        if certificate.config.issuer == "cloudflare-origin-ca":
            from acmecf.origin_ca import TRUST_NOTE

            click.echo(TRUST_NOTE)
    _raise_hook_errors(certificate.name, outcome.hook_errors)


def _requested_certificates(options: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """(cert-name, names) of each certificate asked for: from -d, or one per --batch line."""
    from acmecf.errors import UsageError
    from acmecf.names import normalize_names
    from acmecf.store import check_cert_name

    batch = options["batch"]
    if batch is None:
        if not options["domains"]:
            raise UsageError("no names given: pass -d NAME (or --batch FILE)")
        names = tuple(normalize_names(list(options["domains"])))
        return [(check_cert_name(options["cert_name"] or names[0].removeprefix("*.")), names)]
    if options["domains"] or options["cert_name"]:
        raise UsageError("--batch names every certificate: leave out -d and --cert-name")
    try:
        lines = batch.read_text().splitlines()
    except OSError as err:
        raise UsageError(f"cannot read --batch {batch}: {err.strerror}") from err
    wanted: list[tuple[str, tuple[str, ...]]] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        cert_name, colon, rest = text.partition(":")
        fields = rest.split() if colon else text.split()
        try:
            names = tuple(normalize_names(fields))
            name = check_cert_name(cert_name.strip() if colon else names[0].removeprefix("*."))
        except UsageError as err:
            raise UsageError(f"{batch} line {number}: {err}") from err
        if any(name == other for other, _ in wanted):
            raise UsageError(f"{batch} line {number}: certificate {name!r} is named twice")
        wanted.append((name, names))
    if not wanted:
        raise UsageError(f"--batch {batch} names no certificate")
    return wanted


def _raise_hook_errors(cert_name: str, errors: list[Any]) -> None:
    from acmecf.hooks import HookError

    if errors:
        raise HookError(
            f"{cert_name} is live, but {errors[0]}"
            + (f" (and {len(errors) - 1} more hook failures)" if len(errors) > 1 else "")
        )


def _server(options: dict[str, Any]) -> str:
    from acmecf.errors import UsageError
    from acmecf.renew import LETSENCRYPT, LETSENCRYPT_STAGING

    if options.get("staging"):
        if options.get("server") and options["server"] != LETSENCRYPT_STAGING:
            raise UsageError("--staging and --server name different servers: give one of them")
        return LETSENCRYPT_STAGING
    if options.get("dry_run") and not options.get("server"):
        return LETSENCRYPT_STAGING
    server = str(options.get("server") or LETSENCRYPT)
    if not server.startswith("https://"):
        raise UsageError(f"invalid --server {server!r}: an ACME directory URL starts with https://")
    return server


@cli.command(epilog=EXIT_CODES)
@click.option(
    "--cert-name",
    "cert_names",
    multiple=True,
    metavar="NAME",
    help="Renew only this certificate (repeatable). Default: every one.",
)
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
    default="0",
    metavar="DURATION",
    help="Sleep a random time up to this before renewing (for cron; timers use "
    "RandomizedDelaySec). Only when something is due.",
)
@_run_options(
    dry_run="Renew against the staging CA (or the stored server) but write nothing.",
    parallel="Renew up to N certificates at once, overlapping their DNS and CA waits.",
)
@common_options
def renew(**options: Any) -> None:
    """Renew every certificate that is due, and leave the others alone.

    Due means: inside the CA's renewal window when it publishes ACME Renewal Information
    (ARI), otherwise less than a third of the lifetime left. When nothing is due, renew
    prints nothing, touches no network and exits 0 at once: run it as often as you like.
    One failing certificate does not stop the others; the exit status is then 1 and the
    last line names each failure. A second renew waits briefly for a running one, then exits.

    \b
    Examples:
      acmecf renew                                  # from a systemd timer or cron
      acmecf renew --cert-name example.com --force  # renew one now
      acmecf renew --dry-run                        # rehearse against the staging CA
      acmecf renew --post-hook 'systemctl reload nginx'
    """
    run_command(_renew, options)


def _renew(options: dict[str, Any]) -> None:
    from acmecf.config import parse_duration
    from acmecf.errors import AcmecfError
    from acmecf.renew import Outcome, RenewSelection, Services, renew_due
    from acmecf.store import check_cert_name

    selection = RenewSelection(
        cert_names=[check_cert_name(n) for n in options["cert_names"]],
        days=options["days"],
        force=options["force"],
    )
    random_sleep = 0.0
    if options["random_sleep"].strip() not in ("0", "0s", ""):
        random_sleep = parse_duration(options["random_sleep"], "--random-sleep")
    store = store_from(options)
    run = _run_settings(options)
    progress = Progress(enabled=sys.stderr.isatty() and not options["quiet"])

    def report_outcome(outcome: Outcome, done: int, total: int) -> None:
        progress.clear()
        print_outcome(outcome, dry_run=run.dry_run, quiet=options["quiet"])
        progress.show(f"[{done}/{total}] renewed" if done < total else "")

    report = renew_due(
        store,
        lambda: _cancellable(Services(store, os.environ, run)),
        selection,
        pre_hook=options["pre_hook"],
        post_hook=options["post_hook"],
        random_sleep=random_sleep,
        on_outcome=report_outcome,
    )
    progress.clear()
    for client in report.client_renewals:
        if client.error is not None:
            click.echo(
                f"failed origin-pull client certificate of {client.zone_name}: {client.error}",
                err=True,
            )
        elif not options["quiet"] and client.not_after is not None:
            click.echo(
                f"renewed origin-pull client certificate of {client.zone_name}: valid until "
                f"{client.not_after:%Y-%m-%d %H:%M} UTC"
            )
    for hook_error in report.hook_errors:
        click.echo(f"failed: {hook_error}", err=True)
    if not report.outcomes and options["verbose"]:
        count = len(report.not_due)
        click.echo(f"nothing due ({count} certificate{'s' * (count != 1)} checked)")
    failed = [o.cert_name for o in report.outcomes if not o.ok]
    failed += [f"origin pulls of {c.zone_name}" for c in report.client_renewals if c.error]
    if failed or report.hook_errors:
        names = ", ".join(failed) if failed else "a pre- or post-hook"
        raise AcmecfError(
            f"{len(failed)} of {len(report.outcomes)} renewals failed: {names} (see above)"
        )


def _cancellable(services: Any) -> Any:
    on_interrupt(services.cancel)
    return services


def print_outcome(outcome: Any, *, dry_run: bool, quiet: bool, verb: str = "renewed") -> None:
    """One line per certificate: renewed/issued (stdout) or failed, with the reason (stderr)."""
    if outcome.issued is not None and not quiet:
        verb = f"would be {verb} (dry run)" if dry_run else verb
        click.echo(
            f"{verb} {outcome.cert_name}: valid until "
            f"{outcome.issued.chain.not_after:%Y-%m-%d %H:%M} UTC"
        )
    if outcome.error is not None:
        click.echo(f"failed {outcome.cert_name}: {redact_text(str(outcome.error))}", err=True)
    for hook_error in outcome.hook_errors:
        click.echo(f"failed {outcome.cert_name}: it is live, but {hook_error}", err=True)


class Progress:
    """A status line on a terminal (rewritten in place); nothing when output goes to a log."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled and text:
            click.echo(f"\r{text}\x1b[K", err=True, nl=False)
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            click.echo("\r\x1b[K", err=True, nl=False)
            self.shown = False


def redact_text(text: str) -> str:
    from acmecf.config import redact

    return redact(text)


@cli.command("list", epilog=EXIT_CODES)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--prometheus",
    "prometheus_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write node_exporter textfile metrics (expiry, last renewal result) to FILE, "
    "atomically.",
)
@common_options
def list_certificates(**options: Any) -> None:
    """List the certificates acmecf manages, with expiry and next renewal.

    \b
    Examples:
      acmecf list
      acmecf list --json | jq '.[] | select(.days_left < 14)'
      acmecf list --quiet --prometheus /var/lib/prometheus/node-exporter/acmecf.prom
    """
    run_command(_list, options)


def _list(options: dict[str, Any]) -> None:
    import datetime
    import json

    from acmecf.renewal import next_renewal

    store = store_from(options)
    if options["prometheus_file"]:
        from acmecf.metrics import write_metrics

        write_metrics(store, options["prometheus_file"])
        if options["quiet"]:
            return
    now = datetime.datetime.now(datetime.UTC)
    rows: list[dict[str, Any]] = []
    for certificate in store.load_certificates():
        state = certificate.state
        upcoming = next_renewal(state)
        days_left = None
        if state.not_after is not None:
            days_left = round((state.not_after - now).total_seconds() / 86400, 1)
        rows.append(
            {
                "name": certificate.name,
                "domains": list(certificate.config.names),
                "key_type": certificate.config.key_type,
                "server": certificate.config.server,
                "not_after": state.not_after.isoformat() if state.not_after else None,
                "days_left": days_left,
                "next_renewal": upcoming.isoformat() if upcoming else None,
                "renewal_basis": "ari" if state.ari_renew_at else "lifetime",
                "last_result": state.last_result,
                "last_attempt": state.last_attempt.isoformat() if state.last_attempt else None,
                "live_dir": str(store.live(certificate.name).directory),
            }
        )
    if options["as_json"]:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no certificates in {store.config_dir}")
        return
    header = ("NAME", "DOMAINS", "KEY", "EXPIRES (UTC)", "DAYS", "NEXT RENEWAL", "LAST RESULT")
    table: list[tuple[str, ...]] = [header]
    for row in rows:
        table.append(
            (
                row["name"],
                " ".join(row["domains"]),
                row["key_type"],
                (row["not_after"] or "-")[:16].replace("T", " "),
                "-" if row["days_left"] is None else f"{row['days_left']:.0f}",
                (row["next_renewal"] or "-")[:16].replace("T", " ")
                + (" (ARI)" if row["renewal_basis"] == "ari" else ""),
                _shorten(row["last_result"] or "-"),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


cli.add_command(list_certificates, "certificates")


@cli.command(epilog=EXIT_CODES)
@click.option("--cert-name", required=True, help="The certificate to delete.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@common_options
def delete(**options: Any) -> None:
    """Delete a certificate: its live files, every old version and its renewal settings.

    Web servers that point at its files will fail to start afterwards; the certificate
    itself stays valid at the CA until it expires.

    \b
    Example:
      acmecf delete --cert-name old.example.com --yes
    """
    run_command(_delete, options)


def _delete(options: dict[str, Any]) -> None:
    from acmecf.errors import UsageError

    store = store_from(options)
    name = options["cert_name"]
    certificate = store.load_certificate(name)
    if not options["yes"]:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to delete {name} without confirmation: pass --yes")
        click.confirm(
            f"Delete {name} ({', '.join(certificate.config.names)}) and all its files?",
            abort=True,
        )
    with store.lock():
        store.delete_certificate(name)
    if not options["quiet"]:
        click.echo(f"deleted {name}")
