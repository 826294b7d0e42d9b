"""Every origin in step: the fleet's live version of each certificate, in this origin's live/.

For each certificate the shared store has, `sync_all` compares the live pointer's digest with
this origin's live files (a read of local files; nothing is decrypted while they match). When
they differ, it fetches the live version (its key decrypted with the fleet key), writes it
into the local layout as one new version switched in one atomic step (FileStore.publish: the
same files and links as on one machine, so web server configuration does not change), runs
the local deploy hooks, and records in the store which version this origin now serves. Hooks
also run when the files match but no record says they ran for this version here (a sync that
died between the two). A failure (etcd unreachable, a full disk) leaves the local files as
they were, still served, and the next run catches up; so does an origin that was down.

The renewing origin goes through the same step (`join_fleet` makes obtain's deploy step call
it), so its hooks run once, after its own live files changed. `watch` keeps an origin in step
as a service: see its docstring for why it polls.

Does not: order or renew anything; remove local files of certificates the store no longer
has (web servers may still point at them).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from acmecf.errors import AcmecfError, DeployError, HookError
from acmecf.lifecycle.obtain import Outcome, run_deploy_hooks
from acmecf.lifecycle.services import Services
from acmecf.storage.fleet import FleetStore
from acmecf.storage.model import (
    CertificateMaterial,
    OriginSync,
    StoredCertificate,
    material_digest,
)

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0
FULL_SYNC_EVERY = 300.0  # a full comparison now and then heals what a missed change left


@dataclass
class SyncOutcome:
    """How one certificate's sync went: the fleet's live `version`; `changed` when this
    origin's live files were switched to it; `hooks_ran` when its deploy hooks ran."""

    name: str
    version: str | None = None
    changed: bool = False
    hooks_ran: bool = False
    hook_errors: list[HookError] = field(default_factory=list)
    error: AcmecfError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.hook_errors


@dataclass
class SyncReport:
    outcomes: list[SyncOutcome] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # asked for, but not in the store

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes) and not self.unknown


def sync_all(store: FleetStore, services: Services, names: Sequence[str] = ()) -> SyncReport:
    """Bring every certificate (or those of `names`) of the store in step on this origin.
    Two reads of etcd when nothing changed; raises EtcdError when etcd cannot be read (the
    local files are then untouched)."""
    pointers = store.shared.live_pointers()
    records = {record.name: record for record in store.shared.synced(store.shared.origin)}
    report = SyncReport()
    wanted = list(names) if names else sorted(pointers)
    for name in wanted:
        if name not in pointers:
            if names:
                report.unknown.append(name)
            continue
        version, digest, _ = pointers[name]
        report.outcomes.append(
            sync_certificate(
                store, name, services, pointer=(version, digest), record=records.get(name)
            )
        )
    return report


def sync_certificate(
    store: FleetStore,
    name: str,
    services: Services,
    *,
    certificate: StoredCertificate | None = None,
    pointer: tuple[str, str] | None = None,
    record: OriginSync | None = None,
    lookup_record: bool = False,
    counting: Outcome | None = None,
) -> SyncOutcome:
    """Bring `name` in step on this origin (module doc); never raises an AcmecfError (the
    outcome carries it). `certificate` gives the settings whose files are written and whose
    deploy hooks run (default: the stored ones, with the environment's overrides); `pointer`
    and `record` what the caller already read; `counting` a run's outcome that counts the
    hooks run."""
    outcome = SyncOutcome(name)
    try:
        # One sync of a certificate at a time on this machine (the watch service and a renew).
        with store.local.lock(name, wait=services.options.hook_timeout + 30):
            _sync_locked(
                store,
                name,
                services,
                outcome,
                certificate,
                pointer,
                record,
                lookup_record,
                counting,
            )
    except AcmecfError as err:
        outcome.error = err
    return outcome


def _sync_locked(
    store: FleetStore,
    name: str,
    services: Services,
    outcome: SyncOutcome,
    certificate: StoredCertificate | None,
    pointer: tuple[str, str] | None,
    record: OriginSync | None,
    lookup_record: bool,
    counting: Outcome | None,
) -> None:
    shared = store.shared
    if pointer is None:
        pointers = shared.live_pointers()
        if name not in pointers:
            return
        pointer = pointers[name][:2]
    if lookup_record:
        record = next((r for r in shared.synced(shared.origin) if r.name == name), None)
    version, digest = pointer
    outcome.version = version
    here = store.local.live(name)
    in_step = here is not None and material_digest(here.material) == digest
    if in_step and record is not None and (record.version, record.digest) == (version, digest):
        return  # in step, and its hooks ran
    if certificate is None:
        from acmecf.lifecycle.renew import with_environment

        certificate = with_environment(shared.load(name), services)
    if not in_step:
        live = shared.live(name)
        if live is None:
            return  # deleted meanwhile
        version, digest = live.version, material_digest(live.material)
        outcome.version = version
        _write_here(store, name, version, live.material, certificate)
        outcome.changed = True
    outcome.hook_errors += run_deploy_hooks(certificate, services, counting)
    outcome.hooks_ran = True
    from acmecf.redaction import redact

    result = "ok" if not outcome.hook_errors else redact(str(outcome.hook_errors[0]))
    shared.record_sync(name, version, digest, result)


def _write_here(
    store: FleetStore,
    name: str,
    version: str,
    material: CertificateMaterial,
    certificate: StoredCertificate,
) -> None:
    """Write `version` into this origin's live files, with the extra files its settings ask
    for (combined.pem, cert.p12, a key group of this machine), then prune old local ones."""
    from acmecf.lifecycle.outputs import output_files, plan_outputs

    settings = certificate.settings
    try:
        store.local.check_free_space()
        files = output_files(
            plan_outputs(settings), name, material.privkey, material.cert, material.chain
        )
        local_version = store.local.publish(name, material, files)
    except AcmecfError as err:
        raise DeployError(
            f"this origin's live files of {name} were not switched to version {version} "
            f"({err}); they still hold the previous one: `acmecf sync` tries again"
        ) from err
    log.info("%s: version %s is live here (local version %s)", name, version, local_version)
    try:
        store.local.prune(name, settings.keep_versions)
    except AcmecfError as err:
        log.warning("%s: old versions here were not removed: %s", name, err)


def join_fleet(services: Services) -> None:
    """Wire a run's services to the shared store when there is one: waiting for a lock lasts
    while another origin may be renewing (the store's lock_wait), and the deploy step of
    obtain (a new version, or one that went live without its hooks) first brings the version
    into this origin's live files, through `sync_certificate`. A no-op on one machine."""
    store = services.store
    if not isinstance(store, FleetStore):
        return
    services.options = dataclasses.replace(
        services.options, lock_wait=max(services.options.lock_wait, store.lock_wait)
    )

    def deploy_here(certificate: StoredCertificate, counting: Outcome | None) -> list[HookError]:
        if counting is not None and counting.superseded is not None:
            # Other origins serve the certificate it replaces until they sync: revoking it now
            # would make Cloudflare refuse them.
            log.warning(
                "%s: the Origin CA certificate it replaces (%s) was left valid, as other "
                "origins may still serve it; revoke it in the dashboard once `acmecf list` "
                "shows every origin on the new version",
                certificate.name,
                counting.superseded.serial,
            )
            counting.superseded = None
        outcome = sync_certificate(
            store,
            certificate.name,
            services,
            certificate=certificate,
            lookup_record=True,
            counting=counting,
        )
        errors = list(outcome.hook_errors)
        if outcome.error is not None:
            errors.append(
                outcome.error
                if isinstance(outcome.error, HookError)
                else DeployError(
                    f"this origin's live files were not updated ({outcome.error}): "
                    "`acmecf sync` tries again"
                )
            )
        return errors

    services.deploy_here = deploy_here


def watch(
    store: FleetStore,
    services: Services,
    *,
    interval: float = DEFAULT_INTERVAL,
    on_report: Callable[[SyncReport], None],
    stopped: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Keep this origin in step until `stopped()`: a full sync first, then every `interval`
    seconds one etcd read that returns only the live pointers changed since the last one, and
    a sync of those; a full sync every five minutes too. While etcd cannot be reached, the
    error is logged once and the watch keeps trying (the local files are served meanwhile).

    Why polling rather than an etcd watch: over etcd's JSON gateway a watch is a streaming
    HTTP response that needs its own failover, reconnection from the last revision, and a
    timer anyway to notice a member that hangs with the stream open; a poll is one ordinary
    request that the client already fails over between members and bounds by its timeout. The
    poll asks etcd for changed pointers only (min_mod_revision), so it costs one small answer
    per interval: a few seconds of reaction is what a certificate renewed days before expiry
    needs, and etcd serves thousands of such reads a second.
    """
    revision = 0
    last_full = -FULL_SYNC_EVERY
    retry: set[str] = set()
    failing = False
    while not stopped():
        try:
            now = clock()
            if now - last_full >= FULL_SYNC_EVERY:
                revision = store.shared.current_revision()
                report = sync_all(store, services)
                last_full = now
            else:
                changed, current = store.shared.changed_since(revision)
                names = sorted(set(changed) | retry)
                report = sync_all(store, services, names) if names else SyncReport()
                revision = current
            retry = {o.name for o in report.outcomes if o.error is not None}
            if failing:
                log.info("etcd answers again; this origin is in step")
                failing = False
            on_report(report)
        except AcmecfError as err:
            if not failing:
                log.warning("%s (the live files here are unchanged; retrying)", err)
                failing = True
            last_full = -FULL_SYNC_EVERY  # once etcd answers again, compare everything
        if stopped():
            return
        sleep(interval)
