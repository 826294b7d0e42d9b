"""ACME accounts: opening a session with the stored account (registering one the first time),
and what an account can do afterwards (RFC 8555 §7.3): show, update the contact, deactivate,
roll the key over, revoke certificates.

The account key is created once per CA and stored (AccountStore) before the CA learns it, so an
account is never registered with a key that is then lost. Every failure is an AcmeError (or a
UsageError for a missing --agree-tos or EAB) that says what to do. Does not: order
certificates (acme.orders) or know where files live.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from acme import errors, jws, messages
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256, RS256
from josepy.jwk import JWKEC

from acmecf.acme.client import AcmeSession, jwk
from acmecf.acme.network import Pacer
from acmecf.acme.problems import translate
from acmecf.errors import AcmeError, UsageError
from acmecf.pki.keys import key_pem
from acmecf.storage.contracts import AccountStore

log = logging.getLogger(__name__)


def open_session(
    server: str,
    store: AccountStore,
    *,
    email: str | None,
    agree_tos: bool,
    ca_bundle: str | None,
    eab: tuple[str, str] | None = None,
    pacer: Pacer | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> AcmeSession:
    """A session at `server` with its stored account, registering one the first time (which
    needs `agree_tos`, and `eab` (key id, HMAC key) where the CA requires External Account
    Binding)."""
    stored = store.load_account(server)
    new_key = stored is None
    key_bytes = (
        key_pem(ec.generate_private_key(ec.SECP256R1())) if stored is None else stored.key_pem
    )
    info: dict[str, Any] = dict(stored.info) if stored is not None else {}
    session = AcmeSession.connect(server, key_bytes, ca_bundle=ca_bundle, pacer=pacer, sleep=sleep)
    acme = session.acme
    if info.get("uri"):
        acme.net.account = messages.RegistrationResource(
            uri=str(info["uri"]), body=messages.Registration()
        )
        return session
    terms = getattr(acme.directory.meta, "terms_of_service", None)
    if not agree_tos:
        raise UsageError(
            "no account at this CA yet: read its terms of service"
            + (f" ({terms})" if terms else "")
            + " and run again with --agree-tos"
        )
    binding = None
    if eab is not None:
        binding = messages.ExternalAccountBinding.from_data(
            account_public_key=session.account_key.public_key(),
            kid=eab[0],
            hmac_key=eab[1],
            directory=acme.directory,
        )
    elif getattr(acme.directory.meta, "external_account_required", False):
        raise UsageError(
            f"{server} requires External Account Binding: pass --eab-kid and "
            "--eab-hmac-key-file (or ACMECF_EAB_HMAC_KEY) with the values from your account "
            "at the CA"
        )
    if new_key:
        store.save_account_key(server, key_bytes)
    registration = messages.NewRegistration.from_data(
        email=email, terms_of_service_agreed=True, external_account_binding=binding
    )
    try:
        account = acme.new_account(registration)
    except errors.ConflictError as conflict:  # the key is already registered
        account = messages.RegistrationResource(uri=str(conflict), body=messages.Registration())
        acme.net.account = account
    except Exception as err:
        raise translate(err, server, "registering the account") from err
    store.save_account_info(
        server,
        {
            "server": server,
            "uri": account.uri,
            "email": email,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
    )
    log.info("registered a new ACME account at %s", server)
    return session


def _account(session: AcmeSession) -> messages.RegistrationResource:
    account = session.acme.net.account
    if account is None:
        raise AcmeError(f"no account at {session.server}: run `acmecf account register`")
    return account


def registration(session: AcmeSession) -> messages.Registration:
    """The account as the CA sees it now (status, contact)."""
    try:
        return session.acme.query_registration(_account(session)).body
    except AcmeError:
        raise
    except Exception as err:
        raise translate(err, session.server, "reading the account") from err


def update_email(session: AcmeSession, email: str | None) -> messages.Registration:
    """Replace the account's contact addresses (RFC 8555 §7.3.2)."""
    contact = (f"mailto:{email}",) if email else ()
    try:
        account = session.acme.update_registration(
            _account(session), messages.Registration(contact=contact)
        )
    except AcmeError:
        raise
    except Exception as err:
        raise translate(err, session.server, "updating the account") from err
    return account.body


def deactivate(session: AcmeSession) -> None:
    """Deactivate the account for good (RFC 8555 §7.3.6)."""
    try:
        session.acme.deactivate_registration(_account(session))
    except AcmeError:
        raise
    except Exception as err:
        raise translate(err, session.server, "deactivating the account") from err


def rollover_key(session: AcmeSession, new_key_pem: bytes) -> None:
    """Switch the account to a new key (RFC 8555 §7.3.5): an inner JWS signed by the new key,
    carried in a request signed by the old one. Raises AcmeError on refusal."""
    new_key = jwk(new_key_pem, "the new account key")
    url = session.directory["keyChange"]
    change = {
        "account": session.account_uri,
        "oldKey": session.account_key.public_key().to_partial_json(),
    }
    inner = jws.JWS.sign(
        json.dumps(change).encode(),
        key=new_key,
        alg=ES256 if isinstance(new_key, JWKEC) else RS256,
        nonce=None,
        url=url,
    )
    session.post(url, inner, "changing the account key")
    session.use_key(new_key_pem)


def revoke(session: AcmeSession, certificate_pem: bytes, reason: int) -> None:
    """Revoke a certificate this account obtained (RFC 8555 §7.6)."""
    from acmecf.pki.chain import load_certificate

    certificate = load_certificate(certificate_pem, "the certificate to revoke")
    try:
        session.acme.revoke(certificate, reason)
    except Exception as err:
        raise translate(err, session.server, "revoking the certificate") from err


def revoke_with_certificate_key(
    server: str, ca_bundle: str | None, certificate_pem: bytes, key_pem_bytes: bytes, reason: int
) -> None:
    """Revoke a certificate by proving possession of its own private key (RFC 8555 §7.6), for
    when the account is lost; no account is needed."""
    from acmecf.pki.chain import load_certificate

    certificate = load_certificate(certificate_pem, "the certificate to revoke")
    session = AcmeSession.connect(
        server, key_pem_bytes, ca_bundle=ca_bundle, key_source="the certificate's key"
    )
    try:
        session.acme.revoke(certificate, reason)
    except Exception as err:
        raise translate(err, server, "revoking the certificate") from err
