"""Commands that lock the origin down: origin check, cloudflare ssl-mode and cloudflare
origin-pulls (the web server configuration they lead to: cli/webserver.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from acmecf.cli.base import EXIT_CODES, Common, cli, common_options, run_command, say
from acmecf.cli.options import credentials_option

if TYPE_CHECKING:
    from acmecf.cloudflare.api import CloudflareApi
    from acmecf.cloudflare.origin_pulls import CloudflareOriginPulls
    from acmecf.cloudflare.zone_settings import CloudflareZoneSettings
    from acmecf.dns.provider import Zone
    from acmecf.origin.findings import OriginReport
    from acmecf.storage.files import FileStore
    from acmecf.storage.origin_pulls import OriginPullFiles

SSL_MODE_NAMES = {"off": "Off", "flexible": "Flexible", "full": "Full", "strict": "Full (strict)"}


_credentials_option = credentials_option


@dataclass(frozen=True)
class OriginOptions:
    """The options of the origin and cloudflare commands (each uses the ones it has)."""

    common: Common
    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values.get(key)

    @property
    def quiet(self) -> bool:
        return self.common.quiet


def origin_options(common: Common, kwargs: Mapping[str, Any]) -> OriginOptions:
    return OriginOptions(common, dict(kwargs))


def _check_options(function: Any) -> Any:
    options = [
        click.option(
            "--ca-bundle",
            envvar="ACMECF_ORIGIN_CA_BUNDLE",
            metavar="PEM",
            type=click.Path(exists=True, dir_okay=False, resolve_path=True, path_type=Path),
            help="Validate against these CAs instead of the system trust store (a private or "
            "test CA). Env: ACMECF_ORIGIN_CA_BUNDLE.",
        ),
        click.option(
            "--port",
            type=click.IntRange(1, 65535),
            default=443,
            show_default=True,
            help="Port of origins whose address comes from the zone's DNS records.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            metavar="SECONDS",
            help="Give up on an origin that does not answer by then.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _api(options: OriginOptions) -> CloudflareApi:
    from acmecf.cloudflare.api import CloudflareApi
    from acmecf.cloudflare.budget import RequestBudget, budget_from_environment
    from acmecf.cloudflare.credentials import load_credentials

    credentials = load_credentials(os.environ, options["credentials_file"])
    limit, window = budget_from_environment(os.environ)
    return CloudflareApi(
        credentials,
        base_url=os.environ.get("CLOUDFLARE_BASE_URL") or None,
        budget=RequestBudget(limit, window),
    )


def _zone(api: CloudflareApi, zone: str | None) -> Zone:
    from acmecf.cloudflare.zones import CloudflareZones

    zones = CloudflareZones(api)
    return zones.find(zone) if zone else zones.only_zone()


def _zone_label(zone: Zone) -> str:
    return zone.name or zone.id


# --- acmecf origin check ----------------------------------------------------------------------


@cli.group(epilog=EXIT_CODES)
def origin() -> None:
    """Look at the origin server directly, as Cloudflare's edge meets it."""


@origin.command("check", epilog=EXIT_CODES)
@click.argument("name")
@click.option(
    "--origin",
    "origin_address",
    metavar="HOST_OR_IP[:PORT]",
    help="Connect here. Default: the A/AAAA records of NAME in its Cloudflare zone (the "
    "origin behind the proxy), read through the API.",
)
@_check_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_credentials_option
@common_options
def origin_check(**kwargs: Any) -> None:
    """Check what the origin serves for NAME, one line per question, each problem with its fix.

    Connects straight to the origin (not through Cloudflare) with SNI = NAME and reports: the
    chain it sends (and how many intermediates), whether it validates without help against
    the system trust store (or --ca-bundle), the host name, days until expiry, whether it is
    the certificate acmecf holds for NAME (a renewal that was never reloaded shows here), the
    TLS version, and whether the origin demands a client certificate (and, with origin pulls
    on, the right one). Exits 1 when anything is wrong.

    \b
    Examples:
      acmecf origin check www.example.com
      acmecf origin check www.example.com --origin 203.0.113.7
      acmecf origin check www.example.com --origin 10.0.0.5:8443 --json
    """
    run_command(_origin_check, kwargs, origin_options)


def _origin_check(options: OriginOptions) -> None:
    import json

    from acmecf.errors import OriginError
    from acmecf.origin.handshake import parse_origin

    name = options["name"].lower().rstrip(".")
    store: FileStore = options.common.store()
    if options["origin_address"]:
        targets = [parse_origin(options["origin_address"], options["port"])]
    else:
        targets = _origins_from_zone(options, name)
    reports: list[OriginReport] = []
    for host, port in targets:
        reports.append(_check_one(options, store, name, host, port))
    if options["as_json"]:
        say(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        for report in reports:
            _print_report(report, quiet=options.quiet)
    failed = [r for r in reports if not r.ok]
    if failed:
        problems = sum(1 for r in failed for f in r.findings if f.ok is False)
        where = ", ".join(r.origin for r in failed)
        raise OriginError(
            f"the origin of {name} at {where} has {problems} problem"
            f"{'s' * (problems != 1)}: fix what the FAIL lines say, reload the web server, and "
            "check again"
        )


def _origins_from_zone(options: OriginOptions, name: str) -> list[tuple[str, int]]:
    from acmecf.cloudflare.zones import CloudflareZones
    from acmecf.origin.check import origin_addresses

    addresses = origin_addresses(CloudflareZones(_api(options)), name)
    return [(address, options["port"]) for address in addresses]


def _check_one(options: OriginOptions, store: Any, name: str, host: str, port: int) -> OriginReport:
    from acmecf.errors import OriginError
    from acmecf.origin.check import check_origin
    from acmecf.origin.findings import Finding, OriginReport

    try:
        return check_origin(
            name,
            host,
            port,
            store=store,
            ca_bundle=options["ca_bundle"],
            timeout=options["timeout"],
        )
    except OriginError as err:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return OriginReport(name, where, [Finding("connect", False, str(err))])


def _print_report(report: OriginReport, *, quiet: bool) -> None:
    if not quiet or not report.ok:
        click.echo(f"{report.name} at {report.origin}")
        for finding in report.findings:
            if not quiet or finding.ok is False:
                click.echo(f"  {finding.line()}")
    if report.ok and not quiet:
        click.echo(f"{report.name}: the origin passes every check")


# --- acmecf cloudflare ssl-mode / origin-pulls ------------------------------------------------


@cli.group(epilog=EXIT_CODES)
def cloudflare() -> None:
    """Zone settings that decide how Cloudflare talks to the origin."""


@cloudflare.command("ssl-mode", epilog=EXIT_CODES)
@click.argument("mode", required=False, type=click.Choice(["off", "flexible", "full", "strict"]))
@click.option("--zone", metavar="NAME|ID", help="The zone. Default: the only one the token sees.")
@click.option(
    "--force", is_flag=True, help="With strict: switch even when some origin fails the check."
)
@_check_options
@_credentials_option
@common_options
def ssl_mode(**kwargs: Any) -> None:
    """Show the zone's SSL/TLS encryption mode, or set it.

    Setting strict, Full (strict), first runs `acmecf origin check` on every proxied A, AAAA
    and CNAME host name of the zone, and refuses (naming each failing host) unless all pass:
    a host that fails would answer visitors with Cloudflare error 526. --force switches
    anyway. The token needs Zone > Zone Settings > Edit.

    \b
    Examples:
      acmecf cloudflare ssl-mode --zone example.com
      acmecf cloudflare ssl-mode --zone example.com strict
    """
    run_command(_ssl_mode, kwargs, origin_options)


def _ssl_mode(options: OriginOptions) -> None:
    from acmecf.cloudflare.zone_settings import CloudflareZoneSettings

    api = _api(options)
    zone = _zone(api, options["zone"])
    settings = CloudflareZoneSettings(api)
    current = settings.ssl_mode(zone)
    wanted = options["mode"]
    if wanted is None:
        click.echo(f"{_zone_label(zone)}: SSL mode {current} ({SSL_MODE_NAMES.get(current, '?')})")
        return
    if wanted == "strict" and current != "strict":
        _require_passing_origins(options, api, zone)
    if wanted != current:
        settings.set_ssl_mode(zone, wanted)
    if not options["quiet"]:
        was = f" (was {current})" if wanted != current else " (unchanged)"
        click.echo(f"{_zone_label(zone)}: SSL mode {wanted} ({SSL_MODE_NAMES[wanted]}){was}")
    if wanted in ("off", "flexible") and settings.origin_pulls(zone):
        click.echo(
            f"warning: origin pulls are on for {_zone_label(zone)} but do not apply in "
            f"{wanted} mode: Cloudflare now talks plain HTTP to the origin",
            err=True,
        )


def _require_passing_origins(options: OriginOptions, api: CloudflareApi, zone: Zone) -> None:
    from acmecf.cloudflare.zones import CloudflareZones
    from acmecf.origin.strict import check_zone_origins, refusal

    store = options.common.store()
    result = check_zone_origins(
        CloudflareZones(api),
        zone,
        lambda host, address: _check_one(options, store, host, address, options["port"]),
    )
    for host in result.skipped:
        say(f"skipped {host}: check its names one by one with acmecf origin check")
    if not options.quiet:
        for report in result.failed_reports:
            _print_report(report, quiet=True)
    if options.common.verbose:
        for passed in result.passed:
            say(f"{passed}: passes")
    if result.failures and not options["force"]:
        raise refusal(_zone_label(zone), result.failures)
    if result.failures:
        say(
            f"warning: switching despite {len(result.failures)} failing origin(s) (--force)",
            err=True,
        )


@cloudflare.command("origin-pulls", epilog=EXIT_CODES)
@click.argument("action", type=click.Choice(["enable", "disable", "status"]))
@click.option("--zone", metavar="NAME|ID", help="The zone. Default: the only one the token sees.")
@click.option(
    "--own-ca",
    is_flag=True,
    help="Present your own client certificate (from a private CA acmecf creates) instead of "
    "Cloudflare's shared one, so only your zone can pull from your origin.",
)
@click.option(
    "--hostname",
    "hostnames",
    multiple=True,
    metavar="HOST",
    help="Per-hostname origin pulls for this name (repeatable); uses your own CA.",
)
@_credentials_option
@common_options
def origin_pulls(**kwargs: Any) -> None:
    """Authenticated Origin Pulls: Cloudflare presents a client certificate to the origin.

    enable writes the CA the web server must trust (Cloudflare's origin-pull CA, checked
    against its pinned SHA-256; or, with --own-ca, a private CA whose client certificate and
    key are uploaded to Cloudflare) and switches the zone's tls_client_auth on. It refuses
    while the zone's SSL mode is off or flexible: origin pulls cannot work there. Then make
    the web server demand the certificate: `acmecf nginx-config NAME`. `acmecf renew` renews
    your own client certificate before it expires.

    disable switches them off; make the web server stop demanding a client certificate
    first, or Cloudflare gets 400 "No required SSL certificate was sent".

    The token needs Zone > Zone Settings > Edit and (--own-ca, --hostname) Zone > SSL and
    Certificates > Edit.

    \b
    Examples:
      acmecf cloudflare origin-pulls --zone example.com enable
      acmecf cloudflare origin-pulls --zone example.com enable --own-ca
      acmecf cloudflare origin-pulls --zone example.com enable --hostname www.example.com
      acmecf cloudflare origin-pulls --zone example.com status
    """
    run_command(_origin_pulls, kwargs, origin_options)


def _origin_pulls(options: OriginOptions) -> None:
    import datetime

    from acmecf.cloudflare.origin_pulls import CloudflareOriginPulls
    from acmecf.cloudflare.zone_settings import CloudflareZoneSettings
    from acmecf.errors import UsageError
    from acmecf.origin.pulls import disable, enable, others_on
    from acmecf.storage.origin_pulls import OriginPullFiles, OriginPullState

    api = _api(options)
    zone = _zone(api, options["zone"])
    label = _zone_label(zone)
    hostnames = [h.lower().rstrip(".") for h in options["hostnames"]]
    for hostname in hostnames:
        if zone.name and not (hostname == zone.name or hostname.endswith("." + zone.name)):
            raise UsageError(f"--hostname {hostname} is not in the zone {zone.name}")
    store = options.common.store()
    files = OriginPullFiles(store)
    settings, pulls = CloudflareZoneSettings(api), CloudflareOriginPulls(api)
    if options["action"] == "status":
        _origin_pulls_status(files, settings, pulls, zone)
        return
    credentials = options["credentials_file"]
    with store.lock(f"origin-pull.{label}"):
        state = files.load(label) or OriginPullState(
            zone.id, label, credentials_file=str(credentials) if credentials else None
        )
        if options["action"] == "enable":
            state = enable(
                files,
                settings,
                pulls,
                state,
                own_ca=options["own_ca"],
                hostnames=hostnames,
                now=datetime.datetime.now(datetime.UTC),
            )
        else:
            state = disable(settings, pulls, state, hostnames=hostnames)
        files.save(state)
    if options.quiet:
        return
    also = others_on(state, hostnames=hostnames)
    if options["action"] == "disable":
        what = ", ".join(hostnames) if hostnames else f"{label} (zone level)"
        click.echo(f"Origin pulls off for {what}.")
        click.echo(
            "  The web server must not demand a client certificate now (remove "
            "ssl_verify_client / SSLVerifyClient), or requests fail with 400."
        )
        for text in also:
            click.echo(f"  Unchanged: {text}.")
        return
    names = hostnames or [label]
    ca_file = files.ca_file_for(state, names[0])
    kind = (
        "your own client certificate"
        if state.mode_for(names[0]) == "own-ca"
        else ("Cloudflare's shared client certificate")
    )
    click.echo(f"Origin pulls on for {', '.join(names)}: Cloudflare presents {kind}.")
    if state.mode_for(names[0]) == "own-ca":
        click.echo("  Cloudflare reports the client certificate active (deployed).")
    for text in also:
        click.echo(f"  Unchanged: {text}.")
    click.echo(f"  The web server must trust: {ca_file}")
    if state.mode_for(names[0]) == "shared":
        click.echo(
            "  Cloudflare's shared certificate proves only that a request comes through "
            "Cloudflare, for anyone's zone; --own-ca limits it to yours."
        )
    example = hostnames[0] if hostnames else (zone.name or "NAME")
    click.echo(
        f"  Next: acmecf nginx-config {example} (ssl_client_certificate + ssl_verify_client "
        f"on), reload the web server, then acmecf origin check {example}"
    )


def _origin_pulls_status(
    files: OriginPullFiles,
    settings: CloudflareZoneSettings,
    pulls: CloudflareOriginPulls,
    zone: Zone,
) -> None:
    from acmecf.errors import CloudflareError
    from acmecf.origin.pulls import client_not_after

    label = _zone_label(zone)
    mode = settings.ssl_mode(zone)
    on = settings.origin_pulls(zone)
    click.echo(f"{label}: SSL mode {mode} ({SSL_MODE_NAMES.get(mode, '?')})")
    click.echo(f"{label}: origin pulls (tls_client_auth) {'on' if on else 'off'}")
    if on and mode in ("off", "flexible"):
        click.echo(f"  they do not apply in {mode} mode: switch to full or strict")
    try:
        own = pulls.zone_enabled(zone)
        uploaded = pulls.zone_certificates(zone)
        active = [c for c in uploaded if c.status == "active"]
        click.echo(
            f"{label}: zone certificate {'yours' if own and active else 'Cloudflare shared'}"
            f" ({len(uploaded)} uploaded)"
        )
    except CloudflareError as err:
        click.echo(f"{label}: cannot read the uploaded certificates ({err})")
    state = files.load(label)
    if state is None:
        click.echo(f"acmecf has set up nothing for {label} in {files.root}")
        return
    click.echo(f"acmecf: zone level {state.zone_level or 'off'}")
    for hostname in sorted(state.hostnames):
        click.echo(
            f"acmecf: {hostname} has its own association (certificate {state.hostnames[hostname]})"
        )
    if state.zone_level == "shared":
        click.echo(f"  web server CA: {files.shared_ca}")
    if state.uses_own_ca():
        not_after = client_not_after(files, label)
        click.echo(f"  web server CA: {files.ca(label)}")
        if not_after is not None:
            click.echo(
                f"  client certificate valid until {not_after:%Y-%m-%d} (acmecf renew renews it)"
            )
