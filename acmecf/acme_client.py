"""A thin adapter over certbot's `acme` library: account, order, DNS-01 challenges, finalize.

The protocol itself (JWS, nonces, challenge math) is the library's; this module adds what a
tool needs around it: the account key kept on disk, polling that starts fast and honours
Retry-After, retries of badNonce, and errors that say what to do. It does not know Cloudflare,
DNS propagation or where certificates are written.
"""

from __future__ import annotations

import datetime
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from acme import challenges, client, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.json_util import field as jose_field
from josepy.jwa import ES256, RS256
from josepy.jwk import JWK, JWKEC, JWKRSA

from acmecf import __version__
from acmecf.errors import AcmeError, UsageError
from acmecf.store import Store

log = logging.getLogger(__name__)

LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
USER_AGENT = f"acmecf/{__version__}"
BAD_NONCE_RETRIES = 5
FIRST_POLL = 0.05
MAX_POLL = 2.0
POLL_BACKOFF = 1.5


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


class _Network(client.ClientNetwork):
    """ClientNetwork that retries badNonce as often as RFC 8555 §6.5 lets a client."""

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for _ in range(BAD_NONCE_RETRIES):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce":
                    raise
                log.debug("badNonce from the CA, retrying with the fresh nonce")
        return self._post_once(*args, **kwargs)


class AcmeSession:
    """One ACME account at one ACME server, ready to order certificates.

    Every ACME failure surfaces as AcmeError (or UsageError for a missing --agree-tos) with a
    message that says what to do.
    """

    def __init__(
        self,
        acme: client.ClientV2,
        server: str,
        account_key: JWK,
        *,
        store: Store | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._acme = acme
        self.server = server
        self._account_key = account_key
        self._store = store
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def open(
        cls,
        server: str,
        store: Store,
        *,
        email: str | None,
        agree_tos: bool,
        ca_bundle: str | None,
        eab: tuple[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> AcmeSession:
        """Connect to `server` with its stored account, registering one the first time.

        The account key is created once per server, saved 0600 before it is registered, and
        reused on every later run.
        """
        stored = store.load_account(server)
        if stored is None:
            key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            info: dict[str, Any] = {}
        else:
            key_pem, info = stored
        account_key = _jwk(key_pem)
        network = _Network(
            account_key,
            alg=ES256 if isinstance(account_key, JWKEC) else RS256,
            user_agent=USER_AGENT,
            verify_ssl=_trust(ca_bundle),  # type: ignore[arg-type]  # requests takes a path too
            timeout=30,
        )
        try:
            directory = client.ClientV2.get_directory(server, network)
        except Exception as err:
            raise _translate(err, server, "reading the ACME directory") from err
        acme = client.ClientV2(directory, network)
        if info.get("uri"):
            network.account = messages.RegistrationResource(
                uri=info["uri"], body=messages.Registration()
            )
        else:
            terms = getattr(directory.meta, "terms_of_service", None)
            if not agree_tos:
                raise UsageError(
                    "no account at this CA yet: read its terms of service"
                    + (f" ({terms})" if terms else "")
                    + " and run again with --agree-tos"
                )
            binding = None
            if eab is not None:
                binding = messages.ExternalAccountBinding.from_data(
                    account_public_key=account_key.public_key(),
                    kid=eab[0],
                    hmac_key=eab[1],
                    directory=directory,
                )
            elif getattr(directory.meta, "external_account_required", False):
                raise UsageError(
                    f"{server} requires External Account Binding: pass --eab-kid and "
                    "--eab-hmac-key with the values from your account at the CA"
                )
            if stored is None:
                store.save_account_key(server, key_pem)
            registration = messages.NewRegistration.from_data(
                email=email, terms_of_service_agreed=True, external_account_binding=binding
            )
            try:
                account = acme.new_account(registration)
            except errors.ConflictError as conflict:  # the key is already registered
                account = messages.RegistrationResource(
                    uri=str(conflict), body=messages.Registration()
                )
                network.account = account
            except Exception as err:
                raise _translate(err, server, "registering the account") from err
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
        return cls(acme, server, account_key, store=store, sleep=sleep)

    @property
    def renewal_info_url(self) -> str | None:
        """The CA's renewalInfo resource (RFC 9773), or None when it offers no ARI."""
        try:
            return str(self._acme.directory["renewalInfo"])
        except KeyError:
            return None

    def renewal_info(self, ari_id: str) -> tuple[dict[str, Any], datetime.timedelta]:
        """The CA's suggested renewal window for a certificate, and how long to wait before
        asking again (Retry-After). RFC 9773 §4.2: a plain GET, no account needed."""
        base = self.renewal_info_url
        if base is None:
            raise AcmeError(f"{self.server} offers no renewal information (ARI)")
        try:
            response = self._acme.net.get(f"{base.rstrip('/')}/{ari_id}")
            reply = response.json()
        except Exception as err:
            raise _translate(err, self.server, "fetching renewal information") from err
        retry_after = response.headers.get("Retry-After", "")
        wait = float(retry_after) if retry_after.isdigit() else 6 * 3600.0
        return reply, datetime.timedelta(seconds=wait)

    @property
    def profiles(self) -> dict[str, str]:
        """The certificate profiles the CA offers (name -> description); empty if none."""
        offered = getattr(self._acme.directory.meta, "profiles", None)
        return dict(offered or {})

    def new_order(
        self, csr_pem: bytes, *, replaces: str | None = None, profile: str | None = None
    ) -> messages.OrderResource:
        """Create an order for every name in the CSR (RFC 8555 §7.4), with the ACME profile
        `profile` if given (raising UsageError when the CA does not offer it).

        `replaces` names the certificate this one renews (RFC 9773 §5), so the CA can link
        them; a CA that refuses it gets the order again without it.
        """
        if profile:
            offered = self.profiles
            if profile not in offered:
                raise UsageError(
                    f"the CA at {self.server} offers no profile {profile!r}: "
                    + (f"it offers {', '.join(sorted(offered))}" if offered else "it offers none")
                    + "; change --profile"
                )
        if replaces and self.renewal_info_url:
            try:
                return self._new_order_replacing(csr_pem, replaces, profile)
            except AcmeError as err:
                log.info("the CA did not accept `replaces` (%s); ordering without it", err)
        try:
            return self._acme.new_order(csr_pem, profile=profile)
        except Exception as err:
            raise _translate(err, self.server, "creating the order") from err

    def _new_order_replacing(
        self, csr_pem: bytes, replaces: str, profile: str | None
    ) -> messages.OrderResource:
        from cryptography import x509

        csr = x509.load_pem_x509_csr(csr_pem)
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        identifiers = [
            messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name)
            for name in names.get_values_for_type(x509.DNSName)
        ]
        try:
            response = self._acme.net.post(
                self._acme.directory["newOrder"],
                _NewOrderReplacing(
                    identifiers=identifiers, replaces=replaces, profile=profile or ""
                ),
                new_nonce_url=self._acme.directory["newNonce"],
            )
            body = messages.Order.from_json(response.json())
            authorizations = []
            for url in body.authorizations:
                reply = self._post_as_get(url, "reading an authorization")
                authorizations.append(
                    messages.AuthorizationResource(
                        body=messages.Authorization.from_json(reply.json()), uri=url
                    )
                )
        except AcmeError:
            raise
        except Exception as err:
            raise _translate(err, self.server, "creating the order") from err
        return messages.OrderResource(
            body=body,
            uri=response.headers.get("Location"),
            authorizations=authorizations,
            csr_pem=csr_pem,
        )

    def pending_challenges(self, order: messages.OrderResource) -> list[DnsChallenge]:
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
                    value=challenge.chall.validation(self._account_key),
                    body=challenge,
                )
            )
        return result

    def answer(self, challenge: DnsChallenge) -> None:
        """Tell the CA the record is in place (RFC 8555 §7.5.1)."""
        try:
            self._acme.answer_challenge(
                challenge.body, challenge.body.chall.response(self._account_key)
            )
        except Exception as err:
            raise _translate(
                err, self.server, f"answering the challenge for {challenge.identifier}"
            ) from err

    def wait_for_authorizations(self, order: messages.OrderResource, deadline: float) -> None:
        """Poll every authorization until it is valid; raise AcmeError naming any that failed."""
        for authorization in order.authorizations:
            if authorization.body.status == messages.STATUS_VALID:
                continue
            url = authorization.uri
            interval = FIRST_POLL
            while True:
                response = self._post_as_get(url, "checking the authorization")
                body = messages.Authorization.from_json(response.json())
                name = body.identifier.value
                if body.status == messages.STATUS_VALID:
                    break
                if body.status != messages.STATUS_PENDING:
                    raise AcmeError(_failed_authorization(body))
                interval = self._pause(response, interval, deadline, f"validation of {name}")

    def finalize(
        self,
        order: messages.OrderResource,
        csr_pem: bytes,
        deadline: float,
        *,
        preferred_chain: str | None = None,
    ) -> str:
        """Submit the CSR and return the certificate chain PEM once the order is valid (§7.4).

        With `preferred_chain`, the CA's alternate chains (§7.4.2, Link rel="alternate") are
        fetched too and the first whose topmost certificate was issued by a CA of that common
        name is returned; when none matches, the default chain, with a notice.
        """
        try:
            response = self._acme.net.post(
                order.body.finalize,
                messages.CertificateRequest(csr=_load_csr(csr_pem)),
                new_nonce_url=self._acme.directory["newNonce"],
            )
        except Exception as err:
            raise _translate(err, self.server, "finalizing the order") from err
        interval = FIRST_POLL
        while True:
            body = messages.Order.from_json(response.json())
            if body.status == messages.STATUS_VALID and body.certificate:
                certificate = self._post_as_get(body.certificate, "downloading the certificate")
                if not preferred_chain:
                    return certificate.text
                chains = [certificate.text] + [
                    self._post_as_get(url, "downloading an alternate chain").text
                    for url in self._acme._get_links(certificate, "alternate")
                ]
                return choose_chain(chains, preferred_chain)
            if body.status == messages.STATUS_INVALID:
                detail = body.error.detail if body.error is not None else "no reason given"
                raise AcmeError(f"the CA refused to issue the certificate: {detail}")
            interval = self._pause(response, interval, deadline, "issuance")
            response = self._post_as_get(order.uri, "checking the order")

    @property
    def account_uri(self) -> str | None:
        account = self._acme.net.account
        return None if account is None else str(account.uri)

    def _account(self) -> messages.RegistrationResource:
        account = self._acme.net.account
        if account is None:
            raise AcmeError(f"no account at {self.server}: run `acmecf account register`")
        return account

    def registration(self) -> messages.Registration:
        """The account as the CA sees it now (status, contact)."""
        try:
            account = self._acme.query_registration(self._account())
        except Exception as err:
            raise _translate(err, self.server, "reading the account") from err
        return account.body

    def update_email(self, email: str | None) -> messages.Registration:
        """Replace the account's contact addresses (RFC 8555 §7.3.2)."""
        contact = (f"mailto:{email}",) if email else ()
        try:
            account = self._acme.update_registration(
                self._account(), messages.Registration(contact=contact)
            )
        except Exception as err:
            raise _translate(err, self.server, "updating the account") from err
        return account.body

    def deactivate(self) -> None:
        """Deactivate the account for good (RFC 8555 §7.3.6)."""
        try:
            self._acme.deactivate_registration(self._account())
        except Exception as err:
            raise _translate(err, self.server, "deactivating the account") from err

    def rollover_key(self, new_key_pem: bytes) -> None:
        """Switch the account to a new key (RFC 8555 §7.3.5): an inner JWS signed by the new
        key, carried in a request signed by the old one. Raises AcmeError on refusal."""
        from acme import jws

        new_key = _jwk(new_key_pem)
        url = self._acme.directory["keyChange"]
        change = {
            "account": self.account_uri,
            "oldKey": self._account_key.public_key().to_partial_json(),
        }
        inner = jws.JWS.sign(
            json.dumps(change).encode(),
            key=new_key,
            alg=ES256 if isinstance(new_key, JWKEC) else RS256,
            nonce=None,
            url=url,
        )
        try:
            self._acme.net.post(url, inner, new_nonce_url=self._acme.directory["newNonce"])
        except Exception as err:
            raise _translate(err, self.server, "changing the account key") from err
        self._account_key = new_key
        self._acme.net.key = new_key
        self._acme.net.alg = ES256 if isinstance(new_key, JWKEC) else RS256

    def revoke(self, certificate_pem: bytes, reason: int) -> None:
        """Revoke a certificate this account obtained (RFC 8555 §7.6)."""
        from cryptography import x509

        certificate = x509.load_pem_x509_certificate(certificate_pem)
        try:
            self._acme.revoke(certificate, reason)
        except Exception as err:
            raise _translate(err, self.server, "revoking the certificate") from err

    def _pause(
        self, response: requests.Response, interval: float, deadline: float, what: str
    ) -> float:
        """Sleep before the next poll: the server's Retry-After, or our growing interval."""
        now = self._clock()
        if now >= deadline:
            raise AcmeError(f"the CA did not finish {what} in time; run again later")
        wait = interval
        retry_after = response.headers.get("Retry-After")
        if retry_after and retry_after.isdigit():
            wait = max(wait, float(retry_after))
        self._sleep(min(wait, deadline - now))
        return min(MAX_POLL, interval * POLL_BACKOFF)

    def _post_as_get(self, url: str, action: str) -> requests.Response:
        try:
            return self._acme.net.post(url, None, new_nonce_url=self._acme.directory["newNonce"])
        except Exception as err:
            raise _translate(err, self.server, action) from err


def revoke_with_certificate_key(
    server: str, ca_bundle: str | None, certificate_pem: bytes, key_pem: bytes, reason: int
) -> None:
    """Revoke a certificate by proving possession of its own private key (RFC 8555 §7.6),
    for when the account is lost; no account is needed."""
    from cryptography import x509

    key = _jwk(key_pem)
    network = _Network(
        key,
        alg=ES256 if isinstance(key, JWKEC) else RS256,
        user_agent=USER_AGENT,
        verify_ssl=_trust(ca_bundle),  # type: ignore[arg-type]
        timeout=30,
    )
    try:
        directory = client.ClientV2.get_directory(server, network)
        client.ClientV2(directory, network).revoke(
            x509.load_pem_x509_certificate(certificate_pem), reason
        )
    except Exception as err:
        raise _translate(err, server, "revoking the certificate") from err


def choose_chain(chains: list[str], issuer_name: str) -> str:
    """The first chain whose topmost certificate was issued by a CA named `issuer_name`
    (the common name, as certbot's --preferred-chain matches it); else the first chain."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    for chain in chains:
        certificates = x509.load_pem_x509_certificates(chain.encode())
        top = certificates[-1]
        names = top.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        if any(str(n.value) == issuer_name for n in names):
            return chain
    log.warning(
        "no chain offered by the CA ends at an issuer named %r; using the default chain",
        issuer_name,
    )
    return chains[0]


def _jwk(key_pem: bytes) -> JWK:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return JWKEC(key=key)
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key)
    raise AcmeError("the stored account key is neither ECDSA nor RSA")


def _trust(ca_bundle: str | None) -> str | bool:
    """What requests should trust: the given bundle, else the system store, else its own."""
    if ca_bundle:
        return ca_bundle
    system = ssl.get_default_verify_paths().cafile
    return system or True


def _load_csr(csr_pem: bytes) -> Any:
    from cryptography import x509

    return x509.load_pem_x509_csr(csr_pem)


def _failed_authorization(body: messages.Authorization) -> str:
    name = body.identifier.value
    if body.wildcard:
        name = f"*.{name}"
    for challenge in body.challenges:
        if challenge.error is not None:
            return (
                f"the CA could not validate {name}: {challenge.error.detail or challenge.error.typ}"
            )
    return f"the CA marked the authorization for {name} {body.status.name}"


def _translate(err: Exception, server: str, action: str) -> AcmeError:
    if isinstance(err, AcmeError):
        return err
    if isinstance(err, requests.exceptions.SSLError):
        return AcmeError(
            f"TLS verification of {server} failed while {action}: pass --ca-bundle with the "
            "CA certificate that signs the ACME server's HTTPS certificate"
        )
    if isinstance(err, requests.exceptions.RequestException):
        return AcmeError(
            f"cannot reach the ACME server {server} while {action} "
            f"({type(err).__name__}): check --server and the network"
        )
    if isinstance(err, messages.Error):
        code = err.code or ""
        detail = err.detail or err.description or code
        hint = {
            "rejectedIdentifier": "the CA will not issue for this name",
            "rateLimited": "wait for the rate limit to reset (see the CA's rate-limit docs)",
            "caa": "the domain's CAA records forbid this CA; add one that allows it",
            "externalAccountRequired": "this CA needs External Account Binding credentials",
            "unsupportedIdentifier": "the CA does not support this kind of name",
            "malformed": "the request was malformed; check the names",
            "accountDoesNotExist": "the stored account is unknown to the CA; remove it from the "
            "accounts directory and run again with --agree-tos",
        }.get(code)
        return AcmeError(f"the CA refused {action}: {detail}" + (f" ({hint})" if hint else ""))
    if isinstance(err, errors.Error):
        return AcmeError(f"ACME error while {action}: {err}")
    if isinstance(err, ValueError | KeyError):  # an unreadable reply
        return AcmeError(f"the ACME server {server} sent an unexpected reply while {action}")
    raise err
