"""The collaborators of one run, created on first use and shared between its certificates.

One ACME session per server and thread (the acme library's nonce pool is not thread-safe; the
first one per server opens alone so an account is registered once, the others then open in
parallel, and all share one pacer, so a Retry-After from the CA holds every worker back), one
Cloudflare client per set of credentials (all within one request budget), one DNS checker per
DNS setup, and the run's journal of challenge records. `cancel()` makes every wait in progress
(DNS propagation, ACME polling, the budget) end with Interrupted so workers clean up and stop;
record removal itself is never cancelled.

Does not: decide what is due, store certificates or print.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from acmecf.errors import Interrupted
from acmecf.settings.table import (
    ISSUER_ORIGIN_CA,
    LETSENCRYPT,
    LETSENCRYPT_STAGING,
    CertificateSettings,
)
from acmecf.storage.files import FileStore

if TYPE_CHECKING:
    from acmecf.acme.client import AcmeSession
    from acmecf.acme.network import Pacer
    from acmecf.cloudflare.api import CloudflareApi
    from acmecf.cloudflare.budget import RequestBudget
    from acmecf.cloudflare.dns import CloudflareDns
    from acmecf.cloudflare.zones import CloudflareZones
    from acmecf.dns.batching import BatchingProvider
    from acmecf.dns.journaled import JournaledProvider
    from acmecf.dns.propagation import PropagationChecker
    from acmecf.dns.provider import DnsProvider
    from acmecf.errors import HookError
    from acmecf.issuers.acme import CleanupReport
    from acmecf.issuers.base import Issuer
    from acmecf.lifecycle.obtain import Outcome
    from acmecf.storage.file_journal import FileRunJournal
    from acmecf.storage.model import StoredCertificate

log = logging.getLogger(__name__)

DEFAULT_PARALLEL = 32


@dataclass(frozen=True)
class RunOptions:
    agree_tos: bool = False
    dry_run: bool = False
    run_deploy_hooks: bool = False  # in a dry run, deploy hooks run only when asked
    hook_timeout: float = 300.0
    parallel: int = DEFAULT_PARALLEL
    eab: tuple[str, str] | None = None  # External Account Binding (kid, HMAC key), first run
    lock_wait: float = 10.0


class Services:
    """The run's collaborators. Safe to share between worker threads."""

    def __init__(
        self,
        store: FileStore,
        environment: Mapping[str, str],
        options: RunOptions,
    ) -> None:
        self.store = store
        self.local = store  # where live files and hooks are (the same store, on one machine)
        self.environment = environment
        self.options = options
        from acmecf.issuers.acme import CleanupReport  # not for a run with nothing to do

        self.cleanup_report: CleanupReport = CleanupReport()
        self.hook_lock = threading.Lock()
        self.published: list[str] = []  # certificates that went live in this run
        self.run_size = 0  # certificates this run obtains (set by lifecycle.renew.obtain_all)
        # With a shared store: brings a new live version into this origin's live files, then
        # runs the deploy hooks (lifecycle.sync.join_fleet sets it).
        self.deploy_here: Callable[[StoredCertificate, Outcome | None], list[HookError]] | None = (
            None
        )
        self._lock = threading.RLock()
        self._sessions = threading.local()
        self._cancelled = threading.Event()
        self._pacers: dict[str, Pacer] = {}
        self._first_session: dict[str, threading.Lock] = {}
        self._accounts_ready: set[str] = set()
        self._apis: dict[str | None, CloudflareApi] = {}
        self._budget: RequestBudget | None = None
        self._zones: dict[str | None, CloudflareZones] = {}
        self._dns: dict[tuple[str | None, str | None], JournaledProvider] = {}
        self._batching: list[BatchingProvider] = []
        self._propagation: dict[tuple[object, ...], PropagationChecker] = {}
        self._journal: FileRunJournal | None = None

    # --- cancellation ----------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Wait, unless the run is cancelled: then raise Interrupted at once."""
        if self._cancelled.wait(max(0.0, seconds)):
            raise Interrupted("interrupted")

    def cancel(self) -> None:
        self._cancelled.set()
        for batching in list(self._batching):  # changes waiting for company go at once
            batching.wake()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    # --- the CA ----------------------------------------------------------------------------

    def server(self, settings: CertificateSettings) -> str:
        """The CA to use: in a dry run, Let's Encrypt staging instead of production."""
        if self.options.dry_run and settings.server == LETSENCRYPT:
            return LETSENCRYPT_STAGING
        return settings.server

    def acme(self, settings: CertificateSettings) -> AcmeSession:
        """This thread's session with the certificate's CA."""
        from acmecf.acme.accounts import open_session
        from acmecf.acme.network import Pacer

        server = self.server(settings)
        sessions: dict[str, AcmeSession] = self._sessions.__dict__.setdefault("by_server", {})
        if server not in sessions:
            with self._lock:
                pacer = self._pacers.setdefault(server, Pacer(sleep=self.sleep))
                first = self._first_session.setdefault(server, threading.Lock())

            def connect() -> AcmeSession:
                return open_session(
                    server,
                    self.store,
                    email=settings.email,
                    agree_tos=self.options.agree_tos,
                    ca_bundle=settings.ca_bundle,
                    eab=self.options.eab,
                    pacer=pacer,
                    sleep=self.sleep,
                )

            if server not in self._accounts_ready:  # it may register the account: one at a time
                with first:
                    if server not in self._accounts_ready:
                        sessions[server] = connect()
                        self._accounts_ready.add(server)
            if server not in sessions:  # the account exists: the others open in parallel
                sessions[server] = connect()
        return sessions[server]

    # --- Cloudflare ------------------------------------------------------------------------

    def cloudflare(self, credentials_file: str | None) -> CloudflareApi:
        """One API client per set of credentials, all within one request budget (Cloudflare
        counts per user, and a token does not say whose it is: cloudflare.budget)."""
        with self._lock:
            if credentials_file not in self._apis:
                from acmecf.cloudflare.api import CloudflareApi
                from acmecf.cloudflare.budget import RequestBudget, budget_from_environment
                from acmecf.cloudflare.credentials import load_credentials

                credentials = load_credentials(
                    self.environment, Path(credentials_file) if credentials_file else None
                )
                if self._budget is None:
                    limit, window = budget_from_environment(self.environment)
                    self._budget = RequestBudget(limit, window, sleep=self.sleep)
                self._apis[credentials_file] = CloudflareApi(
                    credentials,
                    base_url=self.environment.get("CLOUDFLARE_BASE_URL") or None,
                    budget=self._budget,
                )
            return self._apis[credentials_file]

    def zones(self, credentials_file: str | None) -> CloudflareZones:
        with self._lock:
            if credentials_file not in self._zones:
                from acmecf.cloudflare.zones import CloudflareZones

                self._zones[credentials_file] = CloudflareZones(self.cloudflare(credentials_file))
            return self._zones[credentials_file]

    def cloudflare_dns(
        self,
        credentials_file: str | None,
        zone_id: str | None = None,
        *,
        batch_limit: int | None = None,
    ) -> CloudflareDns:
        from acmecf.cloudflare.dns import CloudflareDns

        return CloudflareDns(
            self.cloudflare(credentials_file),
            zones=self.zones(credentials_file),
            zone_id=zone_id,
            batch_limit=batch_limit,
        )

    def dns(self, settings: CertificateSettings) -> JournaledProvider:
        """The certificate's DNS provider, every record journaled before it is created; the
        changes of concurrent certificates gathered into batch calls unless ACMECF_DNS_BATCH
        is off (dns.batching)."""
        key = (settings.credentials_file, settings.zone_id)
        with self._lock:
            if key not in self._dns:
                from acmecf.dns.batching import BatchingProvider, batch_options_from_environment
                from acmecf.dns.journaled import JournaledProvider

                batching = batch_options_from_environment(self.environment)
                cloudflare = self.cloudflare_dns(
                    settings.credentials_file, settings.zone_id, batch_limit=batching.limit
                )
                provider: DnsProvider = cloudflare
                if batching.enabled:
                    gathering = BatchingProvider(
                        cloudflare,
                        linger=batching.linger,
                        run_size=lambda: self.run_size,
                        hurry=lambda: self.cancelled,
                    )
                    self._batching.append(gathering)
                    provider = gathering
                self._dns[key] = JournaledProvider(
                    provider, self.journal(), settings.credentials_file
                )
            return self._dns[key]

    def journal(self) -> FileRunJournal:
        with self._lock:
            if self._journal is None:
                self._journal = self.store.journal.open_run()
            return self._journal

    def cloudflare_api_calls(self) -> int:
        return sum(api.requests for api in self._apis.values())

    # --- DNS and issuers -------------------------------------------------------------------

    def propagation(self, settings: CertificateSettings) -> PropagationChecker:
        key = (
            settings.dns_resolvers,
            settings.nameserver_port,
            settings.dns_check,
            settings.propagation_settle,
            settings.propagation_delay,
        )
        with self._lock:
            if key not in self._propagation:
                from acmecf.dns.propagation import PropagationChecker
                from acmecf.settings.values import parse_resolvers

                self._propagation[key] = PropagationChecker(
                    resolvers=parse_resolvers(settings.dns_resolvers),
                    nameserver_port=settings.nameserver_port or 53,
                    check=settings.dns_check,
                    settle=settings.propagation_settle,
                    fixed_delay=settings.propagation_delay,
                    sleep=self.sleep,
                )
            return self._propagation[key]

    def issuer(self, settings: CertificateSettings) -> Issuer:
        """Who signs this certificate, as its settings say."""
        if settings.issuer == ISSUER_ORIGIN_CA:
            from acmecf.cloudflare.origin_ca import CloudflareOriginCA
            from acmecf.issuers.origin_ca import OriginCaIssuer

            return OriginCaIssuer(
                CloudflareOriginCA(self.cloudflare(settings.credentials_file)),
                dry_run=self.options.dry_run,
                validity_days=settings.origin_ca_validity,
            )
        from acmecf.acme.orders import Orders
        from acmecf.issuers.acme import AcmeIssuer
        from acmecf.settings.table import CHALLENGE_DNS_PERSIST_01

        # dns-persist-01 relies on records published beforehand: no DNS provider, so no
        # Cloudflare credentials are read at all.
        persistent = settings.challenge == CHALLENGE_DNS_PERSIST_01
        return AcmeIssuer(
            lambda: Orders(self.acme(settings)),
            None if persistent else self.dns(settings),
            None if persistent else self.propagation(settings),
            cleanup_report=self.cleanup_report,
            cleanup_patience=self.cleanup_patience(),
        )

    def cleanup_patience(self) -> float:
        """How long failing record removals are retried before they are left to the journal:
        3 minutes, or ACMECF_CLEANUP_PATIENCE seconds."""
        from acmecf.errors import UsageError
        from acmecf.issuers.acme import CLEANUP_PATIENCE
        from acmecf.settings.values import parse_duration

        text = self.environment.get("ACMECF_CLEANUP_PATIENCE", "").strip()
        if not text:
            return CLEANUP_PATIENCE
        try:
            return parse_duration(text)
        except ValueError as err:
            raise UsageError(f"invalid ACMECF_CLEANUP_PATIENCE: {err}") from err

    def close(self) -> None:
        """End the run: close its journal (records it could not remove stay in it)."""
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None
