"""Runs over stored certificates: obtain one (`acmecf issue`) or renew the due ones (`renew`).

For each certificate this builds its collaborators from the stored settings (one ACME session
per server, one Cloudflare client per set of credentials, one DNS checker per resolver setup,
each created on first use and shared for the run), runs the issuance narrative, records the
outcome in the certificate's state and runs its deploy hooks. A failure of one certificate is
recorded and reported; it never stops the others. This module does not parse options or print.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acmecf.errors import AcmecfError, Interrupted
from acmecf.hooks import HookError, certificate_environment, deploy_hooks, run_hook
from acmecf.renewal import (
    CertificateConfig,
    CertificateState,
    Decision,
    StoredCertificate,
    apply_renewal_info,
    decide,
)
from acmecf.store import Store

if TYPE_CHECKING:
    from acmecf.acme_client import AcmeSession
    from acmecf.cloudflare import CloudflareApi, CloudflareDns
    from acmecf.issue import IssuedCertificate
    from acmecf.origin_pull import ClientRenewal
    from acmecf.propagation import PropagationChecker

log = logging.getLogger(__name__)

UTC = datetime.UTC
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
DEFAULT_PARALLEL = 32

# The certificate a worker thread is busy with, so log lines of parallel runs can name it.
current_certificate: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_certificate", default=None
)


@dataclass(frozen=True)
class RunOptions:
    agree_tos: bool = False
    dry_run: bool = False
    run_deploy_hooks: bool = False  # in a dry run, deploy hooks run only when asked
    hook_timeout: float = 300.0
    parallel: int = DEFAULT_PARALLEL
    eab: tuple[str, str] | None = None  # External Account Binding (kid, HMAC key), first run


@dataclass
class Outcome:
    """How one certificate fared in a run."""

    cert_name: str
    issued: IssuedCertificate | None = None
    error: AcmecfError | None = None
    hook_errors: list[HookError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.hook_errors


class Services:
    """The collaborators of a run, created on first use and shared between certificates.

    Safe to share between worker threads: each thread gets its own ACME session (the acme
    library's nonce pool is not thread-safe), the first one per server opening under a lock
    so that an account is registered once. `cancel()` makes every wait in progress (DNS
    propagation, ACME polling) end with Interrupted, so workers clean up and stop; the
    Cloudflare calls that clean up are never cancelled.
    """

    def __init__(
        self,
        store: Store,
        environment: Mapping[str, str],
        options: RunOptions,
    ) -> None:
        self.store = store
        self.environment = environment
        self.options = options
        self._lock = threading.RLock()
        self._sessions = threading.local()
        self._cancelled = threading.Event()
        self.hook_lock = threading.Lock()
        self._apis: dict[str | None, CloudflareApi] = {}
        self._dns: dict[tuple[str | None, str | None], CloudflareDns] = {}
        self._propagation: dict[tuple[tuple[str, ...], int | None], PropagationChecker] = {}

    def acme(self, config: CertificateConfig) -> AcmeSession:
        """This thread's session with the certificate's CA."""
        server = self.server(config)
        sessions: dict[str, AcmeSession] = self._sessions.__dict__.setdefault("by_server", {})
        if server not in sessions:
            from acmecf.acme_client import AcmeSession

            with self._lock:
                sessions[server] = AcmeSession.open(
                    server,
                    self.store,
                    email=config.email,
                    agree_tos=self.options.agree_tos,
                    ca_bundle=config.ca_bundle,
                    eab=self.options.eab,
                    sleep=self.sleep,
                )
        return sessions[server]

    def sleep(self, seconds: float) -> None:
        """Wait, unless the run is cancelled: then raise Interrupted at once."""
        if self._cancelled.wait(seconds):
            raise Interrupted("interrupted; records created by this run were removed")

    def cancel(self) -> None:
        self._cancelled.set()

    def server(self, config: CertificateConfig) -> str:
        """The CA to use: in a dry run, Let's Encrypt staging instead of production."""
        if self.options.dry_run and config.server == LETSENCRYPT:
            return LETSENCRYPT_STAGING
        return config.server

    def cloudflare(self, config: CertificateConfig) -> CloudflareApi:
        """One API client, with one request budget, per set of credentials."""
        key = config.credentials_file
        with self._lock:
            return self._apis.get(key) or self._new_api(key)

    def _new_api(self, key: str | None) -> CloudflareApi:
        from pathlib import Path

        from acmecf.cloudflare import CloudflareApi, RequestBudget
        from acmecf.config import cloudflare_budget, load_credentials

        credentials = load_credentials(self.environment, Path(key) if key else None)
        limit, window = cloudflare_budget(self.environment)
        self._apis[key] = CloudflareApi(
            credentials,
            base_url=self.environment.get("CLOUDFLARE_BASE_URL") or None,
            budget=RequestBudget(limit, window),
        )
        return self._apis[key]

    def dns(self, config: CertificateConfig) -> CloudflareDns:
        key = (config.credentials_file, config.zone_id)
        with self._lock:
            if key in self._dns:
                return self._dns[key]
            from acmecf.cloudflare import CloudflareDns

            self._dns[key] = CloudflareDns(self.cloudflare(config), zone_id=config.zone_id)
            return self._dns[key]

    def propagation(self, config: CertificateConfig) -> PropagationChecker:
        key = (config.dns_resolvers, config.nameserver_port)
        with self._lock:
            if key in self._propagation:
                return self._propagation[key]
            from acmecf.config import parse_resolvers
            from acmecf.propagation import PropagationChecker

            self._propagation[key] = PropagationChecker(
                resolvers=parse_resolvers(config.dns_resolvers),
                nameserver_port=config.nameserver_port or 53,
                sleep=self.sleep,
            )
            return self._propagation[key]

    def cloudflare_api_calls(self) -> int:
        return sum(api.requests for api in self._apis.values())


def obtain(certificate: StoredCertificate, services: Services) -> Outcome:
    """Issue `certificate` now from its settings: save it, record the state, run deploy hooks.

    Never raises an AcmecfError: the outcome carries it, and the failure is recorded in the
    certificate's state (unless this is a dry run, which changes nothing on disk).
    """
    from acmecf.issue import IssueRequest, issue_certificate

    config, options = certificate.config, services.options
    outcome = Outcome(config.cert_name)
    now = datetime.datetime.now(UTC)
    renewal_info_url = None
    try:
        if config.issuer == "cloudflare-origin-ca":
            from acmecf.origin_ca import obtain_from_origin_ca

            issued = obtain_from_origin_ca(
                config, services.cloudflare(config), services.store, save=not options.dry_run
            )
        else:
            acme = services.acme(config)
            renewal_info_url = acme.renewal_info_url
            issued = issue_certificate(
                IssueRequest(
                    names=list(config.names),
                    cert_name=config.cert_name,
                    key_type=config.key_type,
                    propagation_timeout=config.propagation_timeout,
                    replaces=certificate.state.ari_id,
                    reuse_key_pem=_kept_key(config, services.store),
                    must_staple=config.must_staple,
                    profile=config.profile,
                    preferred_chain=config.preferred_chain,
                ),
                acme=acme,
                dns=services.dns(config),
                propagation=services.propagation(config),
                store=services.store,
                save=not options.dry_run,
            )
    except AcmecfError as err:
        outcome.error = err
        if not options.dry_run and services.store.renewal_path(config.cert_name).exists():
            state = dataclasses.replace(certificate.state, last_attempt=now, last_result=str(err))
            _save_quietly(services.store, StoredCertificate(config, state))
        if not options.dry_run and not isinstance(err, Interrupted):
            _run_failure_hooks(config, str(err), services, outcome)
        return outcome
    outcome.issued = issued
    if not options.dry_run:
        state = _state_after_issue(issued, renewal_info_url, now)
        services.store.save_renewal(StoredCertificate(config, state))
    if not options.dry_run or options.run_deploy_hooks:
        variables = certificate_environment(config.cert_name, config.names, issued.live.directory)
        # One hook at a time: parallel renewals must not reload a web server concurrently.
        with services.hook_lock:
            for hook in deploy_hooks(config.deploy_hooks, services.store.deploy_hooks_dir()):
                try:
                    run_hook(hook, variables, what="deploy hook", timeout=options.hook_timeout)
                except HookError as err:
                    outcome.hook_errors.append(err)
    return outcome


@dataclass
class RenewReport:
    outcomes: list[Outcome] = field(default_factory=list)
    not_due: list[tuple[str, Decision]] = field(default_factory=list)
    errors: list[tuple[str, AcmecfError]] = field(default_factory=list)  # before any order
    hook_errors: list[HookError] = field(default_factory=list)  # pre- and post-hooks
    client_renewals: list[ClientRenewal] = field(default_factory=list)  # origin-pull clients

    @property
    def ok(self) -> bool:
        return (
            all(o.ok for o in self.outcomes)
            and not self.errors
            and not self.hook_errors
            and all(c.error is None for c in self.client_renewals)
        )


@dataclass(frozen=True)
class RenewSelection:
    cert_names: Sequence[str] = ()
    days: float | None = None
    force: bool = False


def renew_due(
    store: Store,
    services_factory: Callable[[], Services],
    selection: RenewSelection,
    *,
    pre_hook: str | None = None,
    post_hook: str | None = None,
    random_sleep: float = 0.0,
    lock_wait: float = 10.0,
    on_outcome: Callable[[Outcome, int, int], None] = lambda outcome, done, total: None,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> RenewReport:
    """Renew every selected certificate that is due; leave the others alone.

    Deciding what is due reads only the certificates' own files: when nothing is due and no
    renewal information (ARI) is to be fetched, nothing else is touched, not even the lock.
    Due certificates are renewed by up to `options.parallel` workers at once, so that their
    DNS waits and CA validations overlap; `on_outcome(outcome, done, total)` is called, in
    this thread, as each one finishes.
    """
    report = RenewReport()
    states = store.certificate_states(selection.cert_names)
    decisions = {
        name: decide(state, now(), days=selection.days, force=selection.force)
        for name, state in states.items()
    }
    clients_due = _client_certificates_due(store, selection, now())
    if not clients_due and not any(d.due or d.ari_check_needed for d in decisions.values()):
        report.not_due = list(decisions.items())
        return report
    if random_sleep > 0:
        delay = random.uniform(0, random_sleep)
        log.info("sleeping %.0fs before renewing (--random-sleep)", delay)
        sleep(delay)
    services = services_factory()
    with store.lock(wait=lock_wait):
        # Another run may have renewed some while we waited for the lock: decide again.
        certificates = _select(store, selection)
        due: list[StoredCertificate] = []
        for certificate in certificates:
            certificate, decision = _check_renewal_info(
                certificate, services, selection, now, report
            )
            if decision.due:
                log.info("%s is due: %s", certificate.name, decision.reason)
                due.append(certificate)
            else:
                report.not_due.append((certificate.name, decision))
        if clients_due:
            report.client_renewals = _renew_client_certificates(store, services, selection, now())
        if not due:
            return report
        if pre_hook:
            try:
                run_hook_command(pre_hook, "pre-hook", services.options.hook_timeout)
            except HookError as err:
                report.hook_errors.append(err)
                return report  # the pre-hook prepares the renewal: without it, renew nothing
        try:
            for outcome in obtain_all(due, services):
                report.outcomes.append(outcome)
                on_outcome(outcome, len(report.outcomes), len(due))
        finally:
            if post_hook and report.outcomes:
                try:
                    run_hook_command(post_hook, "post-hook", services.options.hook_timeout)
                except HookError as err:
                    report.hook_errors.append(err)
    return report


def obtain_all(certificates: Sequence[StoredCertificate], services: Services) -> Iterator[Outcome]:
    """Obtain every certificate, up to `services.options.parallel` at once; yield each outcome
    as it finishes. Interrupted (Ctrl-C or SIGTERM in this thread), it cancels the queued ones,
    lets the running ones remove their records, and re-raises."""
    workers = max(1, min(services.options.parallel, len(certificates)))
    if workers == 1:
        for certificate in certificates:
            yield obtain(certificate, services)
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed

    def work(certificate: StoredCertificate) -> Outcome:
        current_certificate.set(certificate.name)
        return obtain(certificate, services)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acmecf")
    futures = [pool.submit(contextvars.copy_context().run, work, c) for c in certificates]
    try:
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        services.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_hook_command(command: str, what: str, timeout: float) -> None:
    from acmecf.hooks import Hook

    run_hook(Hook(command, shell=True), {}, what=what, timeout=timeout)


def _select(store: Store, selection: RenewSelection) -> list[StoredCertificate]:
    from acmecf.config import apply_environment

    if selection.cert_names:
        certificates = [store.load_certificate(name) for name in selection.cert_names]
    else:
        certificates = store.load_certificates()
    return [
        StoredCertificate(apply_environment(c.config, os.environ), c.state) for c in certificates
    ]


def _client_certificates_due(
    store: Store, selection: RenewSelection, now: datetime.datetime
) -> list[str]:
    """Zones whose own-CA origin-pull client certificate is due; cheap when there are none
    (the origin-pull module, and with it cryptography, is imported only if it has state)."""
    if selection.cert_names or not (store.config_dir / "origin-pull").is_dir():
        return []
    from acmecf.origin_pull import client_certificates_due

    if selection.force:
        from acmecf.origin_pull import OriginPullFiles

        return [s.zone_name for s in OriginPullFiles(store.config_dir).states() if s.uses_own_ca()]
    return client_certificates_due(store.config_dir, now)


def _renew_client_certificates(
    store: Store, services: Services, selection: RenewSelection, now: datetime.datetime
) -> list[ClientRenewal]:
    from acmecf.origin_pull import renew_client_certificates
    from acmecf.renewal import CertificateConfig

    if services.options.dry_run:
        return []

    def api_for(credentials_file: str | None) -> CloudflareApi:
        return services.cloudflare(
            CertificateConfig(cert_name="origin-pull", names=(), credentials_file=credentials_file)
        )

    return renew_client_certificates(store.config_dir, api_for, now=now, force=selection.force)


def _check_renewal_info(
    certificate: StoredCertificate,
    services: Services,
    selection: RenewSelection,
    now: Callable[[], datetime.datetime],
    report: RenewReport,
) -> tuple[StoredCertificate, Decision]:
    decision = decide(certificate.state, now(), days=selection.days, force=selection.force)
    state = certificate.state
    if decision.due or not decision.ari_check_needed or state.ari_id is None:
        return certificate, decision
    try:
        reply, retry_after = services.acme(certificate.config).renewal_info(state.ari_id)
        state = apply_renewal_info(state, reply, retry_after, now())
    except (AcmecfError, KeyError, ValueError) as err:
        # Without a window, fall back to the lifetime threshold and ask again in an hour.
        log.warning("%s: no renewal information from the CA (%s)", certificate.name, err)
        state = dataclasses.replace(state, ari_next_check=now() + datetime.timedelta(hours=1))
    certificate = StoredCertificate(certificate.config, state)
    if not services.options.dry_run:
        _save_quietly(services.store, certificate)
    decision = decide(certificate.state, now(), days=selection.days, force=selection.force)
    return certificate, decision


def _state_after_issue(
    issued: IssuedCertificate, renewal_info_url: str | None, now: datetime.datetime
) -> CertificateState:
    from acmecf.certificate import ari_certificate_id

    return CertificateState(
        not_before=issued.chain.not_before,
        not_after=issued.chain.not_after,
        ari_id=ari_certificate_id(issued.chain.leaf) if renewal_info_url else None,
        renewal_info_url=renewal_info_url,
        last_attempt=now,
        last_result="ok",
        last_success=now,
    )


def _kept_key(config: CertificateConfig, store: Store) -> bytes | None:
    """The live private key, when the certificate keeps its key across renewals (--reuse-key)."""
    from acmecf.certificate import key_type_of, load_key

    if not config.reuse_key:
        return None
    try:
        pem = store.live(config.cert_name).privkey.read_bytes()
    except FileNotFoundError:
        return None  # the first issuance makes the key that later ones keep
    except OSError as err:
        raise AcmecfError(
            f"cannot read the key to reuse ({err.strerror}): check {store.config_dir}"
        ) from err
    if key_type_of(load_key(pem)) != config.key_type:
        log.info(
            "%s: the key type changed to %s: making a new key", config.cert_name, config.key_type
        )
        return None
    return pem


def _run_failure_hooks(
    config: CertificateConfig, error: str, services: Services, outcome: Outcome
) -> None:
    """Tell someone: run the certificate's failure hooks with the error in the environment."""
    from acmecf.config import redact
    from acmecf.hooks import Hook

    variables = {
        "ACMECF_CERT_NAME": config.cert_name,
        "ACMECF_DOMAINS": " ".join(config.names),
        "ACMECF_ERROR": redact(error),
    }
    with services.hook_lock:
        for command in config.failure_hooks:
            try:
                run_hook(
                    Hook(command, shell=True),
                    variables,
                    what="failure hook",
                    timeout=services.options.hook_timeout,
                )
            except HookError as err:
                outcome.hook_errors.append(err)


def _save_quietly(store: Store, certificate: StoredCertificate) -> None:
    try:
        store.save_renewal(certificate)
    except AcmecfError as err:
        log.warning("could not record the state of %s: %s", certificate.name, err)


def environment() -> Mapping[str, str]:
    return os.environ
