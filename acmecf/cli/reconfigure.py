"""`acmecf reconfigure`: change a certificate's stored settings without ordering anything.

Takes the same stored-setting options as `issue` (from the settings table), checks them as
`issue` does, and saves them under the certificate's lock, with its state as it is.

Does not: order, renew or touch the live files (the next renewal applies what changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from acmecf.cli.base import EXIT_CODES, Common, cli, common_options, run_command, say
from acmecf.cli.options import CERT_NAME, given_settings, stored_setting_options
from acmecf.settings.table import CertificateSettings


@dataclass(frozen=True)
class ReconfigureOptions:
    common: Common
    cert_name: str
    given: dict[str, Any]
    resets: tuple[str, ...]


def check_settings(settings: CertificateSettings) -> list[str]:
    """Check what `issue` and `reconfigure` would store, before anything is ordered or saved:
    the Origin CA's key types, the key group, the PKCS#12 password file. Returns warnings;
    raises UsageError."""
    from acmecf.issuers.origin_ca import request_type_for
    from acmecf.lifecycle.outputs import plan_outputs
    from acmecf.settings.table import ISSUER_ORIGIN_CA

    if settings.issuer == ISSUER_ORIGIN_CA:
        request_type_for(settings.key_type)
    plan_outputs(settings)
    warnings = []
    if settings.pkcs12 and settings.pkcs12_password_file is None:
        warnings.append(
            f"cert.p12 of {settings.cert_name} has no password: whoever can read it has the "
            "key; give --pkcs12-password-file FILE to encrypt it"
        )
    return warnings


def _reset_setting(text: str) -> str:
    """The setting a --reset value names: its flag without dashes, or its name."""
    from acmecf.errors import UsageError
    from acmecf.settings.table import SETTINGS

    wanted = text.strip().lstrip("-").replace("_", "-")
    for setting in SETTINGS:
        if setting.flag is None:
            continue
        flags = {flag.lstrip("-") for flag in setting.flag.split("/")}
        if wanted in flags or wanted == setting.name.replace("_", "-"):
            return setting.name
    names = sorted(s.flag.split("/")[0].lstrip("-") for s in SETTINGS if s.flag)
    raise UsageError(f"invalid --reset {text!r}: name one of {', '.join(names)}")


@cli.command(epilog=EXIT_CODES)
@click.option("--cert-name", required=True, type=CERT_NAME, help="The certificate to change.")
@stored_setting_options
@click.option(
    "--reset",
    "resets",
    multiple=True,
    metavar="OPTION",
    help="Put this setting back to its default: the option's name without dashes, such as "
    "deploy-hook or key-group (repeatable).",
)
@common_options
@click.pass_context
def reconfigure(ctx: click.Context, /, **kwargs: Any) -> None:
    """Change a certificate's stored settings, without ordering anything.

    Takes the options of `acmecf issue` that are stored with a certificate, checks them as
    `issue` does, and saves them; the others keep their stored values. Nothing is ordered
    and the live files stay as they are: the next renewal uses the new settings (run
    `acmecf renew --force --cert-name NAME` to apply them now). Only options given on the
    command line are stored; ACMECF_* variables apply to each run on their own.

    \b
    Examples:
      acmecf reconfigure --cert-name example.com --deploy-hook 'systemctl reload haproxy'
      acmecf reconfigure --cert-name example.com --combined --key-group ssl-cert
      acmecf reconfigure --cert-name example.com --reset deploy-hook --keep-versions 3
    """
    run_command(
        _reconfigure,
        kwargs,
        lambda common, kw: ReconfigureOptions(
            common,
            kw["cert_name"],
            given_settings(ctx, kw, environment=False),
            tuple(_reset_setting(text) for text in kw["resets"]),
        ),
        logged=True,
    )


def _reconfigure(options: ReconfigureOptions) -> None:
    from acmecf.errors import UsageError
    from acmecf.settings.table import BY_NAME, merge, to_mapping
    from acmecf.storage.model import StoredCertificate

    if not options.given and not options.resets:
        raise UsageError(
            "nothing to change: give the options to change (see `acmecf reconfigure --help`)"
        )
    clash = set(options.given) & set(options.resets)
    if clash:
        flag = BY_NAME[sorted(clash)[0]].flag or ""
        raise UsageError(f"{flag.split('/')[0]} is both given and reset: give one of them")
    store = options.common.store()
    name = options.cert_name
    store.load(name)  # a missing certificate is named before anything else
    with store.lock(name):
        stored = store.load(name)
        layer = {setting: BY_NAME[setting].default for setting in options.resets}
        layer.update(options.given)
        settings = merge(stored.settings, layer)
        warnings = check_settings(settings)
        before, after = _flat(to_mapping(stored.settings)), _flat(to_mapping(settings))
        changed = [
            key for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)
        ]
        if changed:
            store.save(StoredCertificate(settings, stored.state))
    for warning in warnings:
        say(f"warning: {warning}", err=True)
    if options.common.quiet:
        return
    if not changed:
        say(f"{name}: nothing changed")
        return
    for key in changed:
        say(f"{name}: {key}: {_shown(before.get(key))} -> {_shown(after.get(key))}")
    say(
        f"saved; the next renewal uses it (`acmecf renew --force --cert-name {name}` applies "
        "it now)"
    )


def _flat(tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {key: value for table in tables.values() for key, value in table.items()}


def _shown(value: Any) -> str:
    import json

    if value is None:
        return "(unset)"
    return json.dumps(value)
