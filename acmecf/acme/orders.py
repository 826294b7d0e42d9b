"""Ordering a certificate (RFC 8555 §7.4): the order, its DNS challenges, answering them,
waiting for the CA, finalizing and downloading the chain.

Each function takes the session it works in and raises AcmeError saying what to do; an
authorization the CA invalidated because it did not find the record raises ValidationFailed
(a new order is needed). Does not: publish records or wait for DNS (issuers.acme does).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from acme import challenges, messages
from josepy.json_util import field as jose_field

from acmecf.acme import persist
from acmecf.acme.client import FIRST_POLL, AcmeSession
from acmecf.acme.persist import PersistChallenge
from acmecf.acme.problems import translate
from acmecf.errors import AcmeError, AlreadyReplaced, UsageError, ValidationFailed
from acmecf.pki.requests import csr_names

log = logging.getLogger(__name__)

# Problem types that mean "the CA looked and did not find what it wanted" (§8: retrying the
# same authorization cannot help, a new order may).
NOT_FOUND_PROBLEMS = frozenset({"unauthorized", "dns", "incorrectResponse"})


@dataclass(frozen=True)
class DnsChallenge:
    """One pending DNS-01 challenge: publish TXT `record_name` = `value`, then answer it."""

    identifier: str  # the name as ordered, "*.example.com" for a wildcard
    record_name: str  # _acme-challenge.example.com
    value: str
    body: messages.ChallengeBody


class _NewOrderReplacing(messages.NewOrder):
    """newOrder with RFC 9773's `replaces`, which the acme library does not model yet."""

    replaces: str = jose_field("replaces", omitempty=True)


def check_profile(session: AcmeSession, profile: str) -> None:
    """Raise UsageError when the CA does not offer `profile`."""
    offered = session.profiles
    if profile not in offered:
        raise UsageError(
            f"the CA at {session.server} offers no profile {profile!r}: "
            + (f"it offers {', '.join(sorted(offered))}" if offered else "it offers none")
            + "; change --profile"
        )


def choose_profile(
    session: AcmeSession, profile: str | None, preferred_profile: str | None
) -> str | None:
    """The profile to order: `profile` (UsageError when the CA does not offer it), else
    `preferred_profile` when the CA offers it, else None (the CA's default; with a notice when
    a preferred profile was not offered)."""
    if profile:
        check_profile(session, profile)
        return profile
    if preferred_profile:
        offered = session.profiles
        if preferred_profile in offered:
            return preferred_profile
        log.warning(
            "the CA at %s offers no profile %r (%s): ordering its default profile",
            session.server,
            preferred_profile,
            f"it offers {', '.join(sorted(offered))}" if offered else "it offers none",
        )
    return None


def new_order(
    session: AcmeSession,
    csr_pem: bytes,
    *,
    replaces: str | None = None,
    profile: str | None = None,
    preferred_profile: str | None = None,
) -> messages.OrderResource:
    """Create an order for every name in the CSR, with the ACME profile `choose_profile`
    picks.

    `replaces` names the certificate this one renews (RFC 9773 §5), so the CA can link them
    (and exempt the renewal from its rate limits); a CA that refuses it gets the order again
    without it, except when it says another order already replaced that certificate: then
    AlreadyReplaced (ordering again would make a duplicate).
    """
    profile = choose_profile(session, profile, preferred_profile)
    if replaces and session.renewal_info_url:
        try:
            return _new_order_replacing(session, csr_pem, replaces, profile)
        except AcmeError as err:
            if err.problem == "alreadyReplaced":
                raise AlreadyReplaced(
                    f"the CA says another order already replaced this certificate ({err}): "
                    "another machine, or an earlier run, with this account renewed it",
                    problem=err.problem,
                ) from err
            log.info("the CA did not accept `replaces` (%s); ordering without it", err)
    try:
        return session.acme.new_order(csr_pem, profile=profile)
    except Exception as err:
        raise translate(err, session.server, "creating the order") from err


def _new_order_replacing(
    session: AcmeSession, csr_pem: bytes, replaces: str, profile: str | None
) -> messages.OrderResource:
    identifiers = [
        messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name) for name in csr_names(csr_pem)
    ]
    response = session.post(
        session.directory["newOrder"],
        _NewOrderReplacing(identifiers=identifiers, replaces=replaces, profile=profile or ""),
        "creating the order",
    )
    try:
        body = messages.Order.from_json(response.json())
    except Exception as err:
        raise translate(err, session.server, "creating the order") from err
    authorizations = []
    for url in body.authorizations:
        reply = session.post(url, None, "reading an authorization")
        try:
            authorization = messages.Authorization.from_json(reply.json())
        except Exception as err:
            raise translate(err, session.server, "reading an authorization") from err
        authorizations.append(messages.AuthorizationResource(body=authorization, uri=url))
    return messages.OrderResource(
        body=body,
        uri=response.headers.get("Location"),
        authorizations=authorizations,
        csr_pem=csr_pem,
    )


def pending_challenges(session: AcmeSession, order: messages.OrderResource) -> list[DnsChallenge]:
    """The DNS-01 challenges still to be solved; authorizations already valid need none."""
    result: list[DnsChallenge] = []
    for authorization in order.authorizations:
        body = authorization.body
        name = body.identifier.value
        display = f"*.{name}" if body.wildcard else name
        if body.status == messages.STATUS_VALID:
            log.debug("authorization for %s is already valid", display)
            continue
        dns01 = [c for c in body.challenges if isinstance(c.chall, challenges.DNS01)]
        if not dns01:
            raise AcmeError(f"the CA offers no DNS-01 challenge for {display}")
        challenge = dns01[0]
        result.append(
            DnsChallenge(
                identifier=display,
                record_name=challenge.chall.validation_domain_name(name),
                value=challenge.chall.validation(session.account_key),
                body=challenge,
            )
        )
    return result


def answer(session: AcmeSession, challenge: DnsChallenge) -> None:
    """Tell the CA the record is in place (RFC 8555 §7.5.1)."""
    try:
        session.acme.answer_challenge(
            challenge.body, challenge.body.chall.response(session.account_key)
        )
    except Exception as err:
        raise translate(
            err, session.server, f"answering the challenge for {challenge.identifier}"
        ) from err


def wait_for_authorizations(
    session: AcmeSession, order: messages.OrderResource, deadline: float
) -> None:
    """Poll every authorization until it is valid; raise ValidationFailed (the CA did not find
    the record) or AcmeError naming any that failed."""
    for authorization in order.authorizations:
        if authorization.body.status == messages.STATUS_VALID:
            continue
        interval = FIRST_POLL
        while True:
            response = session.post(authorization.uri, None, "checking the authorization")
            try:
                body = messages.Authorization.from_json(response.json())
            except Exception as err:
                raise translate(err, session.server, "checking the authorization") from err
            if body.status == messages.STATUS_VALID:
                break
            if body.status != messages.STATUS_PENDING:
                raise _failed_authorization(body)
            interval = session.pause(
                response, interval, deadline, f"validation of {body.identifier.value}"
            )


def finalize(
    session: AcmeSession,
    order: messages.OrderResource,
    csr_pem: bytes,
    deadline: float,
    *,
    preferred_chain: str | None = None,
) -> str:
    """Submit the CSR and return the certificate chain PEM once the order is valid (§7.4).

    With `preferred_chain`, the CA's alternate chains (§7.4.2, Link rel="alternate") are
    fetched too and the first whose topmost certificate was issued by a CA of that common name
    is returned; when none matches, the default chain, with a notice.
    """
    from cryptography import x509

    from acmecf.pki.chain import choose_chain

    response = session.post(
        order.body.finalize,
        messages.CertificateRequest(csr=x509.load_pem_x509_csr(csr_pem)),
        "finalizing the order",
    )
    interval = FIRST_POLL
    while True:
        try:
            body = messages.Order.from_json(response.json())
        except Exception as err:
            raise translate(err, session.server, "finalizing the order") from err
        if body.status == messages.STATUS_VALID and body.certificate:
            certificate = session.post(body.certificate, None, "downloading the certificate")
            if not preferred_chain:
                return certificate.text
            chains = [certificate.text] + [
                session.post(url, None, "downloading an alternate chain").text
                for url in session.acme._get_links(certificate, "alternate")
            ]
            return choose_chain(chains, preferred_chain)
        if body.status == messages.STATUS_INVALID:
            detail = body.error.detail if body.error is not None else "no reason given"
            raise AcmeError(f"the CA refused to issue the certificate: {detail}")
        interval = session.pause(response, interval, deadline, "issuance")
        response = session.post(order.uri, None, "checking the order")


def _failed_authorization(body: messages.Authorization) -> AcmeError:
    name = body.identifier.value
    if body.wildcard:
        name = f"*.{name}"
    for challenge in body.challenges:
        error = challenge.error
        if error is not None:
            message = f"the CA could not validate {name}: {error.detail or error.typ}"
            problem = error.code or None
            if problem in NOT_FOUND_PROBLEMS:
                return ValidationFailed(message, problem=problem)
            return AcmeError(message, problem=problem)
    return AcmeError(f"the CA marked the authorization for {name} {body.status.name}")


class Orders:
    """The order functions bound to one session: what issuers.acme needs of a CA (the
    `Ordering` protocol there), so the narrative can be tested against a fake CA."""

    def __init__(self, session: AcmeSession) -> None:
        self.session = session
        self.server = session.server

    @property
    def renewal_info_url(self) -> str | None:
        return self.session.renewal_info_url

    def new_order(
        self,
        csr_pem: bytes,
        *,
        replaces: str | None,
        profile: str | None,
        preferred_profile: str | None = None,
    ) -> messages.OrderResource:
        return new_order(
            self.session,
            csr_pem,
            replaces=replaces,
            profile=profile,
            preferred_profile=preferred_profile,
        )

    def profile_of(self, order: messages.OrderResource) -> str | None:
        """The profile the CA put the order under (its default, when none was asked for)."""
        return order.body.profile or None

    def pending_challenges(self, order: messages.OrderResource) -> list[DnsChallenge]:
        return pending_challenges(self.session, order)

    def persist_challenges(self, order: messages.OrderResource) -> list[PersistChallenge]:
        return persist.challenges_of(self.session, order)

    def answer_persist(self, challenge: PersistChallenge) -> None:
        persist.answer(self.session, challenge)

    def answer(self, challenge: DnsChallenge) -> None:
        answer(self.session, challenge)

    def wait_for_authorizations(self, order: messages.OrderResource, deadline: float) -> None:
        wait_for_authorizations(self.session, order, deadline)

    def finalize(
        self,
        order: messages.OrderResource,
        csr_pem: bytes,
        deadline: float,
        *,
        preferred_chain: str | None,
    ) -> str:
        return finalize(self.session, order, csr_pem, deadline, preferred_chain=preferred_chain)

    def renewal_info(self, ari_id: str) -> tuple[dict[str, Any], datetime.timedelta]:
        return self.session.renewal_info(ari_id)
