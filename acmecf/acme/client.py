"""One ACME account's session with one CA: the connection, the directory, polling that starts
fast and honours Retry-After, and renewal information (RFC 9773).

A session is not thread-safe (the acme library's nonce pool is not): each worker thread opens
its own (acme.accounts.open_session). Every failure surfaces as AcmeError saying what to do.
Does not: register accounts (acme.accounts), order (acme.orders), or know files.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import Any

import requests
from acme import client
from josepy.jwa import ES256, RS256
from josepy.jwk import JWK, JWKEC, JWKRSA

from acmecf import __version__
from acmecf.acme.network import Network, Pacer
from acmecf.acme.problems import translate
from acmecf.errors import AcmeError
from acmecf.pki.keys import load_key

log = logging.getLogger(__name__)

USER_AGENT = f"acmecf/{__version__}"
FIRST_POLL = 0.05
MAX_POLL = 2.0
POLL_BACKOFF = 1.5
REQUEST_TIMEOUT = 30  # seconds per request: a silent CA fails each step after this
DEFAULT_ARI_RETRY = 6 * 3600.0


class AcmeSession:
    """A connected ACME client with its account key; `account_uri` once it has an account."""

    def __init__(
        self,
        acme: client.ClientV2,
        server: str,
        account_key: JWK,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.acme = acme
        self.server = server
        self.account_key = account_key
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def connect(
        cls,
        server: str,
        key_pem: bytes,
        *,
        ca_bundle: str | None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        key_source: str = "the stored account key",
    ) -> AcmeSession:
        """Read the CA's directory with `key_pem` (named `key_source` in errors) as the signing
        key; the session has no account yet."""
        key = jwk(key_pem, key_source)
        network = Network(
            key,
            alg=ES256 if isinstance(key, JWKEC) else RS256,
            user_agent=USER_AGENT,
            verify_ssl=trust(ca_bundle),
            timeout=REQUEST_TIMEOUT,
            pacer=pacer or Pacer(sleep=sleep),
        )
        read_environment_once(network, server)
        try:
            directory = client.ClientV2.get_directory(server, network)
        except Exception as err:
            raise translate(err, server, "reading the ACME directory") from err
        return cls(client.ClientV2(directory, network), server, key, sleep=sleep)

    @property
    def directory(self) -> Any:
        return self.acme.directory

    @property
    def account_uri(self) -> str | None:
        account = self.acme.net.account
        return None if account is None else str(account.uri)

    @property
    def renewal_info_url(self) -> str | None:
        """The CA's renewalInfo resource (RFC 9773), or None when it offers no ARI."""
        try:
            return str(self.acme.directory["renewalInfo"])
        except KeyError:
            return None

    @property
    def profiles(self) -> dict[str, str]:
        """The certificate profiles the CA offers (name -> description); empty if none."""
        offered = getattr(self.acme.directory.meta, "profiles", None)
        return dict(offered or {})

    def renewal_info(self, ari_id: str) -> tuple[dict[str, Any], datetime.timedelta]:
        """The CA's suggested renewal window for a certificate, and how long to wait before
        asking again (Retry-After). RFC 9773 §4.2: a plain GET, no account needed."""
        base = self.renewal_info_url
        if base is None:
            raise AcmeError(f"{self.server} offers no renewal information (ARI)")
        try:
            response = self.acme.net.get(f"{base.rstrip('/')}/{ari_id}")
            reply = response.json()
        except Exception as err:
            raise translate(err, self.server, "fetching renewal information") from err
        if not isinstance(reply, dict):
            raise AcmeError(f"{self.server} sent renewal information that is not an object")
        wait = retry_after_seconds(response.headers.get("Retry-After", ""))
        return reply, datetime.timedelta(seconds=DEFAULT_ARI_RETRY if wait is None else wait)

    def post(self, url: str, payload: Any, action: str) -> requests.Response:
        """A signed POST (payload None: POST-as-GET, RFC 8555 §6.3)."""
        try:
            return self.acme.net.post(url, payload, new_nonce_url=self.acme.directory["newNonce"])
        except Exception as err:
            raise translate(err, self.server, action) from err

    def pause(
        self, response: requests.Response, interval: float, deadline: float, what: str
    ) -> float:
        """Sleep before the next poll: the server's Retry-After, or our growing interval.
        Returns the next interval; raises AcmeError once `deadline` (monotonic) has passed."""
        now = self._clock()
        if now >= deadline:
            raise AcmeError(f"the CA did not finish {what} in time; run again later")
        wait = interval
        retry_after = response.headers.get("Retry-After")
        if retry_after and retry_after.isdigit():
            wait = max(wait, float(retry_after))
        self._sleep(min(wait, deadline - now))
        return min(MAX_POLL, interval * POLL_BACKOFF)

    def use_key(self, key_pem: bytes) -> None:
        """Sign with `key_pem` from now on (after a key rollover)."""
        key = jwk(key_pem)
        self.account_key = key
        self.acme.net.key = key
        self.acme.net.alg = ES256 if isinstance(key, JWKEC) else RS256


def read_environment_once(network: client.ClientNetwork, server: str) -> None:
    """Take the proxy and CA-bundle variables once, when the session opens. requests would
    read the whole environment again for every request: a sixth of the CPU of a run that
    renews hundreds of certificates."""
    session = network.session
    session.proxies.update(requests.utils.get_environ_proxies(server))
    if network.verify_ssl is True:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:  # what requests would have used instead of its own bundle
            network.verify_ssl = bundle  # type: ignore[assignment]  # a path works too
    session.trust_env = False


def retry_after_seconds(value: str, now: datetime.datetime | None = None) -> float | None:
    """The seconds a Retry-After header asks to wait: delay-seconds or an HTTP-date (RFC 9110
    §10.2.3); None when it is missing or unreadable."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    if not text:
        return None
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return max(0.0, (moment - (now or datetime.datetime.now(datetime.UTC))).total_seconds())


def jwk(key_pem: bytes, source: str = "the stored account key") -> JWK:
    """The JWK of an ECDSA or RSA private key (PEM); CertificateError naming `source`."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = load_key(key_pem, source)
    return JWKEC(key=key) if isinstance(key, ec.EllipticCurvePrivateKey) else JWKRSA(key=key)


def trust(ca_bundle: str | None) -> str | bool:
    """What requests should trust: the given bundle, else the system store, else its own."""
    if ca_bundle:
        return ca_bundle
    system = ssl.get_default_verify_paths().cafile
    return system or True
