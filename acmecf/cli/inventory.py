"""Commands that look at and remove stored certificates: list (certificates) and delete."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from acmecf.cli.base import EXIT_CODES, Common, cli, common_options, run_command, say
from acmecf.cli.options import CERT_NAME

# --- acmecf list -----------------------------------------------------------------------------


LIST_VERSION = 1


@dataclass(frozen=True)
class ListOptions:
    common: Common
    as_json: bool
    prometheus_file: Path | None
    json_array: bool = False


@cli.command("list", epilog=EXIT_CODES)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print JSON for scripts: {"version": 1, "certificates": [...]}.',
)
@click.option(
    "--json-array",
    is_flag=True,
    help="Print the bare JSON array of acmecf 0.1 instead (deprecated: removed in the next "
    "release; read .certificates of --json).",
)
@click.option(
    "--prometheus",
    "prometheus_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write node_exporter textfile metrics (expiry, last renewal result) to FILE, "
    "atomically.",
)
@common_options
def list_certificates(**kwargs: Any) -> None:
    """List the certificates acmecf manages, with profile, lifetime, expiry and next renewal.

    PROFILE is the ACME profile the CA issued the certificate under (a requested profile
    before the first issuance, with "?" for a preferred one); LIFETIME how long it is valid
    in all. A certificate whose stored file cannot be read is listed as broken, with the
    reason.

    \b
    Examples:
      acmecf list
      acmecf list --json | jq '.certificates[] | select(.days_left < 14)'
      acmecf list --quiet --prometheus /var/lib/prometheus/node-exporter/acmecf.prom
    """
    run_command(
        _list,
        kwargs,
        lambda common, kw: ListOptions(
            common, kw["as_json"], kw["prometheus_file"], json_array=kw["json_array"]
        ),
    )


def _list(options: ListOptions) -> None:
    import datetime
    import json

    from acmecf.lifecycle.schedule import lifetime, next_renewal

    store = options.common.store()
    if options.prometheus_file:
        from acmecf.monitoring.metrics import write_metrics

        write_metrics(store, options.prometheus_file)
        if options.common.quiet:
            return
    now = datetime.datetime.now(datetime.UTC)
    certificates, broken = store.load_all()
    fleet = _fleet_columns(store)
    rows: list[dict[str, Any]] = []
    for certificate in certificates:
        state = certificate.state
        upcoming = next_renewal(state)
        days_left = None
        if state.not_after is not None:
            days_left = round((state.not_after - now).total_seconds() / 86400, 1)
        total = lifetime(state)
        rows.append(
            {
                "name": certificate.name,
                "domains": list(certificate.settings.names),
                "key_type": certificate.settings.key_type,
                "profile": _profile(certificate),
                "lifetime_seconds": round(total.total_seconds()) if total else None,
                "server": certificate.settings.server,
                "not_after": state.not_after.isoformat() if state.not_after else None,
                "days_left": days_left,
                "next_renewal": upcoming.isoformat() if upcoming else None,
                "renewal_basis": "ari" if state.ari_renew_at else "lifetime",
                "last_result": state.last_result,
                "last_attempt": state.last_attempt.isoformat() if state.last_attempt else None,
                "live_dir": str(store.live_paths(certificate.name).directory),
                **fleet.get(certificate.name, {}),
            }
        )
    for entry in broken:
        rows.append({"name": entry.name, "broken": entry.error})
    rows.sort(key=lambda row: row["name"])
    if options.json_array:
        say(json.dumps(rows, indent=2))
        return
    if options.as_json:
        document = {"version": LIST_VERSION, "store": store.location, "certificates": rows}
        say(json.dumps(document, indent=2))
        return
    if not rows:
        say(f"no certificates in {store.location}")
        return
    if fleet:
        say(f"store: {store.location} (this origin: {store.shared.origin})")
    header = (
        "NAME",
        "DOMAINS",
        "KEY",
        "PROFILE",
        "LIFETIME",
        "EXPIRES (UTC)",
        "DAYS",
        "NEXT RENEWAL",
        "LAST RESULT",
    )
    table: list[tuple[str, ...]] = [header]
    for row in rows:
        if "broken" in row:
            table.append((row["name"], *["-"] * 7, _shorten("BROKEN: " + row["broken"], 80)))
            continue
        table.append(
            (
                row["name"],
                " ".join(row["domains"]),
                row["key_type"],
                row["profile"] or "-",
                _lifetime_text(row["lifetime_seconds"]),
                (row["not_after"] or "-")[:16].replace("T", " "),
                "-" if row["days_left"] is None else f"{row['days_left']:.0f}",
                (row["next_renewal"] or "-")[:16].replace("T", " ")
                + (" (ARI)" if row["renewal_basis"] == "ari" else ""),
                _shorten(row["last_result"] or "-"),
            )
        )
    _print_table(table)
    if fleet:
        say("")
        _print_table(_synced_table(rows))


def _print_table(table: list[tuple[str, ...]]) -> None:
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        say("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def _profile(certificate: Any) -> str | None:
    """The profile the CA issued under; before that, the one asked for."""
    settings = certificate.settings
    if certificate.state.profile:
        return str(certificate.state.profile)
    if settings.profile:
        return str(settings.profile)
    return f"{settings.preferred_profile}?" if settings.preferred_profile else None


def _lifetime_text(seconds: int | None) -> str:
    """90d, 45d; 160h under 10 days (where hours matter)."""
    if seconds is None:
        return "-"
    if seconds < 10 * 86400:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def _synced_table(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Which version each origin last synced of each certificate."""
    table: list[tuple[str, ...]] = [("NAME", "LIVE", "ORIGIN", "SYNCED", "AT (UTC)", "HOOKS")]
    for row in rows:
        if "broken" in row:
            continue
        origins = row["origins"] or {"-": {"version": "-", "synced_at": "-", "result": "-"}}
        for index, (origin, record) in enumerate(sorted(origins.items())):
            table.append(
                (
                    row["name"] if index == 0 else "",
                    (row["version"] or "-") if index == 0 else "",
                    origin,
                    record["version"],
                    record["synced_at"][:16].replace("T", " "),
                    _shorten(record["result"], 50),
                )
            )
    return table


def _fleet_columns(store: Any) -> dict[str, dict[str, Any]]:
    """With a shared store: per certificate, where the store is, its live version, and which
    version each origin last synced (with when and how its deploy hooks went)."""
    from acmecf.storage.fleet import FleetStore

    if not isinstance(store, FleetStore):
        return {}
    columns: dict[str, dict[str, Any]] = {}
    for name, (version, _, _) in store.shared.live_pointers().items():
        columns[name] = {"store": store.location, "version": version, "origins": {}}
    for record in store.shared.synced():
        entry = columns.setdefault(
            record.name, {"store": store.location, "version": None, "origins": {}}
        )
        entry["origins"][record.origin] = {
            "version": record.version,
            "synced_at": record.synced_at,
            "result": record.result,
        }
    for name in store.shared.names():
        columns.setdefault(name, {"store": store.location, "version": None, "origins": {}})
    return columns


def _shorten(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


cli.add_command(list_certificates, "certificates")


# --- acmecf delete ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteOptions:
    common: Common
    cert_name: str
    yes: bool


@cli.command(epilog=EXIT_CODES)
@click.option("--cert-name", required=True, type=CERT_NAME, help="The certificate to delete.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@common_options
def delete(**kwargs: Any) -> None:
    """Delete a certificate: its live files, every old version and its renewal settings.

    Web servers that point at its files will fail to start afterwards; the certificate
    itself stays valid at the CA until it expires.

    \b
    Example:
      acmecf delete --cert-name old.example.com --yes
    """
    run_command(
        _delete,
        kwargs,
        lambda common, kw: DeleteOptions(common, kw["cert_name"], kw["yes"]),
        logged=True,
    )


def _delete(options: DeleteOptions) -> None:
    from acmecf.cli.prompts import confirm

    store = options.common.store()
    name = options.cert_name
    certificate = store.load(name)
    if not options.yes:
        confirm(
            f"Delete {name} ({', '.join(certificate.settings.names)}) and all its files?",
            refuse=f"refusing to delete {name} without confirmation: pass --yes",
        )
    with store.lock(name):
        store.delete(name)
    if not options.common.quiet:
        say(f"deleted {name}")
