"""Commands that lock the origin down: origin check, cloudflare ssl-mode, cloudflare
origin-pulls, nginx-config and apache-config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from acmecf.cli.base import EXIT_CODES, cli, common_options, run_command, store_from

if TYPE_CHECKING:
    from acmecf.cloudflare import CloudflareApi, CloudflareOriginPulls, CloudflareZoneSettings, Zone
    from acmecf.origin import OriginReport
    from acmecf.origin_pull import OriginPullFiles

SSL_MODE_NAMES = {"off": "Off", "flexible": "Flexible", "full": "Full", "strict": "Full (strict)"}


def _credentials_option(function: Any) -> Any:
    return click.option(
        "--cloudflare-credentials",
        metavar="FILE",
        type=click.Path(dir_okay=False, resolve_path=True, path_type=Path),
        help="File with dns_cloudflare_api_token = ... (mode 600). "
        "Default: CLOUDFLARE_API_TOKEN, or CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY.",
    )(function)


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


def _api(options: dict[str, Any]) -> CloudflareApi:
    from acmecf.cloudflare import CloudflareApi, RequestBudget
    from acmecf.config import cloudflare_budget, load_credentials

    credentials = load_credentials(os.environ, options.get("cloudflare_credentials"))
    limit, window = cloudflare_budget(os.environ)
    return CloudflareApi(
        credentials,
        base_url=os.environ.get("CLOUDFLARE_BASE_URL") or None,
        budget=RequestBudget(limit, window),
    )


def _zone(api: CloudflareApi, zone: str | None) -> Zone:
    from acmecf.cloudflare import CloudflareZones

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
def origin_check(**options: Any) -> None:
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
    run_command(_origin_check, options)


def _origin_check(options: dict[str, Any]) -> None:
    import json

    from acmecf.origin import OriginError, parse_origin
    from acmecf.store import Store

    name = options["name"].lower().rstrip(".")
    store: Store = store_from(options)
    if options["origin_address"]:
        targets = [parse_origin(options["origin_address"], options["port"])]
    else:
        targets = _origins_from_zone(options, name)
    reports: list[OriginReport] = []
    for host, port in targets:
        reports.append(_check_one(options, store, name, host, port))
    if options["as_json"]:
        click.echo(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        for report in reports:
            _print_report(report, quiet=options["quiet"])
    failed = [r for r in reports if not r.ok]
    if failed:
        problems = sum(1 for r in failed for f in r.findings if f.ok is False)
        where = ", ".join(r.origin for r in failed)
        raise OriginError(
            f"the origin of {name} at {where} has {problems} problem"
            f"{'s' * (problems != 1)}: fix what the FAIL lines say, reload the web server, and "
            "check again"
        )


def _origins_from_zone(options: dict[str, Any], name: str) -> list[tuple[str, int]]:
    from acmecf.cloudflare import CloudflareZones
    from acmecf.origin import origin_addresses

    addresses = origin_addresses(CloudflareZones(_api(options)), name)
    return [(address, options["port"]) for address in addresses]


def _check_one(
    options: dict[str, Any], store: Any, name: str, host: str, port: int
) -> OriginReport:
    from acmecf.origin import Finding, OriginError, OriginReport, check_origin

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
def ssl_mode(**options: Any) -> None:
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
    run_command(_ssl_mode, options)


def _ssl_mode(options: dict[str, Any]) -> None:
    from acmecf.cloudflare import CloudflareZoneSettings

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


def _require_passing_origins(options: dict[str, Any], api: CloudflareApi, zone: Zone) -> None:
    from acmecf.cloudflare import CloudflareZones
    from acmecf.origin import OriginError, origin_addresses

    zones = CloudflareZones(api)
    store = store_from(options)
    hosts = sorted({r.name for r in zones.address_records(zone) if r.proxied})
    failures: list[str] = []
    for host in hosts:
        if host.startswith("*."):
            click.echo(f"skipped {host}: check its names one by one with acmecf origin check")
            continue
        try:
            targets = [(a, options["port"]) for a in origin_addresses(zones, host)]
        except OriginError as err:
            failures.append(f"{host} ({err})")
            continue
        for address, port in targets:
            report = _check_one(options, store, host, address, port)
            if not report.ok:
                first = next(f for f in report.findings if f.ok is False)
                failures.append(f"{host} at {report.origin} ({first.check}: {first.message})")
                if not options["quiet"]:
                    _print_report(report, quiet=True)
            elif options["verbose"]:
                click.echo(f"{host} at {report.origin}: passes")
    if failures and not options["force"]:
        raise OriginError(
            f"refusing Full (strict) for {_zone_label(zone)}: {len(failures)} origin"
            f"{'s' * (len(failures) != 1)} would fail with error 526: "
            + "; ".join(failures)
            + ". Fix them (acmecf origin check NAME says how), or pass --force"
        )
    if failures:
        click.echo(
            f"warning: switching despite {len(failures)} failing origin(s) (--force)", err=True
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
def origin_pulls(**options: Any) -> None:
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
    run_command(_origin_pulls, options)


def _origin_pulls(options: dict[str, Any]) -> None:
    import datetime

    from acmecf.cloudflare import CloudflareOriginPulls, CloudflareZoneSettings
    from acmecf.errors import UsageError
    from acmecf.origin_pull import OriginPullFiles, OriginPullState, disable, enable

    api = _api(options)
    zone = _zone(api, options["zone"])
    label = _zone_label(zone)
    hostnames = [h.lower().rstrip(".") for h in options["hostnames"]]
    for hostname in hostnames:
        if zone.name and not (hostname == zone.name or hostname.endswith("." + zone.name)):
            raise UsageError(f"--hostname {hostname} is not in the zone {zone.name}")
    store = store_from(options)
    files = OriginPullFiles(store.config_dir)
    settings, pulls = CloudflareZoneSettings(api), CloudflareOriginPulls(api)
    if options["action"] == "status":
        _origin_pulls_status(files, settings, pulls, zone)
        return
    credentials = options.get("cloudflare_credentials")
    with store.lock():
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
    if options["quiet"]:
        return
    if options["action"] == "disable":
        what = ", ".join(hostnames) if hostnames else label
        click.echo(f"Origin pulls off for {what}.")
        click.echo(
            "  The web server must not demand a client certificate now (remove "
            "ssl_verify_client / SSLVerifyClient), or requests fail with 400."
        )
        return
    names = hostnames or [label]
    ca_file = files.ca_file_for(state, names[0])
    kind = (
        "your own client certificate"
        if state.mode_for(names[0]) == "own-ca"
        else ("Cloudflare's shared client certificate")
    )
    click.echo(f"Origin pulls on for {', '.join(names)}: Cloudflare presents {kind}.")
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
        not_after = files.client_not_after(label)
        click.echo(f"  web server CA: {files.ca(label)}")
        if not_after is not None:
            click.echo(
                f"  client certificate valid until {not_after:%Y-%m-%d} (acmecf renew renews it)"
            )


# --- acmecf nginx-config / apache-config ------------------------------------------------------


def _site_options(function: Any) -> Any:
    options = [
        click.argument("name"),
        click.option("--cert-name", help="Use this certificate. Default: the one for NAME."),
        click.option(
            "--listen",
            default="443",
            show_default=True,
            metavar="PORT|ADDRESS:PORT",
            help="Where the server listens.",
        ),
        click.option(
            "--proxy-pass", metavar="URL", help="Your application, e.g. http://127.0.0.1:8080."
        ),
        click.option(
            "--root",
            type=click.Path(path_type=Path),
            default=Path("/var/www/html"),
            show_default=True,
            help="Document root when there is no --proxy-pass.",
        ),
        click.option(
            "--client-ca",
            metavar="PEM",
            type=click.Path(dir_okay=False, resolve_path=True, path_type=Path),
            help="Demand client certificates from this CA. Default: the origin-pull CA when "
            "origin pulls are on for NAME (acmecf cloudflare origin-pulls enable).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@cli.command("nginx-config", epilog=EXIT_CODES)
@_site_options
@common_options
def nginx_config(**options: Any) -> None:
    """Print nginx server blocks for NAME: the site, and a default server that refuses unknown
    host names.

    The site uses fullchain.pem and privkey.pem of the certificate acmecf holds for NAME, TLS
    1.2 and 1.3, and, when origin pulls are on for NAME's zone, the origin-pull CA with
    ssl_verify_client on. The default_server rejects the TLS handshake of unknown names and
    answers `return 444` to unknown Host headers. Annotated copies: examples/nginx/.

    \b
    Examples:
      acmecf nginx-config www.example.com > /etc/nginx/conf.d/www.example.com.conf
      acmecf nginx-config www.example.com --proxy-pass http://127.0.0.1:8080
    """
    run_command(lambda o: _render(o, "nginx"), options)


@cli.command("apache-config", epilog=EXIT_CODES)
@_site_options
@common_options
def apache_config(**options: Any) -> None:
    """Print Apache virtual hosts for NAME: a first, catch-all virtual host that denies
    unknown host names, and the site.

    The site uses fullchain.pem and privkey.pem (Apache 2.4.8 or later), TLS 1.2 and 1.3,
    and, when origin pulls are on for NAME's zone, SSLCACertificateFile with the origin-pull
    CA, SSLVerifyClient require and SSLVerifyDepth 1. Annotated copies: examples/apache/.

    \b
    Examples:
      acmecf apache-config www.example.com > /etc/apache2/sites-available/www.example.com.conf
    """
    run_command(lambda o: _render(o, "apache"), options)


def _render(options: dict[str, Any], server: str) -> None:
    from acmecf.errors import UsageError
    from acmecf.origin import held_certificate
    from acmecf.origin_pull import OriginPullFiles
    from acmecf.store import check_cert_name
    from acmecf.webserver import Site, render_apache, render_nginx

    name = options["name"].lower().rstrip(".")
    store = store_from(options)
    if options["cert_name"]:
        live = store.live(check_cert_name(options["cert_name"]))
        cert_name = options["cert_name"]
        if not live.fullchain.exists():
            raise UsageError(f"no live certificate {cert_name!r} in {store.config_dir}")
    else:
        held = held_certificate(store, name)
        if held is None:
            raise UsageError(
                f"acmecf holds no certificate for {name} in {store.config_dir}: issue one "
                f"first (acmecf issue -d {name}), or pass --cert-name"
            )
        cert_name = held.cert_name
        live = store.live(cert_name)
    client_ca = options["client_ca"]
    if client_ca is None:
        files = OriginPullFiles(store.config_dir)
        state = files.state_for_name(name)
        client_ca = files.ca_file_for(state, name) if state is not None else None
    site = Site(
        name=name,
        fullchain=live.fullchain,
        privkey=live.privkey,
        client_ca=client_ca,
        listen=options["listen"],
        upstream=options["proxy_pass"],
        root=options["root"],
        cert_name=cert_name,
    )
    text = render_nginx(site) if server == "nginx" else render_apache(site)
    click.echo(text, nl=False)
