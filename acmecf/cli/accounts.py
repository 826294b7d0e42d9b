"""Commands for ACME accounts and revocation: `acmecf account ...` and `acmecf revoke`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from acmecf.cli.base import EXIT_CODES, Common, cli, common_options, run_command, say
from acmecf.cli.options import (
    CERT_NAME,
    PEM_FILE,
    choose_server,
    eab_from,
    eab_options,
    server_options,
)

if TYPE_CHECKING:
    from acmecf.acme.client import AcmeSession

REVOCATION_REASONS = {
    "unspecified": 0,
    "keycompromise": 1,
    "affiliationchanged": 3,
    "superseded": 4,
    "cessationofoperation": 5,
}


@dataclass(frozen=True)
class AccountOptions:
    common: Common
    server: str
    ca_bundle: str | None
    email: str | None = None
    agree_tos: bool = False
    eab: tuple[str, str] | None = None
    yes: bool = False


def _account_options(common: Common, kwargs: Mapping[str, Any]) -> AccountOptions:
    return AccountOptions(
        common=common,
        server=choose_server(kwargs.get("server"), bool(kwargs.get("staging"))),
        ca_bundle=kwargs.get("ca_bundle"),
        email=kwargs.get("email"),
        agree_tos=bool(kwargs.get("agree_tos")),
        eab=eab_from(kwargs, os.environ) if "eab_kid" in kwargs else None,
        yes=bool(kwargs.get("yes")),
    )


@cli.group(epilog=EXIT_CODES)
def account() -> None:
    """Your ACME account at a CA: register, show, update, deactivate, roll its key over.

    acmecf keeps one account per CA in <config-dir>/accounts/; `acmecf issue --agree-tos`
    registers it the first time, so these commands are for everything after that.
    """


@account.command("register", epilog=EXIT_CODES)
@server_options
@click.option("--email", envvar="ACMECF_EMAIL", help="Contact address for expiry notices.")
@click.option("--agree-tos", is_flag=True, required=True, help="Accept the CA's terms.")
@eab_options
@common_options
def account_register(**kwargs: Any) -> None:
    """Register an account at the CA (with External Account Binding when it requires one).

    \b
    Examples:
      acmecf account register --agree-tos --email ops@example.com
      acmecf account register --agree-tos --server https://acme.zerossl.com/v2/DV90 \\
          --eab-kid KID --eab-hmac-key-file /root/zerossl-hmac
    """
    run_command(_register, kwargs, _account_options, logged=True)


def _register(options: AccountOptions) -> None:
    session = _session(options, register=True)
    if not options.common.quiet:
        say(f"account at {session.server}: {session.account_uri}")


@account.command("show", epilog=EXIT_CODES)
@server_options
@common_options
def account_show(**kwargs: Any) -> None:
    """Show the account as the CA sees it: its URL, status and contact addresses.

    \b
    Example:
      acmecf account show --staging
    """
    run_command(_show, kwargs, _account_options)


def _show(options: AccountOptions) -> None:
    from acmecf.acme.accounts import registration as read_registration

    session = _session(options)
    registration = read_registration(session)
    say(f"server:  {session.server}")
    say(f"account: {session.account_uri}")
    say(f"status:  {registration.status or 'valid'}")
    contacts = ", ".join(c.removeprefix("mailto:") for c in registration.contact) or "(none)"
    say(f"contact: {contacts}")


@account.command("update", epilog=EXIT_CODES)
@server_options
@click.option("--email", required=True, help="The new contact address ('' removes it).")
@common_options
def account_update(**kwargs: Any) -> None:
    """Change the account's contact address.

    \b
    Example:
      acmecf account update --email new-ops@example.com
    """
    run_command(_update, kwargs, _account_options, logged=True)


def _update(options: AccountOptions) -> None:
    from acmecf.acme.accounts import update_email

    session = _session(options)
    registration = update_email(session, options.email or None)
    contacts = ", ".join(c.removeprefix("mailto:") for c in registration.contact) or "(none)"
    if not options.common.quiet:
        say(f"contact of {session.account_uri}: {contacts}")


@account.command("deactivate", epilog=EXIT_CODES)
@server_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@common_options
def account_deactivate(**kwargs: Any) -> None:
    """Deactivate the account for good. Its certificates stay valid; the next issuance
    registers a new account.

    \b
    Example:
      acmecf account deactivate --staging --yes
    """
    run_command(_deactivate, kwargs, _account_options, logged=True)


def _deactivate(options: AccountOptions) -> None:
    from acmecf.acme.accounts import deactivate
    from acmecf.cli.prompts import confirm

    session = _session(options)
    if not options.yes:
        confirm(
            f"Deactivate the account {session.account_uri} for good?",
            refuse="refusing without confirmation: pass --yes",
        )
    store = options.common.store()
    with store.lock("account"):
        deactivate(session)
        kept = store.retire_account(session.server)
    if not options.common.quiet:
        say(f"deactivated {session.account_uri}; its key is kept in {kept}")


@account.command("rollover-key", epilog=EXIT_CODES)
@server_options
@common_options
def account_rollover_key(**kwargs: Any) -> None:
    """Replace the account's key with a new one (for a key that may have leaked).

    \b
    Example:
      acmecf account rollover-key
    """
    run_command(_rollover, kwargs, _account_options, logged=True)


def _rollover(options: AccountOptions) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from acmecf.acme.accounts import rollover_key
    from acmecf.pki.keys import key_pem

    session = _session(options)
    store = options.common.store()
    new_key = key_pem(ec.generate_private_key(ec.SECP256R1()))
    with store.lock("account"):
        # The new key is on disk before the CA switches to it, so it cannot be lost.
        pending = store.stage_account_key(session.server, new_key)
        rollover_key(session, new_key)
        store.commit_account_key(session.server, pending)
    if not options.common.quiet:
        say(f"the account {session.account_uri} now uses a new key")


@dataclass(frozen=True)
class RevokeOptions:
    common: Common
    cert_name: str
    reason: str
    key_path: Path | None
    delete: bool
    ca_bundle: str | None


@cli.command(epilog=EXIT_CODES)
@click.option("--cert-name", required=True, type=CERT_NAME, help="The certificate to revoke.")
@click.option(
    "--reason",
    type=click.Choice(list(REVOCATION_REASONS)),
    default="unspecified",
    show_default=True,
    help="Why (RFC 5280); keycompromise when the private key leaked.",
)
@click.option(
    "--key-path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Prove possession of the certificate's own key instead of using the account.",
)
@click.option("--delete", is_flag=True, help="Delete the certificate afterwards, unasked.")
@click.option(
    "--ca-bundle",
    envvar="ACMECF_CA_BUNDLE",
    metavar="PEM",
    type=PEM_FILE,
    help="Trust this CA for the ACME server's HTTPS. Env: ACMECF_CA_BUNDLE.",
)
@common_options
def revoke(**kwargs: Any) -> None:
    """Revoke a certificate at its CA; then offer to delete it (--delete for scripts).

    A certificate from Cloudflare's Origin CA is revoked through the Cloudflare API (the
    token needs Zone > SSL and Certificates > Edit; --reason and --key-path do not apply).
    Cloudflare's edge then refuses it at once: serve its replacement first. A revoked
    certificate that is kept is renewed by the next `acmecf renew`.

    \b
    Examples:
      acmecf revoke --cert-name example.com --reason superseded --delete
      acmecf revoke --cert-name example.com --reason keycompromise \\
          --key-path /etc/acmecf/live/example.com/privkey.pem
    """
    run_command(
        _revoke,
        kwargs,
        lambda common, kw: RevokeOptions(
            common, kw["cert_name"], kw["reason"], kw["key_path"], kw["delete"], kw["ca_bundle"]
        ),
        logged=True,
    )


def _revoke(options: RevokeOptions) -> None:
    import dataclasses
    import datetime

    from acmecf.acme.accounts import open_session, revoke, revoke_with_certificate_key
    from acmecf.cli.prompts import ask
    from acmecf.errors import UsageError
    from acmecf.lifecycle.renew import with_environment
    from acmecf.lifecycle.services import RunOptions, Services
    from acmecf.settings.table import ISSUER_ORIGIN_CA
    from acmecf.storage.model import StoredCertificate

    store = options.common.store()
    name = options.cert_name
    stored = store.load(name)
    services = Services(store, os.environ, RunOptions())
    settings = with_environment(stored, services).settings
    ca_bundle = options.ca_bundle or settings.ca_bundle
    live = store.live(name)
    if live is None:
        raise UsageError(f"{name} has no live certificate to revoke")
    reason = REVOCATION_REASONS[options.reason]
    if settings.issuer == ISSUER_ORIGIN_CA:
        _revoke_origin_ca(options, stored, live.material.cert, services)
    elif options.key_path is not None:
        try:
            key_bytes = options.key_path.read_bytes()
        except OSError as err:
            raise UsageError(f"cannot read --key-path {options.key_path}: {err.strerror}") from err
        revoke_with_certificate_key(
            settings.server, ca_bundle, live.material.cert, key_bytes, reason
        )
    else:
        if store.load_account(settings.server) is None:
            raise UsageError(
                f"no account at {settings.server} in {store.config_dir} to revoke with: pass "
                "--key-path with the certificate's own key"
            )
        session = open_session(
            settings.server, store, email=None, agree_tos=False, ca_bundle=ca_bundle
        )
        revoke(session, live.material.cert, reason)
    with store.lock(name):
        current = store.load(name)
        state = dataclasses.replace(
            current.state,
            last_result="revoked",
            last_attempt=datetime.datetime.now(datetime.UTC),
        )
        store.save(StoredCertificate(current.settings, state))
    if not options.common.quiet:
        origin_ca = settings.issuer == ISSUER_ORIGIN_CA
        say(f"revoked {name} ({'at Cloudflare' if origin_ca else options.reason})")
    delete = options.delete
    if not delete and _interactive():
        delete = ask(f"Delete {name} and all its files?")
    if delete:
        with store.lock(name):
            store.delete(name)
        if not options.common.quiet:
            say(f"deleted {name}")
    elif not options.common.quiet:
        say(
            f"kept {name}: the next `acmecf renew` replaces it "
            f"(or `acmecf delete --cert-name {name} --yes`)"
        )


def _revoke_origin_ca(options: RevokeOptions, stored: Any, cert_pem: bytes, services: Any) -> None:
    """Revoke a Cloudflare Origin CA certificate through the API, by the id Cloudflare gave it
    (kept in the state; for one issued before acmecf kept it, its serial number)."""
    from acmecf.cloudflare.origin_ca import CloudflareOriginCA
    from acmecf.errors import UsageError
    from acmecf.pki.chain import load_certificate

    if options.key_path is not None:
        raise UsageError(
            f"{options.cert_name} is from Cloudflare's Origin CA, revoked through the Cloudflare "
            "API: leave out --key-path"
        )
    serial = stored.state.serial or str(
        load_certificate(cert_pem, f"the live certificate of {options.cert_name}").serial_number
    )
    api = services.cloudflare(stored.settings.credentials_file)
    CloudflareOriginCA(api).revoke(serial)


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty()


def _session(options: AccountOptions, *, register: bool = False) -> AcmeSession:
    from acmecf.acme.accounts import open_session
    from acmecf.errors import UsageError

    store = options.common.store()
    if not register and store.load_account(options.server) is None:
        raise UsageError(
            f"no account at {options.server} in {store.config_dir}: run "
            "`acmecf account register --agree-tos`"
        )
    store.prepare()
    return open_session(
        options.server,
        store,
        email=options.email,
        agree_tos=options.agree_tos,
        ca_bundle=options.ca_bundle,
        eab=options.eab,
    )
