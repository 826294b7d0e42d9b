"""Commands that print web server configuration for a name acmecf holds a certificate for:
nginx-config and apache-config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from acmecf.cli.base import EXIT_CODES, cli, common_options, run_command
from acmecf.cli.options import CERT_NAME
from acmecf.cli.origin import OriginOptions, origin_options

# --- acmecf nginx-config / apache-config ------------------------------------------------------


def _site_options(function: Any) -> Any:
    options = [
        click.argument("name"),
        click.option(
            "--cert-name", type=CERT_NAME, help="Use this certificate. Default: the one for NAME."
        ),
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
def nginx_config(**kwargs: Any) -> None:
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
    run_command(lambda o: _render(o, "nginx"), kwargs, origin_options)


@cli.command("apache-config", epilog=EXIT_CODES)
@_site_options
@common_options
def apache_config(**kwargs: Any) -> None:
    """Print Apache virtual hosts for NAME: a first, catch-all virtual host that denies
    unknown host names, and the site.

    The site uses fullchain.pem and privkey.pem (Apache 2.4.8 or later), TLS 1.2 and 1.3,
    and, when origin pulls are on for NAME's zone, SSLCACertificateFile with the origin-pull
    CA, SSLVerifyClient require and SSLVerifyDepth 1. Annotated copies: examples/apache/.

    \b
    Examples:
      acmecf apache-config www.example.com > /etc/apache2/sites-available/www.example.com.conf
    """
    run_command(lambda o: _render(o, "apache"), kwargs, origin_options)


def _render(options: OriginOptions, server: str) -> None:
    from acmecf.errors import InvalidNameError, UsageError
    from acmecf.names import normalize_name
    from acmecf.origin.check import held_certificate
    from acmecf.origin.webserver import Site, render_apache, render_nginx
    from acmecf.storage.origin_pulls import OriginPullFiles

    try:
        name = normalize_name(options["name"])
    except InvalidNameError as err:
        raise UsageError(f"invalid NAME {options['name']!r}: {err}") from err
    store = options.common.store()
    if options["cert_name"]:
        cert_name = options["cert_name"]
        live = store.live_paths(cert_name)
        if store.live_version(cert_name) is None:
            raise UsageError(f"no live certificate {cert_name!r} in {store.config_dir}")
    else:
        held = held_certificate(store, name)
        if held is None:
            raise UsageError(
                f"acmecf holds no certificate for {name} in {store.config_dir}: issue one "
                f"first (acmecf issue -d {name}), or pass --cert-name"
            )
        cert_name = held.cert_name
        live = store.live_paths(cert_name)
    client_ca = options["client_ca"]
    if client_ca is None:
        files = OriginPullFiles(store)
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
