"""The acmecf command line: parses flags, sets up logging, and turns errors into exit codes.

Thin by design: every command builds settings, calls the library, and prints the outcome. This
is the only module that knows click and the only place that chooses an exit code. Heavy
libraries (the ACME library, the Cloudflare SDK) are imported inside the commands that use
them, so `acmecf --help` starts fast.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from acmecf import __version__
from acmecf.errors import AcmecfError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES = """\b
Exit codes:
  0  success
  1  something failed (the message says what and what to do)
  2  usage error: bad option, name or credentials file
  130  interrupted (Ctrl-C or SIGTERM); challenge records were removed
"""

log = logging.getLogger("acmecf")


class _Interrupted(BaseException):
    """Raised from the SIGTERM handler so that cleanup runs as it does for Ctrl-C."""


def _common(function: F) -> F:
    """Options every command takes."""
    options = [
        click.option(
            "--config-dir",
            type=click.Path(file_okay=False, path_type=Path),
            envvar="ACMECF_CONFIG_DIR",
            help="Where accounts and certificates live. Default: /etc/acmecf for root, "
            "~/.config/acmecf otherwise. Env: ACMECF_CONFIG_DIR.",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Say more about each step."),
        click.option("-q", "--quiet", is_flag=True, help="Print only errors and warnings."),
        click.option("--debug", is_flag=True, help="Show API details and a traceback on errors."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES,
)
@click.version_option(__version__, prog_name="acmecf")
def cli() -> None:
    """Real TLS certificates for origin servers behind Cloudflare.

    acmecf orders certificates from Let's Encrypt (or any ACME CA), proves control of the
    names with DNS-01 TXT records published through the Cloudflare API, waits until every
    authoritative nameserver serves them, and writes the key and the full chain.

    \b
    Example:
      export CLOUDFLARE_API_TOKEN=...   # Zone > Zone > Read + Zone > DNS > Edit
      acmecf issue --agree-tos --email you@example.com -d example.com -d '*.example.com'
    """


@cli.command(epilog=EXIT_CODES)
@click.option(
    "-d",
    "--domain",
    "domains",
    multiple=True,
    required=True,
    metavar="NAME",
    help="A name for the certificate (repeat for more; '*.example.com' for a wildcard).",
)
@click.option("--cert-name", help="Name of the certificate's directory. Default: the first name.")
@click.option(
    "--key-type",
    type=click.Choice(["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"]),
    default="ecdsa-p256",
    show_default=True,
    help="Type of the certificate's new private key.",
)
@click.option(
    "--server",
    envvar="ACMECF_SERVER",
    metavar="URL",
    help="ACME directory URL. Default: Let's Encrypt production. Env: ACMECF_SERVER.",
)
@click.option("--staging", is_flag=True, help="Use Let's Encrypt's staging server (for trials).")
@click.option("--email", envvar="ACMECF_EMAIL", help="Contact address for the ACME account.")
@click.option("--agree-tos", is_flag=True, help="Accept the CA's terms of service (first run).")
@click.option(
    "--ca-bundle",
    envvar="ACMECF_CA_BUNDLE",
    metavar="PEM",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this CA for the ACME server's HTTPS (private CAs). Env: ACMECF_CA_BUNDLE.",
)
@click.option(
    "--cloudflare-credentials",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File with dns_cloudflare_api_token = ... (mode 600). "
    "Default: CLOUDFLARE_API_TOKEN, or CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY.",
)
@click.option(
    "--zone-id",
    metavar="ID",
    help="Cloudflare zone id of every name; lets a token with only DNS > Edit work.",
)
@click.option(
    "--dns-resolver",
    "dns_resolvers",
    multiple=True,
    envvar="ACMECF_DNS_RESOLVER",
    metavar="HOST[:PORT]",
    help="Resolver for finding zones and nameservers (repeatable). Default: the system's.",
)
@click.option(
    "--nameserver-port",
    type=click.IntRange(1, 65535),
    default=53,
    envvar="ACMECF_NAMESERVER_PORT",
    show_default=True,
    help="Port on which authoritative nameservers are asked (test beds).",
)
@click.option(
    "--propagation-timeout",
    default="3m",
    show_default=True,
    metavar="DURATION",
    help="Give up when DNS does not serve every record by then (e.g. 90s, 5m).",
)
@_common
def issue(**options: Any) -> None:
    """Obtain a certificate and write it under <config-dir>/live/<cert-name>/.

    Writes cert.pem (the leaf), chain.pem (the intermediates), fullchain.pem (both; point
    nginx's ssl_certificate here) and privkey.pem (mode 600). The new files replace the old
    ones in one atomic step; on any failure the old ones stay as they were, and every TXT
    record this run created is removed.

    \b
    Examples:
      acmecf issue --agree-tos --email you@example.com -d example.com -d '*.example.com'
      acmecf issue --staging -d www.example.com --key-type rsa-2048
      acmecf issue -d example.com --zone-id 023e105f4ecef8ad9ca31a8372d0c353
    """
    _run(_issue, options)


def _issue(options: dict[str, Any]) -> None:
    from acmecf.config import load_credentials, parse_duration, parse_resolvers
    from acmecf.names import normalize_names
    from acmecf.store import Store, check_cert_name, default_config_dir

    names = normalize_names(list(options["domains"]))
    cert_name = check_cert_name(options["cert_name"] or names[0].removeprefix("*."))
    timeout = parse_duration(options["propagation_timeout"], "--propagation-timeout")
    resolvers = parse_resolvers(options["dns_resolvers"])
    credentials = load_credentials(os.environ, options["cloudflare_credentials"])
    server = _server(options)
    store = Store(options["config_dir"] or default_config_dir())
    store.prepare()

    from acmecf.acme_client import AcmeSession
    from acmecf.cloudflare import CloudflareDns
    from acmecf.issue import IssueRequest, issue_certificate
    from acmecf.propagation import PropagationChecker

    dns = CloudflareDns(
        credentials,
        base_url=os.environ.get("CLOUDFLARE_BASE_URL") or None,
        zone_id=options["zone_id"],
    )
    propagation = PropagationChecker(
        resolvers=resolvers, nameserver_port=options["nameserver_port"]
    )
    acme = AcmeSession.open(
        server,
        store,
        email=options["email"],
        agree_tos=options["agree_tos"],
        ca_bundle=options["ca_bundle"],
    )
    result = issue_certificate(
        IssueRequest(
            names=names,
            cert_name=cert_name,
            key_type=options["key_type"],
            propagation_timeout=timeout,
        ),
        acme=acme,
        dns=dns,
        propagation=propagation,
        store=store,
    )
    log.debug("Cloudflare API calls: %d", dns.api_calls)
    expiry = result.chain.not_after
    if not options["quiet"]:
        click.echo(
            f"Certificate {result.cert_name} issued for {', '.join(result.names)}, "
            f"valid until {expiry:%Y-%m-%d %H:%M} UTC."
        )
        click.echo(f"  fullchain: {result.live.fullchain}")
        click.echo(f"  privkey:   {result.live.privkey}")


def _server(options: dict[str, Any]) -> str:
    from acmecf.errors import UsageError

    staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    production = "https://acme-v02.api.letsencrypt.org/directory"
    if options.get("staging"):
        if options.get("server") and options["server"] != staging:
            raise UsageError("--staging and --server name different servers: give one of them")
        return staging
    server = str(options.get("server") or production)
    if not server.startswith("https://"):
        raise UsageError(f"invalid --server {server!r}: an ACME directory URL starts with https://")
    return server


@cli.group()
def sandbox() -> None:
    """A local test bed: Pebble (a test ACME CA) and a Cloudflare API emulator.

    Everything runs on this machine on free loopback ports; nothing reaches Let's Encrypt or
    Cloudflare. Needs Debian's `pebble` package (apt-get install pebble).
    """


@sandbox.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the test bed and the issued files go. Default: a new temporary directory.",
)
@click.option(
    "--delay",
    "delays",
    default="0.5,0.5,2",
    show_default=True,
    metavar="S,S,S",
    help="Propagation delay of each emulated nameserver, in seconds.",
)
@_common
def sandbox_demo(**options: Any) -> None:
    """Issue example.com + *.example.com end to end on the test bed and verify the chain.

    \b
    Example:
      acmecf sandbox demo --workdir ./demo
    """
    _run(_sandbox_demo, options)


def _sandbox_demo(options: dict[str, Any]) -> None:
    from acmecf.sandbox.demo import run_demo

    run_demo(options["workdir"], _delays(options["delays"]), echo=click.echo)


@sandbox.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the test bed keeps its files. Default: a new temporary directory.",
)
@click.option(
    "--delay",
    "delays",
    default="0,0,0",
    show_default=True,
    metavar="S,S,S",
    help="Propagation delay of each emulated nameserver, in seconds.",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@_common
def sandbox_run(**options: Any) -> None:
    """Start the test bed, run COMMAND with its settings in the environment, then stop it.

    COMMAND sees ACMECF_SERVER, ACMECF_CA_BUNDLE, CLOUDFLARE_BASE_URL, CLOUDFLARE_API_TOKEN,
    ACMECF_DNS_RESOLVER and ACMECF_NAMESERVER_PORT, so a plain `acmecf issue` talks to it.

    \b
    Example:
      acmecf sandbox run -- acmecf issue --agree-tos -d example.com --config-dir ./try
    """
    _run(_sandbox_run, options)


def _sandbox_run(options: dict[str, Any]) -> None:
    import subprocess
    import tempfile

    from acmecf.sandbox.testbed import start_sandbox

    workdir = options["workdir"] or Path(tempfile.mkdtemp(prefix="acmecf-sandbox-"))
    with start_sandbox(workdir, nameserver_delays=_delays(options["delays"])) as bed:
        env = {**os.environ, **bed.client_environment()}
        completed = subprocess.run(list(options["command"]), env=env, check=False)
    sys.exit(completed.returncode)


def _delays(text: str) -> list[float]:
    from acmecf.errors import UsageError

    try:
        delays = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise UsageError(f"invalid --delay {text!r}: expected seconds such as 0,0,2") from err
    if not delays or any(d < 0 for d in delays):
        raise UsageError(f"invalid --delay {text!r}: expected seconds such as 0,0,2")
    return delays


def _run(command: Callable[[dict[str, Any]], None], options: dict[str, Any]) -> None:
    """The error boundary: run a command, turn every failure into one line and an exit code."""
    from acmecf.config import redact

    debug = bool(options.get("debug"))
    _setup_logging(
        debug=debug, verbose=bool(options.get("verbose")), quiet=bool(options.get("quiet"))
    )
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        command(options)
    except AcmecfError as err:
        _fail(redact(str(err)), err.exit_code, debug)
    except (KeyboardInterrupt, _Interrupted):
        _fail("interrupted; the live certificate is unchanged", 130, debug)
    except click.exceptions.Exit:
        raise
    except Exception as err:  # a bug, or a failure we did not foresee
        _fail(
            redact(f"unexpected error: {type(err).__name__}: {err}")
            + " (run again with --debug and report it)",
            1,
            debug,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(message: str, code: int, debug: bool) -> NoReturn:
    from acmecf.config import redact

    if debug:
        click.echo(redact(traceback.format_exc()), err=True)
    click.echo(f"acmecf: error: {message}", err=True)
    sys.exit(code)


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Interrupted()


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from acmecf.config import redact

        return redact(super().format(record))


def _setup_logging(*, debug: bool, verbose: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if debug:
        handler.setFormatter(_RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    else:
        handler.setFormatter(_RedactingFormatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    level = logging.DEBUG if (debug or verbose) else logging.WARNING if quiet else logging.INFO
    logging.getLogger("acmecf").setLevel(level)


def main() -> None:
    cli(prog_name="acmecf")
