"""Runs over stored certificates: renew the due ones, in parallel; obtain a batch.

Deciding what is due reads only the stored states (and, per certificate, which version is
live): when nothing is due, no renewal information is to be fetched, no version waits for its
hooks and the journal is empty, nothing else is touched, not even a lock. Otherwise the run
first removes the challenge records earlier runs left, finishes versions that went live
without their hooks, asks the CA for renewal information where it is time to, and renews what
is due with up to `parallel` workers, so that their DNS waits and CA validations overlap. A
failure of one certificate (a broken file, a refused order, a full disk) is reported and never
stops the others.

Does not: parse options or print (callbacks report as certificates finish).
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acmecf.errors import AcmecfError, CertificateNotFoundError, HookError
from acmecf.lifecycle.context import current_certificate
from acmecf.lifecycle.obtain import Outcome, deploy_pending, obtain, settle_superseded
from acmecf.lifecycle.schedule import Decision, apply_renewal_info, decide
from acmecf.lifecycle.services import Services
from acmecf.settings.table import environment_overrides, merge
from acmecf.storage.files import FileStore
from acmecf.storage.model import BrokenCertificate, CertificateState, StoredCertificate

if TYPE_CHECKING:
    from acmecf.origin.pulls import ClientRenewal

log = logging.getLogger(__name__)

UTC = datetime.UTC


@dataclass
class RenewReport:
    outcomes: list[Outcome] = field(default_factory=list)
    not_due: list[tuple[str, Decision]] = field(default_factory=list)
    errors: list[tuple[str, AcmecfError]] = field(default_factory=list)  # before any order
    hook_errors: list[HookError] = field(default_factory=list)  # pre- and post-hooks
    client_renewals: list[ClientRenewal] = field(default_factory=list)  # origin-pull clients
    leftovers_removed: int = 0
    records_left: list[str] = field(default_factory=list)  # challenge records still at the DNS

    @property
    def ok(self) -> bool:
        return (
            all(o.ok for o in self.outcomes)
            and not self.errors
            and not self.hook_errors
            and not self.records_left
            and all(c.error is None for c in self.client_renewals)
        )


@dataclass(frozen=True)
class RenewSelection:
    cert_names: Sequence[str] = ()
    days: float | None = None
    force: bool = False


def renew_due(
    store: FileStore,
    services_factory: Callable[[], Services],
    selection: RenewSelection,
    *,
    pre_hook: str | None = None,
    post_hook: str | None = None,
    random_sleep: float = 0.0,
    on_outcome: Callable[[Outcome, int, int], None] = lambda outcome, done, total: None,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> RenewReport:
    """Renew every selected certificate that is due; leave the others alone (module doc)."""
    report = RenewReport()
    states = store.states(selection.cert_names)
    decisions: dict[str, Decision] = {}
    pending: list[str] = []
    for name, state in states.items():
        if isinstance(state, BrokenCertificate):
            report.errors.append((name, AcmecfError(state.error)))
            continue
        decisions[name] = decide(state, now(), days=selection.days, force=selection.force)
        if _deploy_pending(store, name, state):
            pending.append(name)
    clients_due = _client_certificates_due(store, selection, now())
    nothing_to_do = not (
        clients_due or pending or any(d.due or d.ari_check_needed for d in decisions.values())
    )
    if nothing_to_do and store.journal.empty():
        report.not_due = list(decisions.items())
        return report
    store.prepare()  # a planted link or a foreign directory stops the run before any order
    services = services_factory()
    try:
        _renew(
            store,
            services,
            selection,
            decisions,
            pending,
            clients_due,
            report,
            now,
            pre_hook=pre_hook,
            post_hook=post_hook,
            on_outcome=on_outcome,
            random_sleep=random_sleep,
            sleep=sleep,
        )
    finally:
        services.close()
        report.records_left = list(services.cleanup_report.left)
    return report


def _renew(
    store: FileStore,
    services: Services,
    selection: RenewSelection,
    decisions: dict[str, Decision],
    pending: list[str],
    clients_due: list[str],
    report: RenewReport,
    now: Callable[[], datetime.datetime],
    *,
    pre_hook: str | None,
    post_hook: str | None,
    on_outcome: Callable[[Outcome, int, int], None],
    random_sleep: float,
    sleep: Callable[[float], None],
) -> None:
    from acmecf.lifecycle.leftovers import remove_leftovers

    report.leftovers_removed = remove_leftovers(services)
    for name in pending:
        finished = deploy_pending(name, services)
        if finished is not None:
            report.outcomes.append(finished)
            on_outcome(finished, len(report.outcomes), len(report.outcomes))
    due: list[tuple[StoredCertificate, Decision]] = []
    for name in sorted(decisions):
        decision = decisions[name]
        if not (decision.due or decision.ari_check_needed):
            report.not_due.append((name, decision))
            continue
        try:
            certificate = with_environment(store.load(name), services)
        except AcmecfError as err:
            report.errors.append((name, err))
            continue
        certificate, decision = _check_renewal_info(certificate, services, selection, now)
        if decision.due:
            log.info("%s is due: %s", certificate.name, decision.reason)
            due.append((certificate, decision))
        else:
            report.not_due.append((certificate.name, decision))
    if clients_due:
        report.client_renewals = _renew_client_certificates(store, services, selection, now())
    if not due:
        return
    if random_sleep > 0:  # only before orders: renewal information and cleanups go at once
        delay = random.uniform(0, random_sleep)
        log.info("sleeping %.0fs before renewing (--random-sleep)", delay)
        sleep(delay)
    if pre_hook and not _run_hook(pre_hook, "pre-hook", {}, services, report):
        return  # the pre-hook prepares the renewal: without it, renew nothing
    post_hook_ok = False
    try:
        for outcome in obtain_all(due, services, selection=selection, now=now):
            report.outcomes.append(outcome)
            on_outcome(outcome, len(report.outcomes), len(due) + len(pending))
    finally:
        if post_hook and any(o.version or o.error for o in report.outcomes):
            variables = post_hook_environment(report)
            post_hook_ok = _run_hook(post_hook, "post-hook", variables, services, report)
    for outcome in report.outcomes:
        reloaded = not outcome.hook_errors and (outcome.deploy_hooks_run > 0 or post_hook_ok)
        settle_superseded(outcome, services, reloaded=reloaded and not report.hook_errors)


def post_hook_environment(report: RenewReport) -> dict[str, str]:
    """What the post-hook learns of the run: the names of the certificates renewed and of
    those that failed (certbot's RENEWED_DOMAINS and FAILED_DOMAINS, space separated), and
    the same by certificate name (ACMECF_RENEWED, ACMECF_FAILED)."""
    renewed = [o for o in report.outcomes if o.version is not None]
    failed = [o for o in report.outcomes if o.version is None and o.error is not None]
    failed_names = [o.cert_name for o in failed] + [name for name, _ in report.errors]
    return {
        "RENEWED_DOMAINS": " ".join(name for o in renewed for name in o.names),
        "FAILED_DOMAINS": " ".join(name for o in failed for name in o.names),
        "ACMECF_RENEWED": " ".join(o.cert_name for o in renewed),
        "ACMECF_FAILED": " ".join(failed_names),
    }


def _run_hook(
    command: str,
    what: str,
    variables: dict[str, str],
    services: Services,
    report: RenewReport,
) -> bool:
    """Run a pre- or post-hook of the run; False (and the error in `report`) when it failed."""
    from acmecf.lifecycle.hooks import Hook, run_hook

    try:
        run_hook(
            Hook(command, shell=True), variables, what=what, timeout=services.options.hook_timeout
        )
    except HookError as err:
        report.hook_errors.append(err)
        return False
    return True


def with_environment(certificate: StoredCertificate, services: Services) -> StoredCertificate:
    """`certificate` with the settings the environment overrides (environment > stored)."""
    from acmecf.errors import SettingError, UsageError

    try:
        overrides = environment_overrides(services.environment)
    except SettingError as err:
        raise UsageError(f"invalid {err.key}: {err.problem}") from err
    return StoredCertificate(merge(certificate.settings, overrides), certificate.state)


def obtain_all(
    certificates: Sequence[tuple[StoredCertificate, Decision | None]],
    services: Services,
    *,
    selection: RenewSelection | None = None,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(UTC),
) -> Iterator[Outcome]:
    """Obtain every certificate, up to `services.options.parallel` at once, in worker threads
    (the calling thread stays free to handle signals); yield each outcome as it finishes.
    Interrupted (Ctrl-C or SIGTERM), the run is cancelled: queued certificates are skipped,
    running ones remove their records, and each yields its Interrupted outcome.

    With `selection`, each certificate is decided again once its lock is held (certmagic's
    rule): one that another run renewed meanwhile is skipped.
    """
    import queue
    from concurrent.futures import Future, ThreadPoolExecutor

    workers = max(1, min(services.options.parallel, len(certificates)))
    services.run_size += len(certificates)

    def work(certificate: StoredCertificate, decided: str | None) -> Outcome:
        if len(certificates) > 1:  # lines of one certificate need no name in front
            current_certificate.set(certificate.name)
        if services.cancelled:
            from acmecf.errors import Interrupted

            return Outcome(certificate.name, error=Interrupted("interrupted before it started"))
        if selection is None:  # `acmecf issue`: the settings given are the ones to keep
            outcome = obtain(certificate, services, now=now)
            # No post-hook follows: only a deploy hook can have reloaded the web server.
            reloaded = outcome.deploy_hooks_run > 0 and not outcome.hook_errors
            settle_superseded(outcome, services, reloaded=reloaded)
            return outcome
        recheck = _recheck(selection, decided, now)
        return obtain(certificate, services, recheck=recheck, store_settings=False, now=now)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acmecf")
    futures: set[Future[Outcome]] = set()
    # Finished futures arrive in a queue: waiting on the set of a thousand pending ones twice
    # a second would cost the main thread more than the workers' own bookkeeping.
    finished: queue.SimpleQueue[Future[Outcome]] = queue.SimpleQueue()
    try:
        for certificate, _ in certificates:
            future = pool.submit(
                contextvars.copy_context().run, work, certificate, certificate.state.version
            )
            future.add_done_callback(finished.put)
            futures.add(future)
        while futures:
            try:
                future = finished.get(timeout=0.5)  # a timeout, so signals are handled
            except queue.Empty:
                continue
            futures.discard(future)
            yield future.result()
    finally:
        if futures:  # left early (an exception in this thread): stop the workers' waits
            services.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _recheck(
    selection: RenewSelection, decided_version: str | None, now: Callable[[], datetime.datetime]
) -> Callable[[StoredCertificate], str | None]:
    decided_at = now()

    def recheck(certificate: StoredCertificate) -> str | None:
        state = certificate.state
        if state.version != decided_version:
            return "another acmecf run renewed it meanwhile"
        if state.last_attempt is not None and state.last_attempt > decided_at:
            # Another run (another origin of a fleet) tried while we waited for the lock and
            # failed: trying again at once would only spend the CA's failure limits.
            return f"another acmecf run tried it meanwhile and failed: {state.last_result}"
        decision = decide(certificate.state, now(), days=selection.days, force=selection.force)
        if not decision.due:
            return f"another acmecf run renewed it meanwhile ({decision.reason})"
        return None

    return recheck


def _deploy_pending(store: FileStore, name: str, state: CertificateState) -> bool:
    """Whether a version of `name` went live without its state or hooks being recorded."""
    if state.version is None and state.not_after is not None:
        return False  # recorded by an acmecf before versions were tracked: nothing pending
    try:
        live = store.live_version(name)
    except AcmecfError:
        return False  # reported when the certificate is loaded
    if live is None:
        return False
    return state.version != live or state.deployed_version != live


def _client_certificates_due(
    store: FileStore, selection: RenewSelection, now: datetime.datetime
) -> list[str]:
    """Zones whose own-CA origin-pull client certificate is due; cheap when there are none
    (the origin-pull module, and with it cryptography, is imported only if it has state)."""
    from acmecf.storage.origin_pulls import OriginPullFiles

    files = OriginPullFiles(store)
    if selection.cert_names or not files.exists():
        return []
    from acmecf.origin.pulls import client_certificates_due

    if selection.force:
        return [s.zone_name for s in files.states() if s.uses_own_ca()]
    return client_certificates_due(files, now)


def _renew_client_certificates(
    store: FileStore, services: Services, selection: RenewSelection, now: datetime.datetime
) -> list[ClientRenewal]:
    from acmecf.origin.pulls import DeployWait, renew_client_certificates
    from acmecf.storage.origin_pulls import OriginPullFiles

    if services.options.dry_run:
        return []
    return renew_client_certificates(
        OriginPullFiles(store),
        services.cloudflare,
        now=now,
        force=selection.force,
        wait=DeployWait(sleep=services.sleep),  # Ctrl-C and SIGTERM end the wait
    )


def _check_renewal_info(
    certificate: StoredCertificate,
    services: Services,
    selection: RenewSelection,
    now: Callable[[], datetime.datetime],
) -> tuple[StoredCertificate, Decision]:
    """Ask the CA's renewalInfo for a certificate whose Retry-After has passed (once per run),
    record the answer, and decide again with it."""
    from acmecf.errors import AcmeError
    from acmecf.lifecycle.schedule import renewal_info_unanswered, renewal_info_unusable

    decision = decide(certificate.state, now(), days=selection.days, force=selection.force)
    state = certificate.state
    if decision.due or not decision.ari_check_needed or state.ari_id is None:
        return certificate, decision
    try:
        reply, retry_after = services.acme(certificate.settings).renewal_info(state.ari_id)
    except AcmecfError as err:
        # No answer (the CA is down): keep the moment already picked, ask again later.
        wait = err.retry_after if isinstance(err, AcmeError) else None
        log.warning("%s: no renewal information from the CA (%s)", certificate.name, err)
        state = renewal_info_unanswered(
            state, datetime.timedelta(seconds=wait) if wait is not None else None, now()
        )
    else:
        try:
            state = apply_renewal_info(state, reply, retry_after, now())
        except (KeyError, ValueError, TypeError) as err:
            log.warning(
                "%s: the CA's renewal information is unusable (%s): renewing on acmecf's own "
                "schedule until it is readable again",
                certificate.name,
                err,
            )
            state = renewal_info_unusable(state, retry_after, now())
    certificate = StoredCertificate(certificate.settings, state)
    if not services.options.dry_run:
        _save_state_quietly(certificate, services)
    decision = decide(certificate.state, now(), days=selection.days, force=selection.force)
    return certificate, decision


def _save_state_quietly(certificate: StoredCertificate, services: Services) -> None:
    """Save the state of `certificate` (its stored settings, not the environment's)."""
    try:
        with services.store.lock(certificate.name, wait=services.options.lock_wait):
            stored = services.store.load(certificate.name)
            services.store.save(StoredCertificate(stored.settings, certificate.state))
    except (AcmecfError, CertificateNotFoundError) as err:
        log.warning("could not record the state of %s: %s", certificate.name, err)
