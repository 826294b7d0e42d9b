"""Commands of an origin in a fleet sharing an etcd store: sync (once, or as a service with
--watch) and store push|pull (moving a configuration directory in and out of the store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from acmecf.cli.base import EXIT_CODES, Common, cli, common_options, run_command, say
from acmecf.cli.options import DURATION, cert_names_option

if TYPE_CHECKING:
    from acmecf.lifecycle.services import RunOptions
    from acmecf.lifecycle.sync import SyncReport
    from acmecf.lifecycle.transfer import TransferReport
    from acmecf.storage.fleet import FleetStore


def fleet_store(common: Common, command: str) -> FleetStore:
    """The shared store the configuration chooses; UsageError when it chooses local files."""
    from acmecf.errors import UsageError
    from acmecf.storage.fleet import FleetStore

    store = common.store()
    if not isinstance(store, FleetStore):
        raise UsageError(
            f"`acmecf {command}` works with a store that origins share, and this configuration "
            f'keeps certificates in {store.location} alone: set url = "etcd://HOST:PORT/PREFIX" '
            "in [store] of acmecf.toml, or pass --store etcd://HOST:PORT/PREFIX"
        )
    return store


def print_sync(report: SyncReport, *, quiet: bool) -> list[str]:
    """One line per certificate whose files or hooks this sync touched, and per failure (on
    stderr); returns what failed, for the summary."""
    failures: list[str] = []
    for name in report.unknown:
        say(f"failed {name}: the store has no live version of it (see `acmecf list`)", err=True)
        failures.append(name)
    for outcome in report.outcomes:
        if outcome.error is not None:
            say(f"failed to sync {outcome.name}: {outcome.error}", err=True)
            failures.append(f"sync of {outcome.name}")
            continue
        if not quiet and outcome.changed:
            say(f"synced {outcome.name}: version {outcome.version} is live here")
        elif not quiet and outcome.hooks_ran:
            say(f"synced {outcome.name}: deploy hooks ran for version {outcome.version}")
        for hook_error in outcome.hook_errors:
            say(f"failed {outcome.name}: it is live here, but {hook_error}", err=True)
            failures.append(f"deploy hooks of {outcome.name}")
    return failures


def sync_services(store: FleetStore, run: RunOptions) -> Any:
    import os

    from acmecf.lifecycle.services import Services

    return Services(store, os.environ, run)


# --- acmecf sync -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncOptions:
    common: Common
    cert_names: tuple[str, ...]
    watch: bool
    interval: float
    hook_timeout: float


@cli.command(epilog=EXIT_CODES)
@cert_names_option("Sync only this certificate (repeatable). Default: every one.")
@click.option(
    "--watch",
    is_flag=True,
    help="Keep running: sync each certificate within seconds of a new version (a service).",
)
@click.option(
    "--interval",
    type=DURATION,
    default="2s",
    show_default=True,
    metavar="DURATION",
    help="With --watch: how often to ask the store for new versions.",
)
@click.option(
    "--hook-timeout",
    type=DURATION,
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="Stop a deploy hook that runs longer.",
)
@common_options
def sync(**kwargs: Any) -> None:
    """Write the fleet's live version of every certificate into this origin's live/ files.

    For an origin of a fleet sharing an etcd store (--store, [store] in acmecf.toml). A
    certificate whose live version here differs from the store's is written into
    <config-dir>/live/<cert-name>/ in one atomic switch, as `issue` writes it, and its deploy
    hooks run (the certificate's own and those in <config-dir>/hooks/deploy/ of this
    origin). Nothing else is touched; when the store cannot be reached, the live files stay
    as they are and are still served. `renew` ends with a sync too.

    \b
    Examples:
      acmecf sync                      # after this origin was down, or from a timer
      acmecf sync --watch              # as a service: systemd/acmecf-sync.service
      acmecf sync --cert-name example.com -v
    """
    run_command(
        _sync,
        kwargs,
        lambda common, kw: SyncOptions(
            common,
            tuple(kw["cert_names"]),
            bool(kw["watch"]),
            float(kw["interval"]),
            float(kw["hook_timeout"]),
        ),
    )


def _sync(options: SyncOptions) -> None:
    from acmecf.errors import AcmecfError
    from acmecf.lifecycle.services import RunOptions
    from acmecf.lifecycle.sync import sync_all

    store = fleet_store(options.common, "sync")
    services = sync_services(store, RunOptions(hook_timeout=options.hook_timeout))
    if options.watch:
        _watch(store, services, options)
        return
    report = sync_all(store, services, options.cert_names)
    failures = print_sync(report, quiet=options.common.quiet)
    if failures:
        raise AcmecfError(f"sync failed for {', '.join(failures)} (the lines above say why)")
    if options.common.verbose:
        count = len(report.outcomes)
        say(f"in step with {store.location}: {count} certificate{'s' * (count != 1)}")


def _watch(store: FleetStore, services: Any, options: SyncOptions) -> None:
    import threading

    from acmecf import interrupts
    from acmecf.lifecycle.sync import watch

    stop = threading.Event()
    interrupts.on_interrupt(stop.set)

    shown: dict[str, str] = {}  # the failure last shown per certificate, not repeated

    def on_report(report: SyncReport) -> None:
        for outcome in list(report.outcomes):
            error = str(outcome.error) if outcome.error is not None else ""
            if error and shown.get(outcome.name) == error:
                report.outcomes.remove(outcome)  # failing as before: said already
            elif error:
                shown[outcome.name] = error
            else:
                shown.pop(outcome.name, None)
        print_sync(report, quiet=options.common.quiet)

    if not options.common.quiet:
        say(f"watching {store.location} for new versions (every {options.interval:g} s)")
    with interrupts.protected():  # a signal ends the watch after the sync in progress
        watch(
            store,
            services,
            interval=options.interval,
            on_report=on_report,
            stopped=stop.is_set,
            sleep=stop.wait,
        )
    if not options.common.quiet:
        say("stopped watching")


# --- acmecf store push|pull ------------------------------------------------------------------


@cli.group(epilog=EXIT_CODES)
def store() -> None:
    """Move this origin's certificates into a shared etcd store, or out of it.

    \b
    Examples:
      acmecf store push --store etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/acmecf \\
          --store-key-file /etc/acmecf/store.key
      acmecf store pull                # a copy of the store in <config-dir>, to leave it
    """


@dataclass(frozen=True)
class TransferOptions:
    common: Common
    replace: bool


@store.command(epilog=EXIT_CODES)
@click.option(
    "--replace",
    is_flag=True,
    help="Overwrite certificates and accounts the store has already (otherwise left alone).",
)
@common_options
def push(**kwargs: Any) -> None:
    """Copy the certificates of <config-dir> into the shared store.

    Copies each certificate's settings, state and live version (key encrypted with the
    fleet key), the ACME accounts of their CAs, and the challenge records that earlier runs
    here left (any origin then removes them). What the store has already is left alone
    unless --replace. Then set [store] url in acmecf.toml on every origin, and run
    `acmecf sync` on the others.

    \b
    Example:
      acmecf store push --store etcd://10.0.0.1:2379/acmecf --store-key-file /etc/acmecf/store.key
    """
    run_command(_push, kwargs, lambda common, kw: TransferOptions(common, bool(kw["replace"])))


def _push(options: TransferOptions) -> None:
    from acmecf.lifecycle.transfer import push as push_certificates

    store = fleet_store(options.common, "store push")
    report = push_certificates(store, replace=options.replace)
    _print_transfer(report, "pushed", f"into {store.location}", options.common.quiet)
    if report.records and not options.common.quiet:
        say(f"handed {report.records} challenge records left here to the store's journal")


@store.command(epilog=EXIT_CODES)
@click.option(
    "--replace",
    is_flag=True,
    help="Set aside local accounts that differ from the store's and copy the store's.",
)
@common_options
def pull(**kwargs: Any) -> None:
    """Copy the certificates of the shared store into <config-dir>.

    Writes each certificate's settings, state and live version into the configuration
    directory (its live/ files switched atomically, as `sync` does), and the store's ACME
    accounts. With that copy, this origin can go on alone: remove [store] from acmecf.toml
    (or pass --store files) and `acmecf renew` uses the local files; it runs the deploy hooks
    of each certificate whose files the pull changed.

    \b
    Examples:
      acmecf store pull
      acmecf list --store files        # the copy, as `renew` without [store] would see it
    """
    run_command(_pull, kwargs, lambda common, kw: TransferOptions(common, bool(kw["replace"])))


def _pull(options: TransferOptions) -> None:
    from acmecf.lifecycle.transfer import pull as pull_certificates

    store = fleet_store(options.common, "store pull")
    report = pull_certificates(store, replace=options.replace)
    _print_transfer(report, "pulled", f"into {store.config_dir}", options.common.quiet)


def _print_transfer(report: TransferReport, verb: str, where: str, quiet: bool) -> None:
    from acmecf.errors import AcmecfError

    if not quiet:
        for item in report.copied:
            say(f"{verb} {item}")
    for item in report.skipped:
        say(f"skipped {item}", err=True)
    for item in report.failed:
        say(f"failed {item}", err=True)
    if not quiet:
        say(
            f"{verb} {len(report.copied)} {where}; {len(report.unchanged)} already the same"
            + (f", {len(report.skipped)} left alone" if report.skipped else "")
        )
    if report.failed or report.skipped:
        problems = len(report.failed) + len(report.skipped)
        raise AcmecfError(
            f"{problems} item{'s' * (problems != 1)} not {verb} (the lines above say why and "
            "what to do)"
        )
