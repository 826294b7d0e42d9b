"""Issuing one certificate, in protocol order: the narrative of acmecf.

New key and CSR, find where each TXT record goes, order, publish every record, wait until DNS
serves them all, answer the challenges, finalize, check the chain, save. The records this run
created are always removed, whether it succeeds, fails or is interrupted. This module does not
parse options, print, or know the SDKs behind its collaborators.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from acmecf.certificate import Chain, generate_key, key_pem, load_key, make_csr, verify_chain
from acmecf.cloudflare import RecordReceipt, Zone
from acmecf.errors import AcmecfError
from acmecf.names import challenge_name
from acmecf.propagation import ExpectedRecord, PropagationChecker
from acmecf.store import LivePaths, Store

if TYPE_CHECKING:
    from acmecf.acme_client import AcmeSession

log = logging.getLogger(__name__)


class DnsProvider(Protocol):
    """Publishes TXT records: `present` creates one and returns a receipt, `cleanup` removes it.

    `zone_for` raises when no zone of the provider holds the name, before anything is created.
    `provisional_receipt` is filed before `present`, so `cleanup` can remove a record whose
    creation was interrupted before its receipt came back.
    """

    def zone_for(self, fqdn: str) -> Zone: ...

    def provisional_receipt(self, fqdn: str, value: str) -> RecordReceipt: ...

    def present(self, fqdn: str, value: str) -> RecordReceipt: ...

    def cleanup(self, receipt: RecordReceipt) -> None: ...


@dataclass(frozen=True)
class IssueRequest:
    names: list[str]
    cert_name: str
    key_type: str
    propagation_timeout: float = 180.0
    validation_timeout: float = 300.0
    replaces: str | None = None  # ARI id of the certificate this one renews (RFC 9773 §5)
    reuse_key_pem: bytes | None = None  # keep this private key instead of making a new one
    must_staple: bool = False
    profile: str | None = None
    preferred_chain: str | None = None


@dataclass(frozen=True)
class IssuedCertificate:
    cert_name: str
    names: list[str]
    chain: Chain
    version_dir: Path | None  # None in a dry run: nothing was written
    live: LivePaths


def issue_certificate(
    request: IssueRequest,
    *,
    acme: AcmeSession,
    dns: DnsProvider,
    propagation: PropagationChecker,
    store: Store,
    save: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> IssuedCertificate:
    """Obtain a certificate for `request.names` and make it live under `request.cert_name`.

    With `save` false (a dry run) every step runs and the chain is checked, but nothing is
    written. Raises an AcmecfError subclass on any failure; the live files are then unchanged
    and no TXT record created by this call remains.
    """
    names = request.names

    # 1. Where does each challenge record go? Follow _acme-challenge CNAMEs (delegated
    #    validation) and find the Cloudflare zone of each target before anything is ordered.
    targets: dict[str, str] = {}
    zones: dict[str, str | None] = {}
    for name in names:
        record_name = challenge_name(name)
        if record_name not in targets:
            target = propagation.follow_cname(record_name)
            if target != record_name:
                log.info("%s is delegated to %s", record_name, target)
            targets[record_name] = target
            zones[target] = dns.zone_for(target).name

    # 2. A fresh key (or the kept one) and a CSR naming every name; order the certificate
    #    (RFC 8555 §7.4).
    key = (
        load_key(request.reuse_key_pem) if request.reuse_key_pem else generate_key(request.key_type)
    )
    csr = make_csr(key, names, must_staple=request.must_staple)
    log.info("ordering a certificate for %s from %s", ", ".join(names), acme.server)
    order = acme.new_order(csr, replaces=request.replaces, profile=request.profile)
    challenges = acme.pending_challenges(order)

    receipts: list[RecordReceipt] = []
    try:
        # 3. Publish every TXT record (apex and wildcard put two values at one name).
        expected: list[ExpectedRecord] = []
        for challenge in challenges:
            target = targets.get(challenge.record_name) or challenge.record_name
            # File a provisional receipt first: interrupted mid-create, the record still goes.
            receipts.append(dns.provisional_receipt(target, challenge.value))
            receipts[-1] = dns.present(target, challenge.value)
            expected.append(ExpectedRecord(target, challenge.value, zones.get(target)))
        if challenges:
            log.info("published %d TXT record(s) through Cloudflare", len(receipts))

        # 4. Wait until every authoritative nameserver serves every value, then answer
        #    (RFC 8555 §8.4): answering early makes the CA fail the validation for good.
        propagation.wait(expected, timeout=request.propagation_timeout)
        deadline = clock() + request.validation_timeout
        for challenge in challenges:
            acme.answer(challenge)
        acme.wait_for_authorizations(order, deadline)
        if challenges:
            log.info("the CA validated %s", ", ".join(c.identifier for c in challenges))

        # 5. Finalize with the CSR and download the chain (RFC 8555 §7.4).
        fullchain = acme.finalize(order, csr, deadline, preferred_chain=request.preferred_chain)
    finally:
        # 6. Remove exactly the records this run created: on success, failure or Ctrl-C.
        remove_records(dns, receipts)

    # 7. Check what the CA sent, then switch key and certificate together.
    chain = verify_chain(fullchain, key, names)
    live = store.live(request.cert_name)
    if not save:
        log.info("dry run: the certificate checks out; nothing was written")
        return IssuedCertificate(request.cert_name, names, chain, None, live)
    version = store.save_certificate(
        request.cert_name,
        cert=chain.cert_pem,
        chain=chain.chain_pem,
        fullchain=chain.fullchain_pem,
        privkey=key_pem(key),
    )
    return IssuedCertificate(request.cert_name, names, chain, version, live)


def remove_records(dns: DnsProvider, receipts: list[RecordReceipt]) -> None:
    """Delete every record; a failure is logged and never masks the error that got us here."""
    failed = 0
    for receipt in receipts:
        try:
            dns.cleanup(receipt)
        except AcmecfError as err:
            failed += 1
            log.warning("could not remove TXT %s: %s (delete it by hand)", receipt.name, err)
        except Exception as err:
            failed += 1
            log.warning("could not remove TXT %s: %r (delete it by hand)", receipt.name, err)
    if receipts and not failed:
        log.debug("removed %d TXT record(s)", len(receipts))


__all__ = ["DnsProvider", "IssueRequest", "IssuedCertificate", "issue_certificate"]
