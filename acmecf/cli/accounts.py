"""Commands for ACME accounts and revocation: `acmecf account ...` and `acmecf revoke`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from acmecf.cli.base import EXIT_CODES, F, cli, common_options, run_command, store_from

REVOCATION_REASONS = {
    "unspecified": 0,
    "keycompromise": 1,
    "affiliationchanged": 3,
    "superseded": 4,
    "cessationofoperation": 5,
}


def _server_options(function: F) -> F:
    """Which CA: the options every account command shares."""
    options = [
        click.option(
            "--server",
            envvar="ACMECF_SERVER",
            metavar="URL",
            help="ACME directory URL. Default: Let's Encrypt production. Env: ACMECF_SERVER.",
        ),
        click.option("--staging", is_flag=True, help="Let's Encrypt's staging server."),
        click.option(
            "--ca-bundle",
            envvar="ACMECF_CA_BUNDLE",
            metavar="PEM",
            type=click.Path(exists=True, dir_okay=False, resolve_path=True),
            help="Trust this CA for the ACME server's HTTPS. Env: ACMECF_CA_BUNDLE.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@cli.group(epilog=EXIT_CODES)
def account() -> None:
    """Your ACME account at a CA: register, show, update, deactivate, roll its key over.

    acmecf keeps one account per CA in <config-dir>/accounts/; `acmecf issue --agree-tos`
    registers it the first time, so these commands are for everything after that.
    """


@account.command("register", epilog=EXIT_CODES)
@_server_options
@click.option("--email", envvar="ACMECF_EMAIL", help="Contact address for expiry notices.")
@click.option("--agree-tos", is_flag=True, required=True, help="Accept the CA's terms.")
@click.option("--eab-kid", metavar="KID", help="External Account Binding key id from the CA.")
@click.option(
    "--eab-hmac-key", metavar="KEY", help="External Account Binding HMAC key (base64url)."
)
@common_options
def account_register(**options: Any) -> None:
    """Register an account at the CA (with External Account Binding when it requires one).

    \b
    Examples:
      acmecf account register --agree-tos --email ops@example.com
      acmecf account register --agree-tos --server https://acme.zerossl.com/v2/DV90 \\
          --eab-kid KID --eab-hmac-key KEY
    """
    run_command(_register, options)


def _register(options: dict[str, Any]) -> None:
    session = _session(options, register=True)
    if not options["quiet"]:
        click.echo(f"account at {session.server}: {session.account_uri}")


@account.command("show", epilog=EXIT_CODES)
@_server_options
@common_options
def account_show(**options: Any) -> None:
    """Show the account as the CA sees it: its URL, status and contact addresses.

    \b
    Example:
      acmecf account show --staging
    """
    run_command(_show, options)


def _show(options: dict[str, Any]) -> None:
    session = _session(options)
    registration = session.registration()
    click.echo(f"server:  {session.server}")
    click.echo(f"account: {session.account_uri}")
    click.echo(f"status:  {registration.status or 'valid'}")
    contacts = ", ".join(c.removeprefix("mailto:") for c in registration.contact) or "(none)"
    click.echo(f"contact: {contacts}")


@account.command("update", epilog=EXIT_CODES)
@_server_options
@click.option("--email", required=True, help="The new contact address ('' removes it).")
@common_options
def account_update(**options: Any) -> None:
    """Change the account's contact address.

    \b
    Example:
      acmecf account update --email new-ops@example.com
    """
    run_command(_update, options)


def _update(options: dict[str, Any]) -> None:
    session = _session(options)
    registration = session.update_email(options["email"] or None)
    contacts = ", ".join(c.removeprefix("mailto:") for c in registration.contact) or "(none)"
    if not options["quiet"]:
        click.echo(f"contact of {session.account_uri}: {contacts}")


@account.command("deactivate", epilog=EXIT_CODES)
@_server_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@common_options
def account_deactivate(**options: Any) -> None:
    """Deactivate the account for good. Its certificates stay valid; the next issuance
    registers a new account.

    \b
    Example:
      acmecf account deactivate --staging --yes
    """
    run_command(_deactivate, options)


def _deactivate(options: dict[str, Any]) -> None:
    session = _session(options)
    _confirm(options, f"Deactivate the account {session.account_uri} for good?")
    store = store_from(options)
    with store.lock():
        session.deactivate()
        kept = store.retire_account(session.server)
    if not options["quiet"]:
        click.echo(f"deactivated {session.account_uri}; its key is kept in {kept}")


@account.command("rollover-key", epilog=EXIT_CODES)
@_server_options
@common_options
def account_rollover_key(**options: Any) -> None:
    """Replace the account's key with a new one (for a key that may have leaked).

    \b
    Example:
      acmecf account rollover-key
    """
    run_command(_rollover, options)


def _rollover(options: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from acmecf.certificate import key_pem

    session = _session(options)
    store = store_from(options)
    new_key = key_pem(ec.generate_private_key(ec.SECP256R1()))
    with store.lock():
        # The new key is on disk before the CA switches to it, so it cannot be lost.
        pending = store.stage_account_key(session.server, new_key)
        session.rollover_key(new_key)
        store.commit_account_key(session.server, pending)
    if not options["quiet"]:
        click.echo(f"the account {session.account_uri} now uses a new key")


@cli.command(epilog=EXIT_CODES)
@click.option("--cert-name", required=True, help="The certificate to revoke.")
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
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    help="Trust this CA for the ACME server's HTTPS. Env: ACMECF_CA_BUNDLE.",
)
@common_options
def revoke(**options: Any) -> None:
    """Revoke a certificate at its CA; then offer to delete it (--delete for scripts).

    A revoked certificate that is kept is renewed by the next `acmecf renew`.

    \b
    Examples:
      acmecf revoke --cert-name example.com --reason superseded --delete
      acmecf revoke --cert-name example.com --reason keycompromise \\
          --key-path /etc/acmecf/live/example.com/privkey.pem
    """
    run_command(_revoke, options)


def _revoke(options: dict[str, Any]) -> None:
    import dataclasses
    import datetime
    import os

    from acmecf.acme_client import AcmeSession, revoke_with_certificate_key
    from acmecf.config import apply_environment
    from acmecf.renewal import StoredCertificate

    store = store_from(options)
    name = options["cert_name"]
    stored = store.load_certificate(name)
    config = apply_environment(stored.config, os.environ)
    ca_bundle = options["ca_bundle"] or config.ca_bundle
    certificate_pem = store.live(name).cert.read_bytes()
    reason = REVOCATION_REASONS[options["reason"]]
    if options["key_path"] is not None:
        revoke_with_certificate_key(
            config.server, ca_bundle, certificate_pem, options["key_path"].read_bytes(), reason
        )
    else:
        session = AcmeSession.open(
            config.server, store, email=None, agree_tos=False, ca_bundle=ca_bundle
        )
        session.revoke(certificate_pem, reason)
    with store.lock():
        state = dataclasses.replace(
            stored.state,
            last_result="revoked",
            last_attempt=datetime.datetime.now(datetime.UTC),
        )
        store.save_renewal(StoredCertificate(stored.config, state))
    if not options["quiet"]:
        click.echo(f"revoked {name} ({options['reason']})")
    delete = options["delete"]
    if not delete and sys.stdin.isatty():
        delete = click.confirm(f"Delete {name} and all its files?", default=False)
    if delete:
        with store.lock():
            store.delete_certificate(name)
        if not options["quiet"]:
            click.echo(f"deleted {name}")
    elif not options["quiet"]:
        click.echo(
            f"kept {name}: the next `acmecf renew` replaces it "
            f"(or `acmecf delete --cert-name {name} --yes`)"
        )


def _session(options: dict[str, Any], *, register: bool = False) -> Any:
    from acmecf.acme_client import AcmeSession
    from acmecf.cli.certificates import _server
    from acmecf.errors import UsageError

    store = store_from(options)
    server = _server(options)
    if not register and store.load_account(server) is None:
        raise UsageError(
            f"no account at {server} in {store.config_dir}: run `acmecf account register`"
        )
    eab = None
    if register and (options.get("eab_kid") or options.get("eab_hmac_key")):
        if not (options.get("eab_kid") and options.get("eab_hmac_key")):
            raise UsageError("External Account Binding needs both --eab-kid and --eab-hmac-key")
        eab = (options["eab_kid"], options["eab_hmac_key"])
    store.prepare()
    return AcmeSession.open(
        server,
        store,
        email=options.get("email"),
        agree_tos=bool(options.get("agree_tos")),
        ca_bundle=options.get("ca_bundle"),
        eab=eab,
    )


def _confirm(options: dict[str, Any], question: str) -> None:
    from acmecf.errors import UsageError

    if options.get("yes"):
        return
    if not sys.stdin.isatty():
        raise UsageError("refusing without confirmation: pass --yes")
    click.confirm(question, abort=True)
