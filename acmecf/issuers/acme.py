"""Issuing one certificate from an ACME CA, in protocol order: the narrative of acmecf.

Find where each TXT record goes, new key and CSR, order, publish every record, wait until DNS
serves them all, answer the challenges, finalize, check the chain. The records this run
created are always removed, whether it succeeds, fails or is interrupted; a record that cannot
be removed (the DNS API is down) stays in the journal for the next run. This module does not
parse options, print, write files, or know the SDKs behind its collaborators.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from acmecf.dns.propagation import ExpectedRecord
from acmecf.dns.provider import DnsProvider, ManyRecords, ZoneFinder
from acmecf.errors import AcmecfError, CloudflareError
from acmecf.issuers.base import CertificateRequest, IssuedCertificate
from acmecf.names import challenge_name
from acmecf.pki.chain import verify_chain
from acmecf.pki.keys import generate_key, key_pem, load_key
from acmecf.pki.requests import make_csr
from acmecf.settings.table import ISSUER_ACME

log = logging.getLogger(__name__)

CLEANUP_PATIENCE = 180.0  # how long record removal is retried before it is left to the journal
CLEANUP_FIRST_PAUSE = 1.0


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

    def new_order(self, csr_pem: bytes, *, replaces: str | None, profile: str | None) -> Any: ...

    def pending_challenges(self, order: Any) -> list[Any]: ...

    def answer(self, challenge: Any) -> None: ...

    def wait_for_authorizations(self, order: Any, deadline: float) -> None: ...

    def finalize(
        self, order: Any, csr_pem: bytes, deadline: float, *, preferred_chain: str | None
    ) -> str: ...


class Propagation(Protocol):
    """What the narrative needs of DNS (dns.propagation.PropagationChecker)."""

    def follow_cname(self, name: str) -> str: ...

    def wait(self, records: list[ExpectedRecord], *, timeout: float) -> None: ...


@dataclass
class CleanupReport:
    """What the record removals of a run left behind (shared by its certificates)."""

    left: list[str] = field(default_factory=list)


class AcmeIssuer:
    """Certificates from the ACME CA `ordering()` connects to (opened only after the zones are
    found, so a bad Cloudflare token never costs an account registration), with DNS-01 records
    published through `dns` and awaited with `propagation`."""

    name = ISSUER_ACME

    def __init__(
        self,
        ordering: Callable[[], Ordering],
        dns: DnsProvider,
        propagation: Propagation,
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
        names = list(request.names)

        # 1. Where does each challenge record go? Follow _acme-challenge CNAMEs (delegated
        #    validation) and find the DNS zone of each target before anything is ordered.
        targets: dict[str, str] = {}
        zones: dict[str, str | None] = {}
        for name in names:
            record_name = challenge_name(name)
            if record_name not in targets:
                target = self._propagation.follow_cname(record_name)
                if target != record_name:
                    log.info("%s is delegated to %s", record_name, target)
                targets[record_name] = target
                if isinstance(self._dns, ZoneFinder):
                    zones[target] = self._dns.zone_for(target).name

        # 2. A fresh key (or the kept one) and a CSR naming every name; order the certificate
        #    (RFC 8555 §7.4).
        key = (
            load_key(request.reuse_key_pem, "the key to reuse")
            if request.reuse_key_pem
            else generate_key(request.key_type)
        )
        csr = make_csr(key, names, must_staple=request.must_staple)
        acme = self._ordering()
        log.info("ordering a certificate for %s from %s", ", ".join(names), acme.server)
        order = acme.new_order(csr, replaces=request.replaces, profile=request.profile)
        challenges: list[Challenge] = acme.pending_challenges(order)

        published: list[tuple[str, str]] = []
        try:
            # 3. Publish every TXT record (apex and wildcard put two values at one name); all
            #    at once where the provider takes several, so they can share one API call.
            records = [
                (targets.get(challenge.record_name) or challenge.record_name, challenge.value)
                for challenge in challenges
            ]
            self._publish(records, published)
            expected = [ExpectedRecord(name, value, zones.get(name)) for name, value in records]
            if challenges:
                log.info("published %d TXT record(s)", len(published))

            # 4. Wait until every authoritative nameserver serves every value, then answer
            #    (RFC 8555 §8.4): answering early makes the CA fail the validation for good.
            self._propagation.wait(expected, timeout=request.propagation_timeout)
            deadline = self._clock() + request.validation_timeout
            for challenge in challenges:
                acme.answer(challenge)
            acme.wait_for_authorizations(order, deadline)
            if challenges:
                log.info("the CA validated %s", ", ".join(c.identifier for c in challenges))

            # 5. Finalize with the CSR and download the chain (RFC 8555 §7.4).
            fullchain = acme.finalize(order, csr, deadline, preferred_chain=request.preferred_chain)
        finally:
            # 6. Remove exactly the records this run created: on success, failure or Ctrl-C.
            self.remove_records(published)

        # 7. Check what the CA sent before anyone stores it.
        chain = verify_chain(fullchain, key, names, issuer=f"the CA at {acme.server}")
        return IssuedCertificate(key_pem(key), chain, renewal_info_url=acme.renewal_info_url)

    def _publish(self, records: list[tuple[str, str]], published: list[tuple[str, str]]) -> None:
        """Create every record, adding to `published` each one that may exist (all but those
        refused outright); raise the first failure."""
        if isinstance(self._dns, ManyRecords):
            published.extend(records)
            outcomes = self._dns.present_many(records)
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
                self._dns.present(*record)
            except CloudflareError as err:
                if refused_outright(err):
                    published.pop()  # nothing was created
                raise

    def remove_records(self, records: list[tuple[str, str]]) -> None:
        """Delete every record, retrying failures with backoff for a bounded time. What still
        fails is logged and left in the journal for the next run; it never masks the error
        that got us here."""
        pending = list(records)
        deadline = self._clock() + self._cleanup_patience
        pause = CLEANUP_FIRST_PAUSE
        while pending:
            failed = self._remove(pending)
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

    def _remove(self, records: list[tuple[str, str]]) -> list[tuple[tuple[str, str], Exception]]:
        """Try to delete every record (at once where the provider takes several); the ones that
        failed, with why. Never raises: cleanup must never mask the real error."""
        failed: list[tuple[tuple[str, str], Exception]] = []
        if isinstance(self._dns, ManyRecords):
            try:
                outcomes: list[Exception | None] = list(self._dns.cleanup_many(records))
            except Exception as err:
                outcomes = [err] * len(records)
            return [(r, o) for r, o in zip(records, outcomes, strict=True) if o is not None]
        for name, value in records:
            try:
                self._dns.cleanup(name, value)
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
