"""Issuing one certificate from an ACME CA, in protocol order: the narrative of acmecf.

Find where each TXT record goes, new key and CSR, order, publish every record, wait until DNS
serves them all, answer the challenges, finalize, check the chain. The records this run
created are always removed, whether it succeeds, fails or is interrupted; a record that cannot
be removed (the DNS API is down) stays in the journal for the next run. With dns-persist-01
the records were published once beforehand (`acmecf persist setup`): the order is answered
without touching the DNS provider at all. This module does not parse options, print, write
files, or know the SDKs behind its collaborators.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from acmecf.dns.propagation import ExpectedRecord
from acmecf.dns.provider import DnsProvider, ManyRecords, ZoneFinder
from acmecf.errors import AcmecfError, CloudflareError, ValidationFailed
from acmecf.issuers.base import CertificateRequest, IssuedCertificate
from acmecf.names import challenge_name
from acmecf.pki.chain import verify_chain
from acmecf.pki.keys import PrivateKey, generate_key, key_pem, load_key
from acmecf.pki.requests import make_csr
from acmecf.settings.table import CHALLENGE_DNS_PERSIST_01, ISSUER_ACME

log = logging.getLogger(__name__)

CLEANUP_PATIENCE = 180.0  # how long record removal is retried before it is left to the journal
CLEANUP_FIRST_PAUSE = 1.0
# A validation that failed although every nameserver served the record is retried once with a
# new order: two failed authorizations per name and run stay within Let's Encrypt's 5 per name
# per account per hour even when the run is repeated at once.
# https://letsencrypt.org/docs/rate-limits/#authorization-failures-per-identifier-per-account
VALIDATION_RETRIES = 1
RETRY_SETTLE_FACTOR = 12.0  # the retry waits 12 settle times (a minute with the default 5 s)
RETRY_SETTLE_MINIMUM = 5.0


class Challenge(Protocol):
    """A pending DNS-01 challenge (acme.orders.DnsChallenge)."""

    identifier: str
    record_name: str
    value: str


class Ordering(Protocol):
    """What the narrative needs of an ACME CA (acme.orders.Orders; a fake in tests)."""

    server: str

    @property
    def renewal_info_url(self) -> str | None: ...

    def new_order(
        self,
        csr_pem: bytes,
        *,
        replaces: str | None,
        profile: str | None,
        preferred_profile: str | None = None,
    ) -> Any: ...

    def profile_of(self, order: Any) -> str | None: ...

    def pending_challenges(self, order: Any) -> list[Any]: ...

    def persist_challenges(self, order: Any) -> list[Any]: ...

    def answer_persist(self, challenge: Any) -> None: ...

    def answer(self, challenge: Any) -> None: ...

    def wait_for_authorizations(self, order: Any, deadline: float) -> None: ...

    def finalize(
        self, order: Any, csr_pem: bytes, deadline: float, *, preferred_chain: str | None
    ) -> str: ...

    def renewal_info(self, ari_id: str) -> tuple[dict[str, Any], datetime.timedelta]: ...


class Propagation(Protocol):
    """What the narrative needs of DNS (dns.propagation.PropagationChecker)."""

    def follow_cname(self, name: str) -> str: ...

    settle: float  # seconds waited after DNS serves every record

    def wait(
        self, records: list[ExpectedRecord], *, timeout: float, settle: float | None = None
    ) -> None: ...


@dataclass
class CleanupReport:
    """What the record removals of a run left behind (shared by its certificates)."""

    left: list[str] = field(default_factory=list)


class AcmeIssuer:
    """Certificates from the ACME CA `ordering()` connects to (opened only after the zones are
    found, so a bad Cloudflare token never costs an account registration), with DNS-01 records
    published through `dns` and awaited with `propagation`. A request for dns-persist-01 needs
    neither (they may be None)."""

    name = ISSUER_ACME

    def __init__(
        self,
        ordering: Callable[[], Ordering],
        dns: DnsProvider | None,
        propagation: Propagation | None,
        *,
        cleanup_report: CleanupReport | None = None,
        cleanup_patience: float = CLEANUP_PATIENCE,
        clock: Callable[[], float] = time.monotonic,
        cleanup_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ordering = ordering
        self._dns = dns
        self._propagation = propagation
        self.cleanup_report = cleanup_report or CleanupReport()
        self._cleanup_patience = cleanup_patience
        self._clock = clock
        self._cleanup_sleep = cleanup_sleep

    def issue(self, request: CertificateRequest) -> IssuedCertificate:
        if request.challenge == CHALLENGE_DNS_PERSIST_01:
            return self._issue_persistent(request)
        dns, propagation = self._dns_parts()
        names = list(request.names)

        # 1. Where does each challenge record go? Follow _acme-challenge CNAMEs (delegated
        #    validation) and find the DNS zone of each target before anything is ordered.
        targets: dict[str, str] = {}
        zones: dict[str, str | None] = {}
        for name in names:
            record_name = challenge_name(name)
            if record_name not in targets:
                target = propagation.follow_cname(record_name)
                if target != record_name:
                    log.info("%s is delegated to %s", record_name, target)
                targets[record_name] = target
                if isinstance(dns, ZoneFinder):
                    zones[target] = dns.zone_for(target).name

        # 2. A fresh key (or the kept one) and a CSR naming every name; order the certificate
        #    (RFC 8555 §7.4).
        key, csr = _key_and_csr(request, names)
        acme = self._ordering()

        # 3-6. Order, publish, wait, answer, finalize. When the CA did not find a record that
        #      every nameserver here served, its resolvers see DNS later than we do: order
        #      again (the failed authorization is invalid for good, RFC 8555 §7.1.4) and give
        #      DNS longer before answering. Bounded by Let's Encrypt's limit of 5 failed
        #      authorizations per name per account per hour.
        settle: float | None = None  # the checker's own, at first
        fullchain, profile = "", None
        for attempt in range(VALIDATION_RETRIES + 1):
            try:
                fullchain, profile = self._order(acme, request, csr, targets, zones, settle)
                break
            except ValidationFailed as err:
                if attempt == VALIDATION_RETRIES:
                    raise
                settle = max(RETRY_SETTLE_FACTOR * propagation.settle, RETRY_SETTLE_MINIMUM)
                log.warning(
                    "%s; the CA's resolvers see DNS later than the nameservers here: ordering "
                    "again and waiting %.0fs longer before answering (retry %d of %d)",
                    err,
                    settle,
                    attempt + 1,
                    VALIDATION_RETRIES,
                )

        # 7. Check what the CA sent before anyone stores it, and ask when the CA wants it
        #    renewed (RFC 9773 §4.2), so the next `renew` has its answer without asking.
        return self._verified(acme, profile, fullchain, key, names)

    def _dns_parts(self) -> tuple[DnsProvider, Propagation]:
        if self._dns is None or self._propagation is None:
            raise AcmecfError("dns-01 needs a DNS provider: configure Cloudflare credentials")
        return self._dns, self._propagation

    def _order(
        self,
        acme: Ordering,
        request: CertificateRequest,
        csr: bytes,
        targets: dict[str, str],
        zones: dict[str, str | None],
        settle: float | None,
    ) -> tuple[str, str | None]:
        """One order from creation to the downloaded chain (and the profile the CA put it
        under); its records are always removed."""
        dns, propagation = self._dns_parts()
        names = list(request.names)
        log.info("ordering a certificate for %s from %s", ", ".join(names), acme.server)
        order = acme.new_order(
            csr,
            replaces=request.replaces,
            profile=request.profile,
            preferred_profile=request.preferred_profile,
        )
        challenges: list[Challenge] = acme.pending_challenges(order)

        published: list[tuple[str, str]] = []
        try:
            # 3. Publish every TXT record (apex and wildcard put two values at one name); all
            #    at once where the provider takes several, so they can share one API call.
            records = [
                (targets.get(challenge.record_name) or challenge.record_name, challenge.value)
                for challenge in challenges
            ]
            publish(dns, records, published)
            expected = [ExpectedRecord(name, value, zones.get(name)) for name, value in records]
            if challenges:
                log.info("published %d TXT record(s)", len(published))

            # 4. Wait until every authoritative nameserver serves every value (and the settle
            #    time), then answer (RFC 8555 §8.4): answering early makes the CA fail the
            #    validation for good.
            propagation.wait(expected, timeout=request.propagation_timeout, settle=settle)
            deadline = self._clock() + request.validation_timeout
            for challenge in challenges:
                acme.answer(challenge)
            acme.wait_for_authorizations(order, deadline)
            if challenges:
                log.info("the CA validated %s", ", ".join(c.identifier for c in challenges))

            # 5. Finalize with the CSR and download the chain (RFC 8555 §7.4).
            fullchain = acme.finalize(order, csr, deadline, preferred_chain=request.preferred_chain)
            return fullchain, acme.profile_of(order)
        finally:
            # 6. Remove exactly the records this run created: on success, failure or Ctrl-C.
            self.remove_records(published)

    def _issue_persistent(self, request: CertificateRequest) -> IssuedCertificate:
        """dns-persist-01: the records stand already, so order, answer, finalize, verify; the
        DNS provider (and any Cloudflare credential) is never touched."""
        names = list(request.names)
        key, csr = _key_and_csr(request, names)
        acme = self._ordering()
        log.info(
            "ordering a certificate for %s from %s (dns-persist-01)", ", ".join(names), acme.server
        )
        order = acme.new_order(
            csr,
            replaces=request.replaces,
            profile=request.profile,
            preferred_profile=request.preferred_profile,
        )
        challenges = acme.persist_challenges(order)
        deadline = self._clock() + request.validation_timeout
        for challenge in challenges:
            acme.answer_persist(challenge)
        try:
            acme.wait_for_authorizations(order, deadline)
        except ValidationFailed as err:
            bases = sorted({name.removeprefix("*.") for name in names})
            raise ValidationFailed(
                f"{err}; `acmecf persist status {' '.join('-d ' + b for b in bases)}` says what "
                "is wrong with the record, `acmecf persist setup` publishes it",
                problem=err.problem,
            ) from err
        if challenges:
            log.info("the CA validated %s", ", ".join(c.identifier for c in challenges))
        fullchain = acme.finalize(order, csr, deadline, preferred_chain=request.preferred_chain)
        return self._verified(acme, acme.profile_of(order), fullchain, key, names)

    def _verified(
        self, acme: Ordering, profile: str | None, fullchain: str, key: Any, names: list[str]
    ) -> IssuedCertificate:
        chain = verify_chain(fullchain, key, names, issuer=f"the CA at {acme.server}")
        return IssuedCertificate(
            key_pem(key),
            chain,
            renewal_info_url=acme.renewal_info_url,
            renewal_info=self._renewal_info(acme, chain.leaf),
            profile=profile,
        )

    @staticmethod
    def _renewal_info(
        acme: Ordering, leaf: Any
    ) -> tuple[Mapping[str, Any], datetime.timedelta] | None:
        from acmecf.pki.chain import ari_certificate_id

        ari_id = ari_certificate_id(leaf) if acme.renewal_info_url else None
        if ari_id is None:
            return None
        try:
            return acme.renewal_info(ari_id)
        except AcmecfError as err:
            log.info("no renewal information from the CA yet (%s); renew asks later", err)
            return None

    def remove_records(self, records: list[tuple[str, str]]) -> None:
        """Delete every record, retrying failures with backoff for a bounded time. What still
        fails is logged and left in the journal for the next run; it never masks the error
        that got us here."""
        if self._dns is None:
            return  # dns-persist-01: this issuer publishes nothing
        pending = list(records)
        deadline = self._clock() + self._cleanup_patience
        pause = CLEANUP_FIRST_PAUSE
        while pending:
            failed = remove(self._dns, pending)
            if not failed:
                break
            if self._clock() + pause > deadline:
                for (name, _), problem in failed:
                    reason = str(problem) if isinstance(problem, AcmecfError) else repr(problem)
                    log.warning(
                        "could not remove TXT %s: %s (it is in the journal: the next acmecf "
                        "run removes it)",
                        name,
                        reason,
                    )
                    self.cleanup_report.left.append(name)
                return
            log.info(
                "could not remove %d TXT record(s) yet (%s): retrying in %.0fs",
                len(failed),
                failed[0][1],
                pause,
            )
            self._cleanup_sleep(pause)
            pause = min(pause * 2, 30.0)
            pending = [record for record, _ in failed]
        if records:
            log.debug("removed %d TXT record(s)", len(records))


def publish(
    dns: DnsProvider, records: list[tuple[str, str]], published: list[tuple[str, str]]
) -> None:
    """Create every record, adding to `published` each one that may exist (all but those
    refused outright); raise the first failure."""
    if isinstance(dns, ManyRecords):
        published.extend(records)
        outcomes = dns.present_many(records)
        for record, outcome in zip(records, outcomes, strict=True):
            if refused_outright(outcome):
                published.remove(record)  # nothing was created
        problem = next((outcome for outcome in outcomes if outcome is not None), None)
        if problem is not None:
            raise problem
        return
    for record in records:
        published.append(record)
        try:
            dns.present(*record)
        except CloudflareError as err:
            if refused_outright(err):
                published.pop()  # nothing was created
            raise


def remove(
    dns: DnsProvider, records: list[tuple[str, str]]
) -> list[tuple[tuple[str, str], Exception]]:
    """Try to delete every record (at once where the provider takes several); the ones that
    failed, with why. Never raises: cleanup must never mask the real error."""
    if isinstance(dns, ManyRecords):
        try:
            outcomes: list[Exception | None] = list(dns.cleanup_many(records))
        except Exception as err:
            outcomes = [err] * len(records)
        return [(r, o) for r, o in zip(records, outcomes, strict=True) if o is not None]
    failed: list[tuple[tuple[str, str], Exception]] = []
    for name, value in records:
        try:
            dns.cleanup(name, value)
        except Exception as err:
            failed.append(((name, value), err))
    return failed


def refused_outright(err: Exception | None) -> bool:
    """Whether the DNS API refused a record (4xx other than 429): then it was not created."""
    return (
        isinstance(err, CloudflareError)
        and err.status is not None
        and 400 <= err.status < 500
        and err.status != 429
    )


def _key_and_csr(request: CertificateRequest, names: list[str]) -> tuple[PrivateKey, bytes]:
    """The certificate's key (the kept one, `reuse_key_pem`, or a fresh one of `key_type`) and a
    CSR for it naming `names`. Raises CertificateError for a kept key that does not load."""
    key = (
        load_key(request.reuse_key_pem, "the key to reuse")
        if request.reuse_key_pem
        else generate_key(request.key_type)
    )
    return key, make_csr(key, names, must_staple=request.must_staple)
