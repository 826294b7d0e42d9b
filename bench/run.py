#!/usr/bin/env python3
"""acmecf's benchmark (issue 4), side by side with certbot and lego. Run it with `make bench`.

It makes what it needs: the project's virtualenv (`make install`, re-running itself there),
the peers' own virtualenv (bench/.venv-peers: certbot, certbot-dns-cloudflare,
certbot-dns-multi), and the test bed: Pebble plus the Cloudflare emulator, whose three
nameservers see every change 0.5 s, 0.5 s and 2 s after the API call. Then it times the five
measurements of the issue for acmecf and the peers, prints a table of medians with the ratio
to each target, and writes the same figures to bench/results.json.

Everything stays on loopback; every command has a timeout, so the benchmark always ends.
Does not: change anything outside its temporary work directory and bench/.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT_VENV = ROOT / ".venv"
PEERS_VENV = ROOT / "bench" / ".venv-peers"
DEFAULT_JSON = ROOT / "bench" / "results.json"
NAMESERVER_DELAYS = (0.5, 0.5, 2.0)
# Pebble's defaults add noise no real CA has: it reuses a valid authorization for half the
# orders (so a renewal may skip DNS altogether) and rejects 5% of good nonces.
PEBBLE_ENV = {"PEBBLE_AUTHZREUSE": "0", "PEBBLE_WFE_NONCEREJECT": "0"}
# Inherited variables that would change what a client does; the benchmark sets its own.
CLIENT_VARIABLE_PREFIXES = ("ACMECF_", "CLOUDFLARE_", "CF_", "REQUESTS_CA_BUNDLE")


def main() -> None:
    arguments = parse_arguments()
    use_project_venv()
    # Imported only now: they need acmecf, which lives in the project's virtualenv.
    import peers
    import report
    import scenarios

    from acmecf.sandbox.testbed import start_sandbox

    started = time.monotonic()
    options = scenarios.Options(
        runs=arguments.runs,
        startup_runs=arguments.startup_runs,
        peer_certificates=arguments.peer_certificates,
        peer_renew_runs=arguments.peer_runs,
        peer_lineages=arguments.peer_lineages,
        multi_default_runs=arguments.multi_default_runs,
        parallel=arguments.parallel,
    )
    acmecf = str(PROJECT_VENV / "bin" / "acmecf")
    env = client_free_environment()
    tools: peers.PeerTools | None = None
    peers_missing = "--no-peers was given"
    if not arguments.no_peers:
        try:
            tools = peers.prepare(PEERS_VENV)
            print("peers: " + ", ".join(f"{k} {v}" for k, v in tools.versions.items()))
        except peers.PeersUnavailable as err:
            peers_missing = f"the peers could not be installed: {err}"
            print(f"peers: NOT AVAILABLE: {err}", file=sys.stderr)

    work = Path(tempfile.mkdtemp(prefix="acmecf-bench-"))
    print(f"work directory: {work}")
    rows: list[report.Row] = []
    try:
        print("run 4: --help start-up")
        rows_startup = scenarios.startup(acmecf, sys.executable, tools, peers_missing, options, env)
        print("starting Pebble and the Cloudflare emulator, nameserver delays "
              f"{'/'.join(f'{d:g}' for d in NAMESERVER_DELAYS)} s")  # fmt: skip
        with start_sandbox(
            work / "sandbox",
            zones=(scenarios.ZONE,),
            nameserver_delays=NAMESERVER_DELAYS,
            pebble_env=PEBBLE_ENV,
        ) as bed:
            bench = scenarios.Bench(bed, work, acmecf, tools, peers_missing, options, env)
            print("run 1: one certificate, example.com + *.example.com")
            issue_times, issue_calls = bench.issue_one()
            print(f"run 2: {scenarios.RENEW_COUNT} due certificates in one renew")
            renew_times, renew_memory, renew_calls = bench.renew_many()
            print(f"run 3: renew with nothing due, {scenarios.STORED_COUNT} stored")
            nothing_due = bench.nothing_due()
            parallel_note = bench.parallel_note
            tuned_wait = bench.tuned_wait
            resolver = bench.resolver()
        rows = [
            *issue_times, *renew_times, *nothing_due, *rows_startup,
            *renew_memory, *issue_calls, *renew_calls,
        ]  # fmt: skip
    finally:
        discard_work(work, keep=arguments.keep_work)

    elapsed = time.monotonic() - started
    notes = how_measured(tools, peers_missing, parallel_note, tuned_wait, resolver, options)
    headline = (
        f"acmecf benchmark: medians, {options.runs} runs unless n says otherwise; "
        f"Pebble + Cloudflare emulator, nameserver delays "
        f"{'/'.join(f'{d:g}' for d in NAMESERVER_DELAYS)} s; {os.cpu_count()} CPUs"
    )
    context = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": versions(tools),
        "nameserver_delays": list(NAMESERVER_DELAYS),
        "pebble_environment": PEBBLE_ENV,
        "options": vars(arguments),
        "total_seconds": round(elapsed, 1),
        "notes": notes,
    }
    report.publish(headline, rows, notes, arguments.json, context)
    print(f"\nwrote {arguments.json}; total time {elapsed / 60:.1f} min")
    failed = [row for row in rows if row.verdict in ("FAIL", "FAILED") and row.ours]
    sys.exit(1 if failed and arguments.strict else 0)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark acmecf against certbot and lego on the local test bed.",
        epilog="Example: make bench   (or: python3 bench/run.py --runs 5)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument(
        "--startup-runs", type=int, default=10, help="runs of each --help (default 10)"
    )
    parser.add_argument(
        "--parallel", type=int, help="pass --parallel N to acmecf renew (default: its own)"
    )
    parser.add_argument(
        "--peer-certificates",
        type=int,
        default=5,
        help="lineages the peers renew in run 2, extrapolated to 50 (default 5)",
    )
    parser.add_argument(
        "--peer-runs", type=int, default=1, help="runs of the peers' renewals (default 1)"
    )
    parser.add_argument(
        "--peer-lineages",
        type=int,
        default=1000,
        help="lineages certbot checks in run 3 (default 1000)",
    )
    parser.add_argument(
        "--multi-default-runs",
        type=int,
        default=1,
        help="runs of certbot-dns-multi with its default 60 s wait (default 1)",
    )
    parser.add_argument("--no-peers", action="store_true", help="measure acmecf only")
    parser.add_argument("--keep-work", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    arguments = parser.parse_args()
    for name in ("runs", "startup_runs", "peer_certificates", "peer_runs", "peer_lineages"):
        if not 1 <= getattr(arguments, name) <= 5000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 5000")
    arguments.json = arguments.json.resolve()
    return arguments


def use_project_venv() -> None:
    """Re-run this script with the project's virtualenv, making it (`make install`) if needed."""
    if Path(sys.prefix).resolve() == PROJECT_VENV.resolve():
        return
    python = PROJECT_VENV / "bin" / "python"
    print("preparing the project's virtualenv: make system-deps install")
    subprocess.run(["make", "-C", str(ROOT), "system-deps", "install"], check=True, timeout=1800)
    os.execv(python, [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def discard_work(work: Path, *, keep: bool) -> None:
    """Remove the work directory, or (--keep-work) say where it is."""
    if keep:
        print(f"kept the work directory: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def client_free_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CLIENT_VARIABLE_PREFIXES)
    }


def versions(tools: Any) -> dict[str, str]:
    from acmecf import __version__

    found = {"acmecf": __version__}
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if commit.returncode == 0:
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "acmecf"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout.strip()
        found["acmecf commit"] = commit.stdout.strip() + (" + uncommitted changes" if dirty else "")
    pebble = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "pebble"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if pebble.returncode == 0:
        found["pebble"] = pebble.stdout.strip()
    if tools is not None:
        found.update(tools.versions)
    return found


def how_measured(
    tools: Any,
    peers_missing: str,
    parallel_note: str,
    tuned_wait: int,
    resolver: str,
    options: Any,
) -> list[str]:
    notes = [
        "time: wall clock of the whole command, from starting the process to reaping it "
        "(start-up, imports, account registration where the config is fresh, and writing "
        "files included); memory: largest summed RSS of the process tree",
        "every command gets a fresh Cloudflare API token (the 1200 requests per 5 minutes "
        "limit is per token) and its own config directory; API calls are counted in the "
        "emulator's request log, zone lookups included",
        f"Pebble runs with {' '.join(f'{k}={v}' for k, v in PEBBLE_ENV.items())} "
        "(no authorization reuse, so every renewal really waits for DNS; no random nonce "
        "rejection) and validates through the emulator's resolver, which sees a record only "
        "once the slowest nameserver serves it",
        f"run 2: {parallel_note}",
        "run 3 and the 1000 renewal files: `acmecf renew` reads only its renewal/*.toml",
    ]
    if tools is None:
        notes.append(f"peers: {peers_missing}")
        return notes
    notes += [
        "certbot + certbot-dns-cloudflare: creates the TXT records, then sleeps a fixed "
        "--dns-cloudflare-propagation-seconds (default 10 s) and never checks DNS; measured "
        f"with its default and with {tuned_wait} s, the emulated slowest delay rounded up to "
        "whole seconds (the option takes an integer)",
        "lego via certbot-dns-multi: the plugin calls only lego's Cloudflare provider "
        "(Present/CleanUp); lego's own propagation check, which would ask the authoritative "
        "nameservers on port 53 (the emulator serves them on another port), never runs. "
        "certbot then sleeps --dns-multi-propagation-seconds (default 60 s); measured with "
        f"{tuned_wait} s and (n={options.multi_default_runs}) with its default. "
        f"--dns-multi-nameservers {resolver} (the emulator's resolver): lego's provider finds "
        "the zone (SOA) and follows CNAMEs through recursive DNS before calling the API, and "
        "the system's resolver does not know the emulated zones",
        "certbot's renewals run with --no-random-sleep-on-renew: without a terminal certbot "
        "otherwise sleeps up to 8 minutes first (acmecf sleeps only with --random-sleep); "
        "peers' wait in run 2 is given on the command line, which overrides the stored value",
        f"run 2 for peers: `certbot renew --force-renewal` over {options.peer_certificates} "
        f"lineages, {options.peer_renew_runs} run(s), scaled by 50/{options.peer_certificates}:"
        " certbot renews one lineage after another. certbot-dns-multi with its default 60 s "
        "wait was not renewed (see its row)",
        f"run 3 for peers: `certbot renew` (nothing due) over {options.peer_lineages} lineages "
        "cloned from one real lineage; certbot reads and parses every certificate",
    ]
    return notes


if __name__ == "__main__":
    main()
