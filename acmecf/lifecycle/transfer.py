"""Moving in and out of a shared store: `push` copies this origin's configuration directory into
etcd, `pull` copies etcd into it.

What moves: each certificate's settings, state and live version (key and chain; older
versions stay where they were), the ACME accounts of the servers the certificates use, and
(push) the challenge records that runs here left, so that any origin removes them. A
certificate or account already at the destination and equal is left alone; one that differs is
left alone too and reported, unless `replace` is given (pull replaces certificates anyway: the
shared store is the fleet's truth, and a local account set aside, never lost). The state's
version ids are those of the destination, so that renewals there find nothing pending.

Does not: switch which store the commands use ([store] in acmecf.toml does), or run hooks.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

from acmecf.errors import AcmecfError, CertificateNotFoundError
from acmecf.settings.table import LETSENCRYPT, LETSENCRYPT_STAGING
from acmecf.storage.contracts import AccountStore
from acmecf.storage.files import FileStore
from acmecf.storage.fleet import FleetStore
from acmecf.storage.model import StoredAccount, StoredCertificate, material_digest

log = logging.getLogger(__name__)


@dataclass
class TransferReport:
    """Lines of what happened: `copied` and `unchanged` items, `skipped` ones (with why), and
    `failed` ones (with the error)."""

    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    records: int = 0  # challenge records handed over to the shared journal

    @property
    def ok(self) -> bool:
        return not self.skipped and not self.failed


def push(store: FleetStore, *, replace: bool = False, lock_wait: float = 60.0) -> TransferReport:
    """Copy the configuration directory's certificates, accounts and leftover challenge records
    into the shared store (module doc)."""
    local, shared = store.local, store.shared
    report = TransferReport()
    shared.check()
    certificates, broken = local.load_all()
    for unreadable in broken:
        report.failed.append(f"{unreadable.name}: {unreadable.error}")
    for certificate in certificates:
        name = certificate.name
        try:
            with shared.lock(name, wait=lock_wait):
                _push_certificate(local, store, certificate, replace, report)
        except AcmecfError as err:
            report.failed.append(f"{name}: {err}")
    for server in _servers(certificates):
        account = local.load_account(server)
        if account is not None:
            _copy_account(server, account, shared.load_account(server), shared, replace, report)
    for leftovers in local.journal.leftovers():
        entries = list(leftovers.entries)
        if entries:
            shared.journal.adopt(entries)
            for record in entries:
                leftovers.forget(record)
            report.records += len(entries)
    return report


def _push_certificate(
    local: FileStore,
    store: FleetStore,
    certificate: StoredCertificate,
    replace: bool,
    report: TransferReport,
) -> None:
    shared = store.shared
    name = certificate.name
    here = local.live(name)
    try:
        there: StoredCertificate | None = shared.load(name)
    except CertificateNotFoundError:
        there = None
    if there is not None:
        live = shared.live(name)
        same_version = (here is None and live is None) or (
            here is not None
            and live is not None
            and material_digest(here.material) == material_digest(live.material)
        )
        if same_version and there.settings == certificate.settings:
            report.unchanged.append(name)
            return
        if not replace:
            report.skipped.append(
                f"{name}: the store has it already, different from this origin's (pass "
                "--replace to overwrite it with this origin's)"
            )
            return
    state = certificate.state
    if here is None:
        shared.save(certificate)
    else:
        version = shared.publish(name, here.material)
        deployed = version if state.deployed_version == here.version else None
        state = dataclasses.replace(state, version=version, deployed_version=deployed)
        shared.save(StoredCertificate(certificate.settings, state))
        # This origin's live files are that version already, and its hooks ran for them.
        shared.record_sync(name, version, material_digest(here.material), "ok")
    report.copied.append(f"{name}" + (f" (version {state.version})" if here else ""))


def pull(store: FleetStore, *, replace: bool = False) -> TransferReport:
    """Copy the shared store's certificates and accounts into the configuration directory
    (module doc)."""
    local, shared = store.local, store.shared
    report = TransferReport()
    local.prepare()
    certificates, broken = shared.load_all()
    for entry in broken:
        report.failed.append(f"{entry.name}: {entry.error}")
    for certificate in certificates:
        name = certificate.name
        try:
            with local.lock(name):
                _pull_certificate(store, certificate, report)
        except AcmecfError as err:
            report.failed.append(f"{name}: {err}")
    for server in shared.accounts():
        account = shared.load_account(server)
        if account is not None:
            _copy_account(server, account, local.load_account(server), local, replace, report)
    return report


def _pull_certificate(
    store: FleetStore, certificate: StoredCertificate, report: TransferReport
) -> None:
    local, shared = store.local, store.shared
    name = certificate.name
    live = shared.live(name)
    here = local.live(name)
    try:
        previous: StoredCertificate | None = local.load(name)
    except CertificateNotFoundError:
        previous = None
    state = certificate.state
    if live is None:
        version = None
        deployed = None
    elif here is not None and material_digest(here.material) == material_digest(live.material):
        version = here.version
        deployed = previous.state.deployed_version if previous is not None else version
    else:
        from acmecf.lifecycle.outputs import output_files, plan_outputs

        material = live.material
        files = output_files(
            plan_outputs(certificate.settings),
            name,
            material.privkey,
            material.cert,
            material.chain,
        )
        version = local.publish(name, material, files)
        # This machine's hooks have not run for that version: a local renew runs them.
        deployed = previous.state.deployed_version if previous is not None else None
    pulled = StoredCertificate(
        certificate.settings,
        dataclasses.replace(state, version=version, deployed_version=deployed),
    )
    if previous == pulled:
        report.unchanged.append(name)
        return
    local.save(pulled)
    report.copied.append(f"{name}" + (f" (version {version})" if version else ""))


def _copy_account(
    server: str,
    account: StoredAccount,
    existing: StoredAccount | None,
    destination: AccountStore,
    replace: bool,
    report: TransferReport,
) -> None:
    what = f"account at {server}"
    if existing is not None:
        if existing.key_pem == account.key_pem and dict(existing.info) == dict(account.info):
            report.unchanged.append(what)
            return
        if not replace:
            report.skipped.append(
                f"{what}: a different one is there already (pass --replace to set it aside "
                "and copy this one)"
            )
            return
        moved = destination.retire_account(server)
        log.info("set the %s aside at %s", what, moved)
    destination.save_account_key(server, account.key_pem)
    destination.save_account_info(server, account.info)
    report.copied.append(what)


def _servers(certificates: list[StoredCertificate]) -> list[str]:
    """The ACME servers the certificates use (Let's Encrypt's staging too, for dry runs)."""
    servers = {c.settings.server for c in certificates if c.settings.server}
    if LETSENCRYPT in servers:
        servers.add(LETSENCRYPT_STAGING)
    return sorted(servers)
