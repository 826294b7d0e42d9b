"""The command that moves certificates from certbot to acmecf: `acmecf import-certbot`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from acmecf.cli.base import EXIT_CODES, Common, cli, common_options, run_command, say
from acmecf.cli.options import cert_names_option


@dataclass(frozen=True)
class ImportOptions:
    common: Common
    certbot_dir: Path
    cert_names: tuple[str, ...]
    dry_run: bool
    disable_certbot_renewal: bool


def _import_options(common: Common, kwargs: Mapping[str, Any]) -> ImportOptions:
    return ImportOptions(
        common=common,
        certbot_dir=Path(kwargs["certbot_dir"]).absolute(),
        cert_names=tuple(kwargs["cert_names"]),
        dry_run=kwargs["dry_run"],
        disable_certbot_renewal=kwargs["disable_certbot_renewal"],
    )


@cli.command("import-certbot", epilog=EXIT_CODES)
@click.option(
    "--certbot-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="/etc/letsencrypt",
    show_default=True,
    help="certbot's configuration directory (its --config-dir).",
)
@cert_names_option(
    "Import only this certbot certificate (repeatable). Default: every dns-cloudflare one."
)
@click.option("--dry-run", is_flag=True, help="Show what would be imported; write nothing.")
@click.option(
    "--disable-certbot-renewal",
    is_flag=True,
    help="Also set `autorenew = False` in the imported certificates' certbot renewal "
    "configurations, so certbot's timer skips them. Without it, nothing under "
    "--certbot-dir is changed.",
)
@common_options
def import_certbot(**kwargs: Any) -> None:
    """Take over the certificates certbot renews with the dns-cloudflare plugin.

    For each one, acmecf stores its names, key type, CA, Cloudflare credentials file and
    deploy hook, copies its current certificate and key as the live version under
    <config-dir>/live/<name>/ (nothing is re-issued), reuses certbot's ACME account when its
    key can be read, and renews it from then on with `acmecf renew`. Certificates that use
    another authenticator are listed and left alone. Point your web server at acmecf's
    live files, then stop certbot renewing them with --disable-certbot-renewal.

    \b
    Examples:
      acmecf import-certbot --dry-run
      acmecf import-certbot
      acmecf import-certbot --cert-name example.com --disable-certbot-renewal
    """
    run_command(_import_certbot, kwargs, _import_options)


def _import_certbot(options: ImportOptions) -> None:
    from acmecf.errors import CertbotImportError
    from acmecf.migrate.certbot import (
        ImportPlan,
        carry_out,
        disable_certbot_renewal,
        plan_import,
    )

    cert_names = list(options.cert_names)
    certbot_dir = options.certbot_dir
    store = options.common.store()
    dry_run = options.dry_run
    disable = options.disable_certbot_renewal
    quiet = options.common.quiet

    def report(plan: ImportPlan) -> None:
        verb = "would import" if dry_run else "imported"
        for takeover in plan.takeovers:
            config, state = takeover.certificate.settings, takeover.certificate.state
            assert state.not_after is not None
            _say(quiet, f"{verb} {takeover.name}: {', '.join(config.names)}")
            _say(quiet, f"  from:        {takeover.source}")
            _say(quiet, f"  live:        {store.live_paths(takeover.name).directory}")
            _say(quiet, f"  key type:    {config.key_type}")
            _say(quiet, f"  expires:     {state.not_after:%Y-%m-%d %H:%M} UTC")
            _say(quiet, f"  CA:          {config.server}")
            _say(quiet, f"  account:     {takeover.account}")
            _say(quiet, f"  credentials: {config.credentials_file or 'from the environment'}")
            for hook in config.deploy_hooks:
                _say(quiet, f"  deploy hook: {hook}")
            kept = [
                *(["reuse key"] if config.reuse_key else []),
                *([f"preferred chain {config.preferred_chain}"] if config.preferred_chain else []),
                *([f"profile {config.profile}"] if config.profile else []),
                *(["must-staple"] if config.must_staple else []),
            ]
            if kept:
                _say(quiet, f"  options:     {', '.join(kept)}")
            for note in takeover.notes:
                say(f"  note: {note}", err=True)
        for skipped in plan.skipped:
            _say(quiet, f"left alone: {skipped.name} ({skipped.reason})")
        for failure in plan.failures:
            say(f"cannot import {failure.name}: {failure.reason}", err=True)
        for note in plan.notes:
            say(f"note: {note}", err=True)

    def disable_renewals(plan: ImportPlan) -> None:
        targets = [(t.name, t.renewal_file) for t in plan.takeovers]
        targets += [(s.name, s.renewal_file) for s in plan.imported_before]
        for name, path in targets:
            if dry_run:
                _say(quiet, f"would set autorenew = False in {path}")
            elif disable_certbot_renewal(path):
                _say(quiet, f"certbot will no longer renew {name}: autorenew = False in {path}")

    if dry_run:
        plan = plan_import(certbot_dir, store, cert_names=cert_names)
        report(plan)
        if disable:
            disable_renewals(plan)
        _say(quiet, "dry run: nothing written")
    else:
        store.prepare()
        plan = plan_import(certbot_dir, store, cert_names=cert_names)
        carry_out(plan, store)
        report(plan)
        if disable:
            disable_renewals(plan)
        if plan.takeovers and not disable:
            _say(
                quiet,
                "next: point your web server at the live files above (nginx: ssl_certificate "
                "<live>/fullchain.pem; ssl_certificate_key <live>/privkey.pem;), then run "
                "`acmecf import-certbot --disable-certbot-renewal` so that certbot stops "
                "renewing them",
            )
    if plan.failures:
        names = ", ".join(f.name for f in plan.failures)
        raise CertbotImportError(
            f"{len(plan.failures)} certbot certificate(s) could not be imported: {names} "
            "(see above); fix them and run again"
        )
    if not plan.takeovers and not plan.imported_before and not quiet:
        say(f"nothing to import: no certificate in {certbot_dir} uses dns-cloudflare")


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        say(line)
