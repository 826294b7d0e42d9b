"""`acmecf sandbox`: the local test bed (Pebble and the Cloudflare emulator) for trying acmecf."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from acmecf.cli.base import Common, cli, common_options, run_command


def _with_common(common: Common, kwargs: Any) -> dict[str, Any]:
    return {**kwargs, "common": common}


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
@common_options
def sandbox_demo(**kwargs: Any) -> None:
    """Issue example.com + *.example.com end to end on the test bed and verify the chain.

    \b
    Example:
      acmecf sandbox demo --workdir ./demo
    """
    run_command(_sandbox_demo, kwargs, _with_common)


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
@common_options
def sandbox_run(**kwargs: Any) -> None:
    """Start the test bed, run COMMAND with its settings in the environment, then stop it.

    COMMAND sees ACMECF_SERVER, ACMECF_CA_BUNDLE, CLOUDFLARE_BASE_URL, CLOUDFLARE_API_TOKEN,
    ACMECF_DNS_RESOLVER and ACMECF_NAMESERVER_PORT, so a plain `acmecf issue` talks to it.

    \b
    Example:
      acmecf sandbox run -- acmecf issue --agree-tos -d example.com --config-dir ./try
    """
    run_command(_sandbox_run, kwargs, _with_common)


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
