"""Obtaining one certificate now: the step from stored settings to live files and hooks.

Under the certificate's lock: load it again (another run may have done the work meanwhile),
check free space and the files asked for (key group, PKCS#12 password), ask its issuer, then
(unless this is a dry run) store the settings of a new certificate, publish the version with
every file asked for (the one atomic switch), record the state, run the deploy hooks and prune
old versions. An Origin CA certificate the new one supersedes is revoked at Cloudflare once a
hook has reloaded the web server (`settle_superseded`), since Cloudflare's edge refuses a
revoked origin certificate at once. Each step after the switch may fail on its own (a full
disk, a read-only file) without undoing it: a certificate that went live is reported as
renewed, and gets its hooks. A version
that went live without its hooks (the run died) gets them on the next run (`deploy_pending`).

Never raises an AcmecfError: the Outcome carries it, and the failure is recorded in the
certificate's state. Does not: decide what is due, or print.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acmecf.errors import (
    AcmecfError,
    AlreadyReplaced,
    HookError,
    Interrupted,
    LockedError,
    StoreError,
)
from acmecf.lifecycle.hooks import Hook, certificate_environment, deploy_hooks, run_hook
from acmecf.lifecycle.outputs import output_files, plan_outputs
from acmecf.lifecycle.services import Services
from acmecf.settings.table import (
    ISSUER_ORIGIN_CA,
    LETSENCRYPT,
    LETSENCRYPT_STAGING,
    CertificateSettings,
)
from acmecf.storage.model import CertificateMaterial, CertificateState, StoredCertificate

if TYPE_CHECKING:  # a no-op `renew` imports neither cryptography nor dnspython
    from acmecf.issuers.base import IssuedCertificate

log = logging.getLogger(__name__)

UTC = datetime.UTC

# Called with the certificate as loaded under its lock: a reason to skip it (another run did
# the work meanwhile), or None to go ahead.
Recheck = Callable[[StoredCertificate], str | None]


@dataclass(frozen=True)
class Superseded:
    """An Origin CA certificate a new version replaced, to revoke once the web server serves
    the new one."""

    serial: str
    credentials_file: str | None


@dataclass
class Outcome:
    """How one certificate fared in a run. `issued` is set once the issuer delivered; `version`
    once it went live (then it counts as renewed whatever failed afterwards); `files` then
    names the live files it has (cert, chain, fullchain, privkey, combined, pkcs12)."""

    cert_name: str
    issued: IssuedCertificate | None = None
    version: str | None = None
    error: AcmecfError | None = None
    hook_errors: list[HookError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None  # why nothing was done (another run renewed it)
    names: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    deploy_hooks_run: int = 0
    superseded: Superseded | None = None  # not yet revoked

    @property
    def ok(self) -> bool:
        return self.error is None and not self.hook_errors


def obtain(
    certificate: StoredCertificate,
    services: Services,
    *,
    recheck: Recheck | None = None,
    store_settings: bool = True,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(UTC),
) -> Outcome:
    """Issue `certificate` from its settings; store, record and deploy it (see module doc).

    With `store_settings` (`acmecf issue`), the settings given are stored with the new state;
    without (`acmecf renew`, whose settings may carry environment overrides), the stored ones
    are kept.
    """
    outcome = Outcome(certificate.name, names=certificate.settings.names)
    try:
        with services.store.lock(certificate.name, wait=services.options.lock_wait):
            _obtain_locked(certificate, services, outcome, recheck, store_settings, now)
    except LockedError as err:
        outcome.error = err
    return outcome


def _obtain_locked(
    requested: StoredCertificate,
    services: Services,
    outcome: Outcome,
    recheck: Recheck | None,
    store_settings: bool,
    now: Callable[[], datetime.datetime],
) -> None:
    from acmecf.issuers.base import CertificateRequest

    store, options = services.store, services.options
    started = now()
    certificate = requested
    kept = requested.settings  # the settings written back with the new state
    stored = _reload(requested, services)
    if stored is not None:
        if recheck is not None:
            reason = recheck(stored)
            if reason is not None:
                outcome.skipped = reason
                return
        # The settings asked for, with the state as it is now.
        certificate = StoredCertificate(requested.settings, stored.state)
        if not store_settings:
            kept = stored.settings
    settings = certificate.settings
    try:
        if not options.dry_run:
            store.check_free_space()
        plan = plan_outputs(settings)
        issuer = services.issuer(settings)
        state = certificate.state
        issued = issuer.issue(
            CertificateRequest(
                cert_name=settings.cert_name,
                names=settings.names,
                key_type=settings.key_type,
                reuse_key_pem=_kept_key(certificate, services),
                # Not in a dry run (staging never issued it), and not once the CA said another
                # order replaced it: claiming to replace it again would only be refused.
                replaces=(
                    state.ari_id
                    if not options.dry_run and state.replaced_elsewhere is None
                    else None
                ),
                profile=settings.profile,
                preferred_profile=settings.preferred_profile,
                preferred_chain=settings.preferred_chain,
                must_staple=_must_staple(settings, services),
                propagation_timeout=settings.propagation_timeout,
                validation_timeout=settings.validation_timeout,
                challenge=settings.challenge,
            )
        )
    except AlreadyReplaced as err:
        outcome.skipped = _replaced_elsewhere(
            StoredCertificate(kept, certificate.state), err, services, started
        )
        return
    except AcmecfError as err:
        outcome.error = err
        _record_failure(
            StoredCertificate(kept, certificate.state), err, services, started, stored is not None
        )
        outcome.hook_errors += _failure_hooks(certificate, err, services)
        return
    outcome.issued = issued
    if options.dry_run:
        log.info("dry run: the certificate checks out; nothing was written")
        if options.run_deploy_hooks:
            outcome.hook_errors += run_deploy_hooks(certificate, services)
        return
    try:
        if stored is None:
            # A new certificate's settings exist before its live link does: a run that dies
            # right after the switch leaves a certificate acmecf still knows.
            store.save(StoredCertificate(kept, certificate.state))
        chain = issued.chain
        version = store.publish(
            settings.cert_name,
            CertificateMaterial(privkey=issued.key_pem, cert=chain.cert_pem, chain=chain.chain_pem),
            output_files(plan, settings.cert_name, issued.key_pem, chain.cert_pem, chain.chain_pem),
        )
    except AcmecfError as err:
        outcome.error = err
        _record_failure(StoredCertificate(kept, certificate.state), err, services, started, True)
        outcome.hook_errors += _failure_hooks(certificate, err, services)
        return
    outcome.version = version
    outcome.files = live_files(settings, services)
    log.debug(
        "%s: version %s is live, valid until %s",
        settings.cert_name,
        version,
        f"{chain.not_after:%Y-%m-%d %H:%M} UTC",
    )
    with services.hook_lock:
        services.published.append(settings.cert_name)
    state = state_after_issue(issued, version, started, deployed=certificate.state.deployed_version)
    _save_state(StoredCertificate(kept, state), services, outcome)
    outcome.superseded = _superseded(certificate, issued)
    outcome.hook_errors += deploy(certificate, services, outcome)
    _save_state(
        StoredCertificate(kept, dataclasses.replace(state, deployed_version=version)),
        services,
        outcome,
    )
    _prune(settings.cert_name, kept.keep_versions, services, outcome)


def live_files(settings: CertificateSettings, services: Services) -> dict[str, str]:
    """The live files of a certificate, by kind, as its settings have them written."""
    live = services.local.live_paths(settings.cert_name)
    files = {
        "cert": str(live.cert),
        "chain": str(live.chain),
        "fullchain": str(live.fullchain),
        "privkey": str(live.privkey),
    }
    if settings.combined:
        files["combined"] = str(live.combined)
    if settings.pkcs12:
        files["pkcs12"] = str(live.pkcs12)
    return files


def _prune(name: str, keep: int, services: Services, outcome: Outcome) -> None:
    try:
        services.store.prune(name, keep)
    except AcmecfError as err:
        # A warning, not a problem of the run: the new version is live and complete.
        log.warning("%s: old versions were not removed: %s", name, err)


def _superseded(certificate: StoredCertificate, issued: IssuedCertificate) -> Superseded | None:
    """The Origin CA certificate the new one replaces, if there is one to revoke."""
    previous = certificate.state.serial
    if certificate.settings.issuer != ISSUER_ORIGIN_CA or not previous:
        return None
    if previous == issued.serial:
        return None
    return Superseded(previous, certificate.settings.credentials_file)


def settle_superseded(outcome: Outcome, services: Services, *, reloaded: bool) -> None:
    """Revoke at Cloudflare the Origin CA certificate `outcome`'s new version superseded, when
    a hook has reloaded the web server (`reloaded`): Cloudflare's edge refuses a revoked
    origin certificate at once, so revoking one the web server may still serve would take the
    site down. Otherwise, and when Cloudflare refuses, a warning says what to do. Never
    raises."""
    superseded = outcome.superseded
    if superseded is None or services.options.dry_run:
        return
    outcome.superseded = None
    name = outcome.cert_name
    if not reloaded:
        reason = (
            "a hook failed"
            if outcome.hook_errors
            else "no deploy hook or post-hook reloads the web server"
        )
        message = (
            f"the Origin CA certificate it replaces ({superseded.serial}) was left valid: "
            f"{reason}, so the web server may still serve it; revoke it in the dashboard "
            "(SSL/TLS > Origin Server) once the new one is served"
        )
        log.warning("%s: %s", name, message)  # a warning: the new certificate is fine
        return
    from acmecf.cloudflare.origin_ca import CloudflareOriginCA

    try:
        CloudflareOriginCA(services.cloudflare(superseded.credentials_file)).revoke(
            superseded.serial
        )
    except AcmecfError as err:
        message = (
            f"the Origin CA certificate it replaces ({superseded.serial}) is still valid: {err}"
        )
        log.warning("%s: %s", name, message)
        return
    log.info("%s: revoked the Origin CA certificate it replaces (%s)", name, superseded.serial)


def _reload(requested: StoredCertificate, services: Services) -> StoredCertificate | None:
    """The certificate as stored now, or None when it is new."""
    from acmecf.errors import CertificateNotFoundError

    try:
        return services.store.load(requested.name)
    except CertificateNotFoundError:
        return None


def deploy(
    certificate: StoredCertificate, services: Services, outcome: Outcome | None = None
) -> list[HookError]:
    """Make the live version this origin's and run the deploy hooks (counted in `outcome`).
    With a shared store, its version is first written into this origin's live files
    (services.deploy_here, set by lifecycle.sync); on one machine they already are."""
    if services.deploy_here is not None:
        return services.deploy_here(certificate, outcome)
    return run_deploy_hooks(certificate, services, outcome)


def run_deploy_hooks(
    certificate: StoredCertificate, services: Services, outcome: Outcome | None = None
) -> list[HookError]:
    """Run the certificate's deploy hooks, one hook at a time across workers (parallel
    renewals must not reload a web server concurrently); count them in `outcome`."""
    settings = certificate.settings
    live = services.local.live_paths(settings.cert_name)
    variables = certificate_environment(settings.cert_name, settings.names, live.directory)
    if settings.combined:
        variables["ACMECF_COMBINED"] = str(live.combined)
    if settings.pkcs12:
        variables["ACMECF_PKCS12"] = str(live.pkcs12)
    errors: list[HookError] = []
    hooks = deploy_hooks(settings.deploy_hooks, services.local.deploy_hook_files())
    if outcome is not None:
        outcome.deploy_hooks_run += len(hooks)
    with services.hook_lock:
        for hook in hooks:
            try:
                run_hook(hook, variables, what="deploy hook", timeout=services.options.hook_timeout)
            except HookError as err:
                errors.append(err)
    return errors


def state_after_issue(
    issued: IssuedCertificate,
    version: str,
    moment: datetime.datetime,
    *,
    deployed: str | None,
) -> CertificateState:
    """The state of a certificate whose new version `version` just went live."""
    from acmecf.lifecycle.schedule import apply_renewal_info
    from acmecf.pki.chain import ari_certificate_id

    state = CertificateState(
        not_before=issued.chain.not_before,
        not_after=issued.chain.not_after,
        ari_id=ari_certificate_id(issued.chain.leaf) if issued.renewal_info_url else None,
        renewal_info_url=issued.renewal_info_url,
        last_attempt=moment,
        last_result="ok",
        last_success=moment,
        version=version,
        deployed_version=deployed,
        serial=issued.serial,
        profile=issued.profile,
    )
    if issued.renewal_info is not None:
        reply, retry_after = issued.renewal_info
        try:
            state = apply_renewal_info(state, reply, retry_after, moment)
        except (KeyError, TypeError, ValueError) as err:
            log.info("the CA's renewal information is unreadable (%s); renew asks again", err)
    return state


def _save_state(certificate: StoredCertificate, services: Services, outcome: Outcome) -> None:
    try:
        services.store.save(certificate)
    except AcmecfError as err:
        message = f"its state was not recorded (the next run records it): {err}"
        log.warning("%s: %s", certificate.name, message)
        outcome.warnings.append(message)


def _must_staple(settings: CertificateSettings, services: Services) -> bool:
    """Whether to ask for Must-Staple: not from Let's Encrypt, which refuses every such order
    since 7 May 2025 (a setting stored before then is ignored, with a notice)."""
    if settings.must_staple and services.server(settings) in (LETSENCRYPT, LETSENCRYPT_STAGING):
        log.warning(
            "%s: Let's Encrypt no longer issues OCSP Must-Staple certificates: ordering one "
            "without it (`acmecf issue --cert-name %s --no-must-staple` stores that)",
            settings.cert_name,
            settings.cert_name,
        )
        return False
    return settings.must_staple


def _replaced_elsewhere(
    certificate: StoredCertificate,
    error: AlreadyReplaced,
    services: Services,
    moment: datetime.datetime,
) -> str:
    """Record that the CA refused to replace the certificate because another order already
    did (RFC 9773 alreadyReplaced): this copy is renewed again only near its expiry (never at
    every run), without claiming to replace anything. Returns the line that says so."""
    from acmecf.lifecycle.schedule import last_resort_time

    name = certificate.name
    state = dataclasses.replace(
        certificate.state,
        replaced_elsewhere=moment,
        ari_renew_at=None,
        last_attempt=moment,
        last_result="replaced elsewhere: another machine renewed it",
    )
    if not services.options.dry_run:
        try:
            services.store.save(StoredCertificate(certificate.settings, state))
        except StoreError as err:
            log.warning("could not record the state of %s: %s", name, err)
    later = last_resort_time(state)
    when = f"{later:%Y-%m-%d %H:%M} UTC" if later is not None else "near its expiry"
    return (
        f"{error}. This copy is kept and renewed here only from {when} (a sixth of its "
        "lifetime left), not at every run; "
        f"`acmecf renew --force --cert-name {name}` renews it now, "
        f"`acmecf delete --cert-name {name} --yes` if this machine no longer needs it"
    )


def _record_failure(
    certificate: StoredCertificate,
    error: AcmecfError,
    services: Services,
    moment: datetime.datetime,
    stored: bool,
) -> None:
    """Note the failure in the state of a stored certificate (not in a dry run)."""
    if services.options.dry_run or not stored:
        return
    state = dataclasses.replace(certificate.state, last_attempt=moment, last_result=str(error))
    try:
        services.store.save(StoredCertificate(certificate.settings, state))
    except StoreError as err:
        log.warning("could not record the failure of %s: %s", certificate.name, err)


def _failure_hooks(
    certificate: StoredCertificate, error: AcmecfError, services: Services
) -> list[HookError]:
    if services.options.dry_run or isinstance(error, Interrupted):
        return []
    return run_failure_hooks(certificate, str(error), services)


def run_failure_hooks(
    certificate: StoredCertificate, error: str, services: Services
) -> list[HookError]:
    """Tell someone: run the certificate's failure hooks with the error in the environment."""
    from acmecf.redaction import redact

    settings = certificate.settings
    variables = {
        "ACMECF_CERT_NAME": settings.cert_name,
        "ACMECF_DOMAINS": " ".join(settings.names),
        "ACMECF_ERROR": redact(error),
    }
    errors: list[HookError] = []
    with services.hook_lock:
        for command in settings.failure_hooks:
            try:
                run_hook(
                    Hook(command, shell=True),
                    variables,
                    what="failure hook",
                    timeout=services.options.hook_timeout,
                )
            except HookError as err:
                errors.append(err)
    return errors


def _kept_key(certificate: StoredCertificate, services: Services) -> bytes | None:
    """The live private key, when the certificate keeps its key across renewals (--reuse-key)
    and the key type did not change."""
    from acmecf.pki.keys import key_type_of, load_key

    settings = certificate.settings
    if not settings.reuse_key:
        return None
    live = services.store.live(settings.cert_name)
    if live is None:
        return None  # the first issuance makes the key that later ones keep
    key = load_key(live.material.privkey, f"the live key of {settings.cert_name}")
    if key_type_of(key) != settings.key_type:
        log.info(
            "%s: the key type changed to %s: making a new key",
            settings.cert_name,
            settings.key_type,
        )
        return None
    return live.material.privkey


def deploy_pending(name: str, services: Services) -> Outcome | None:
    """Finish a version that went live without its state or hooks (a run died after the
    switch): record its state from the live certificate and run its deploy hooks. None when
    nothing is pending. Runs under the certificate's lock."""
    from acmecf.pki.chain import load_certificate

    outcome = Outcome(name)
    try:
        with services.store.lock(name, wait=services.options.lock_wait):
            certificate = services.store.load(name)
            outcome.names = certificate.settings.names
            version = services.store.live_version(name)
            state = certificate.state
            if version is None or (state.version == version and state.deployed_version == version):
                return None
            if state.version != version:
                live = services.store.live(name)
                assert live is not None
                leaf = load_certificate(live.material.cert, f"the live certificate of {name}")
                from acmecf.pki.chain import ari_certificate_id

                state = dataclasses.replace(
                    state,
                    not_before=leaf.not_valid_before_utc,
                    not_after=leaf.not_valid_after_utc,
                    ari_id=ari_certificate_id(leaf) if state.renewal_info_url else None,
                    ari_renew_at=None,
                    ari_next_check=None,
                    last_result="ok",
                    version=version,
                    replaced_elsewhere=None,
                    profile=None,
                )
                log.info(
                    "%s: recorded version %s, which went live in a run that died", name, version
                )
            outcome.version = version
            outcome.files = live_files(certificate.settings, services)
            _save_state(StoredCertificate(certificate.settings, state), services, outcome)
            log.info("%s: running the deploy hooks a run that died did not run", name)
            outcome.hook_errors += deploy(certificate, services, outcome)
            _save_state(
                StoredCertificate(
                    certificate.settings, dataclasses.replace(state, deployed_version=version)
                ),
                services,
                outcome,
            )
    except AcmecfError as err:
        outcome.error = err
    return outcome
