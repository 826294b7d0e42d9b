#!/usr/bin/env python3
"""Thousands of certificates in one run (issue 14). Run it with `make bench-thousands`.

1,000 certificates (apex + wildcard each) over three zones, renewed in one
`acmecf renew --force` against Pebble and the Cloudflare emulator, which enforces Cloudflare's
1,200 requests per 5 minutes per user; the same run with batching off (ACMECF_DNS_BATCH=off);
one certificate alone, batching on and off; and certbot's figure for 1,000, computed from its
measured per-certificate time and API calls and the API limit. It prints wall time, Cloudflare
calls per certificate, peak memory and the ratio to each target, then where the time went:
the CPU acmecf, Pebble and the emulator used, the machine's load, and the same renewal with
every nameserver delay at 0.

The certificates are obtained once first (untimed, batching on), so the timed runs are
renewals with ARI `replaces`, as Let's Encrypt sees them. Every timed command runs with a
fresh Cloudflare user (the limit is per user) and the emulator's log cleared before it.

Pebble: its in-memory store deadlocks under a few hundred concurrent orders (wfe.Authz holds
an authorization's lock while it asks the store for the account; new-order holds the store's
read lock while it waits for that authorization's lock; a queued writer then blocks both).
`--pebble PATH` runs another build, e.g. one with bench/pebble-store-lock.patch (the README
says how to build it); the notes say which binary ran.

Does not: change anything outside its temporary work directory and bench/.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import resource
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "thousands.json"
PEERS_VENV = ROOT / "bench" / ".venv-peers"
ZONES = ("example.com", "example.net", "example.org")
NAMESERVER_DELAYS = (0.5, 0.5, 2.0)
PEBBLE_ENV = {"PEBBLE_AUTHZREUSE": "0", "PEBBLE_WFE_NONCEREJECT": "0"}
API_LIMIT = (1200, 300.0)  # Cloudflare's: requests per seconds, per user
TIME_TARGET = 90.0
CALLS_TARGET = 0.05
MEMORY_TARGET = 300 * 1_000_000
SINGLE_TOLERANCE = 1.05  # "no slower than today": within 5 % of the unbatched median
CERTBOT_WAIT = 10  # certbot-dns-cloudflare's default --dns-cloudflare-propagation-seconds


def main() -> None:
    arguments = parse_arguments()
    sys.path.insert(0, str(ROOT / "bench"))
    import run as bench_run

    bench_run.use_project_venv()
    import measure
    import peers
    import report
    from report import Row

    from acmecf.sandbox.pebble import find_binary
    from acmecf.sandbox.testbed import start_sandbox

    pebble = arguments.pebble or find_binary()
    os.environ["ACMECF_PEBBLE"] = pebble
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="acmecf-thousands-"))
    env = bench_run.client_free_environment()
    acmecf = str(ROOT / ".venv" / "bin" / "acmecf")
    count = arguments.certificates
    notes: list[str] = []
    rows: list[Row] = []
    print(f"work directory: {work}; Pebble: {pebble}")
    try:
        with start_sandbox(
            work / "sandbox",
            zones=ZONES,
            nameserver_delays=NAMESERVER_DELAYS,
            pebble_env=PEBBLE_ENV,
            blocked_domains=(),
        ) as bed:
            for zone in ZONES:
                bed.emulator.set_zone_plan(zone, "pro")
            bench = Thousands(bed, work, acmecf, env, arguments, measure)
            print(f"setup: {count} certificates over {len(ZONES)} zones, obtained once")
            bench.setup()
            print(f"renew --force, {count} certificates, batching on")
            on = bench.renew("on")
            print("the same with every nameserver delay at 0")
            zero = bench.renew("on, delays 0", zero_delays=True)
            off_count = arguments.off_certificates or count
            print(f"renew --force, {off_count} certificates, batching off")
            off = bench.renew("off", batching="off", certificates=off_count)
            print("one certificate alone, batching on and off")
            single = bench.single()
            certbot = bench.certbot(peers)
        rows, notes = table_rows(Row, bench, on, zero, off, single, certbot, count, off_count)
    finally:
        bench_run.discard_work(work, keep=arguments.keep_work)
    elapsed = time.monotonic() - started
    headline = (
        f"acmecf, {count} certificates in one run: Pebble + Cloudflare emulator "
        f"({API_LIMIT[0]} requests / {API_LIMIT[1]:g} s per user), nameserver delays "
        f"{'/'.join(f'{d:g}' for d in NAMESERVER_DELAYS)} s; {os.cpu_count()} CPUs"
    )
    context = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": bench_run.versions(None),
        "pebble": pebble,
        "options": {k: str(v) for k, v in vars(arguments).items()},
        "total_seconds": round(elapsed, 1),
        "notes": notes,
    }
    report.publish(headline, rows, notes, arguments.json, context)
    print(f"\nwrote {arguments.json}; total time {elapsed / 60:.1f} min")


@dataclasses.dataclass
class RunFigures:
    """One timed `acmecf renew --force`."""

    label: str
    certificates: int
    seconds: float = 0.0
    calls: int = 0
    batch_calls: int = 0
    peak_rss: int = 0
    renewed: int = 0
    leftovers: int = 0
    acmecf_cpu: float = 0.0
    pebble_cpu: float = 0.0
    emulator_cpu: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure


class Thousands:
    def __init__(
        self,
        bed: Any,
        work: Path,
        acmecf: str,
        env: dict[str, str],
        arguments: argparse.Namespace,
        measure: Any,
    ) -> None:
        self.bed = bed
        self.work = work
        self.acmecf = acmecf
        self.base_env = env
        self.arguments = arguments
        self.measure = measure
        self.config = work / "config"
        self.names = [
            f"site{index:04d}.{ZONES[index % len(ZONES)]}"
            for index in range(arguments.certificates)
        ]
        self.users = 0

    def environment(self, **extra: str) -> dict[str, str]:
        """The client's environment, with a token of a user nobody has used yet."""
        self.users += 1
        token = secrets.token_urlsafe(30)
        self.bed.emulator.add_token(token, user=f"bench-{self.users}@example.com")
        env = {**self.base_env, **self.bed.client_environment(), **extra}
        env["CLOUDFLARE_API_TOKEN"] = token
        env["ACMECF_CONFIG_DIR"] = str(self.config)
        return env

    def setup(self) -> None:
        from acmecf.settings.table import CertificateSettings
        from acmecf.storage.files import FileStore
        from acmecf.storage.model import StoredCertificate

        register = [self.acmecf, "account", "register", "--agree-tos", "--email", "b@example.com"]
        completed = self.measure.run(register, env=self.environment(), timeout=120)
        if not completed.ok:
            raise SystemExit(f"account registration failed: {completed.failure()}")
        store = FileStore(self.config)
        for name in self.names:
            store.save(
                StoredCertificate(CertificateSettings(cert_name=name, names=(name, f"*.{name}")))
            )
        figures = self.renew("setup")
        if figures.renewed != len(self.names):
            raise SystemExit(f"setup: {figures.failure or 'not every certificate was obtained'}")

    def renew(
        self,
        label: str,
        *,
        batching: str = "on",
        zero_delays: bool = False,
        certificates: int | None = None,
    ) -> RunFigures:
        count = certificates or len(self.names)
        figures = RunFigures(label, count)
        command = [self.acmecf, "renew", "--force", "--parallel", str(self.arguments.parallel)]
        if count < len(self.names):
            for name in self.names[:count]:
                command += ["--cert-name", name]
        emulator = self.bed.emulator
        delays = [nameserver.delay for nameserver in emulator.nameservers]
        if zero_delays:
            for index in range(len(delays)):
                emulator.set_nameserver_delay(index, 0.0)
        env = self.environment(ACMECF_DNS_BATCH=batching)
        emulator.clear_logs()
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
        pebble_before = self.measure.process_cpu_seconds(self.bed.pebble.process.pid)
        own_before = _own_cpu()
        load_before = os.getloadavg()[0]
        timeout = 600 + 2 * count if batching == "off" else 900
        try:
            completed = self.measure.run(command, env=env, timeout=timeout, track_memory=True)
        finally:
            for index, delay in enumerate(delays):
                emulator.set_nameserver_delay(index, delay)
        figures.seconds = completed.seconds
        figures.peak_rss = completed.peak_rss or 0
        figures.acmecf_cpu = completed.cpu_seconds
        figures.pebble_cpu = (
            self.measure.process_cpu_seconds(self.bed.pebble.process.pid) - pebble_before
        )
        figures.emulator_cpu = _own_cpu() - own_before
        figures.load = (load_before, os.getloadavg()[0])
        requests = emulator.requests
        figures.calls = len(requests)
        figures.batch_calls = sum(1 for r in requests if r.path.endswith("/dns_records/batch"))
        figures.leftovers = len(
            [r for r in emulator.records(type="TXT") if str(r["name"]).startswith("_acme-")]
        )
        figures.renewed = self._renewed_since(since, self.names[:count])
        if not completed.ok:
            figures.failure = completed.failure()
        elif figures.renewed != count:
            figures.failure = f"only {figures.renewed} of {count} certificates renewed"
        elif figures.leftovers:
            figures.failure = f"{figures.leftovers} challenge records left behind"
        print(
            f"  {label}: {figures.seconds:.1f} s, {figures.calls} Cloudflare calls "
            f"({figures.batch_calls} batch), {figures.renewed}/{count} renewed, peak "
            f"{figures.peak_rss / 1e6:.0f} MB{'; ' + figures.failure if figures.failure else ''}"
        )
        return figures

    def _renewed_since(self, since: datetime.datetime, names: list[str]) -> int:
        from acmecf.storage.files import FileStore

        store = FileStore(self.config)
        count = 0
        for name in names:
            state = store.load(name).state
            if state.last_result == "ok" and state.last_success and state.last_success >= since:
                count += 1
        return count

    def single(self) -> dict[str, list[float]]:
        """`acmecf issue` of one certificate (apex + wildcard), fresh config, on and off."""
        times: dict[str, list[float]] = {"on": [], "off": []}
        for round_number in range(self.arguments.single_runs):
            for batching in ("on", "off"):
                config = self.work / "single" / f"{batching}-{round_number}"
                env = self.environment(ACMECF_DNS_BATCH=batching)
                env["ACMECF_CONFIG_DIR"] = str(config)
                command = [
                    self.acmecf, "issue", "--agree-tos", "--email", "b@example.com",
                    "-d", "one.example.com", "-d", "*.one.example.com",
                ]  # fmt: skip
                completed = self.measure.run(command, env=env, timeout=120)
                if completed.ok:
                    times[batching].append(completed.seconds)
                else:
                    print(f"  single ({batching}) failed: {completed.failure()}")
        return times

    def certbot(self, peers: Any) -> dict[str, Any]:
        """certbot-dns-cloudflare renewing `--certbot-lineages` lineages one after another:
        its time and API calls per certificate, measured."""
        if self.arguments.no_peers:
            return {"missing": "--no-peers was given"}
        try:
            tools = peers.prepare(PEERS_VENV)
        except peers.PeersUnavailable as err:
            return {"missing": f"certbot could not be installed: {err}"}
        root = self.work / "certbot"
        credentials = self.work / "certbot.ini"
        plugin = peers.cloudflare_plugin(credentials, None)
        server = self.bed.pebble.directory_url
        peer_env = {
            **self.base_env,
            "CLOUDFLARE_BASE_URL": self.bed.emulator.base_url,
            "REQUESTS_CA_BUNDLE": str(self.bed.pebble.ca_bundle),
        }
        lineages = self.arguments.certbot_lineages
        for index in range(lineages):
            peers.write_cloudflare_credentials(credentials, self._token())
            name = f"certbot{index}.example.com"
            command = peers.certonly(tools, root, plugin, server, (name, f"*.{name}"))
            completed = self.measure.run(command, env=peer_env, timeout=300)
            if not completed.ok:
                return {"missing": f"certbot certonly failed: {completed.failure()}"}
        peers.write_cloudflare_credentials(credentials, self._token())
        self.bed.emulator.clear_logs()
        command = peers.renew(tools, "dns-cloudflare", root, force=True)
        print(f"certbot renew --force-renewal, {lineages} lineages, default {CERTBOT_WAIT} s wait")
        completed = self.measure.run(command, env=peer_env, timeout=120 + 60 * lineages)
        if not completed.ok:
            return {"missing": f"certbot renew failed: {completed.failure()}"}
        return {
            "seconds_per_certificate": completed.seconds / lineages,
            "calls_per_certificate": len(self.bed.emulator.requests) / lineages,
            "lineages": lineages,
            "versions": tools.versions,
        }

    def _token(self) -> str:
        self.users += 1
        token = secrets.token_urlsafe(30)
        self.bed.emulator.add_token(token, user=f"bench-{self.users}@example.com")
        return token


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def table_rows(
    Row: Any,
    bench: Thousands,
    on: RunFigures,
    zero: RunFigures,
    off: RunFigures,
    single: dict[str, list[float]],
    certbot: dict[str, Any],
    count: int,
    off_count: int,
) -> tuple[list[Any], list[str]]:
    scale = count / off_count
    measure_name = f"renew --force, {count} certificates"
    rows: list[Any] = []
    notes: list[str] = []

    def figure(row: Any, figures: RunFigures, value: float) -> Any:
        if figures.ok:
            row.values.append(value)
        else:
            row.failures.append(figures.failure)
        return row

    wall_on = figure(
        Row("1", measure_name, "acmecf, batching on", "s", target=TIME_TARGET), on, on.seconds
    )
    wall_on.notes.append(
        f"--parallel {bench.arguments.parallel}; {on.batch_calls} of its {on.calls} Cloudflare "
        "calls were batch calls"
    )
    wall_off = figure(
        Row("1", measure_name, "acmecf, ACMECF_DNS_BATCH=off", "s", target=TIME_TARGET, ours=False),
        off,
        off.seconds * scale,
    )
    if scale != 1:
        wall_off.notes.append(f"measured over {off_count} certificates, x {scale:g}")
    wall_off.notes.append(
        f"held back by the API limit: {off.calls} calls for {off_count} certificates at "
        f"{API_LIMIT[0]} per {API_LIMIT[1]:g} s"
    )
    rows += [wall_on, wall_off]
    calls_on = figure(
        Row(
            "2",
            "Cloudflare calls per certificate",
            "acmecf, batching on",
            "calls/cert",
            target=CALLS_TARGET,
        ),
        on,
        on.calls / count,
    )
    calls_off = figure(
        Row(
            "2",
            "Cloudflare calls per certificate",
            "acmecf, ACMECF_DNS_BATCH=off",
            "calls/cert",
            target=CALLS_TARGET,
            ours=False,
        ),
        off,
        off.calls / off_count,
    )
    rows += [calls_on, calls_off]
    memory_on = figure(
        Row("3", "peak memory", "acmecf, batching on", "MB", target=MEMORY_TARGET), on, on.peak_rss
    )
    memory_off = figure(
        Row(
            "3",
            "peak memory",
            "acmecf, ACMECF_DNS_BATCH=off",
            "MB",
            target=MEMORY_TARGET,
            ours=False,
        ),
        off,
        off.peak_rss,
    )
    rows += [memory_on, memory_off]

    import statistics

    off_median = statistics.median(single["off"]) if single["off"] else None
    alone_on = Row(
        "4", "one certificate alone (issue, apex + wildcard)", "acmecf, batching on", "s"
    )
    alone_on.values = single["on"]
    alone_on.target = None if off_median is None else off_median * SINGLE_TOLERANCE
    alone_on.notes.append(
        f"target = the unbatched median x {SINGLE_TOLERANCE} (noise); a lone certificate's "
        "two records go at once, in one call to create and one to delete"
    )
    alone_off = Row(
        "4",
        "one certificate alone (issue, apex + wildcard)",
        "acmecf, ACMECF_DNS_BATCH=off",
        "s",
        ours=False,
    )
    alone_off.values = single["off"]
    rows += [alone_on, alone_off]

    certbot_time = Row(
        "1", measure_name, "certbot dns-cloudflare (computed)", "s", target=TIME_TARGET, ours=False
    )
    certbot_calls = Row(
        "2",
        "Cloudflare calls per certificate",
        "certbot dns-cloudflare (measured)",
        "calls/cert",
        target=CALLS_TARGET,
        ours=False,
    )
    if "missing" in certbot:
        certbot_time.not_run = certbot_calls.not_run = certbot["missing"]
    else:
        per_cert = certbot["seconds_per_certificate"]
        calls = certbot["calls_per_certificate"]
        sequential = per_cert * count
        limit_floor = calls * count / (API_LIMIT[0] / API_LIMIT[1])
        certbot_time.values = [max(sequential, limit_floor)]
        certbot_calls.values = [calls]
        certbot_time.notes.append(
            f"certbot renews one lineage after another: measured {per_cert:.1f} s and "
            f"{calls:.1f} calls per certificate over {certbot['lineages']} lineages (default "
            f"{CERTBOT_WAIT} s wait), so {count} take {sequential:.0f} s; the API limit alone "
            f"allows {calls * count:.0f} calls in no less than {limit_floor:.0f} s (and certbot "
            "does not pace itself: past 1,200 it gets 429s for 5 minutes)"
        )
    rows += [certbot_time, certbot_calls]

    for figures in (on, zero, off):
        where = Row(
            "5", "where the time goes: wall (CPU in the note)", figures.label, "s", ours=False
        )
        where.values = [figures.seconds] if figures.ok else []
        if not figures.ok:
            where.failures.append(figures.failure)
        where.notes.append(
            f"{figures.label}: wall {figures.seconds:.1f} s; CPU acmecf "
            f"{figures.acmecf_cpu:.1f} s, Pebble {figures.pebble_cpu:.1f} s, emulator and "
            f"benchmark {figures.emulator_cpu:.1f} s; machine load {figures.load[0]:.1f} -> "
            f"{figures.load[1]:.1f} on {os.cpu_count()} CPUs"
        )
        rows.append(where)
    notes += [
        f"{count} certificates, each apex + wildcard (two TXT records at one name), round-robin "
        f"over {', '.join(ZONES)} (Pro plan: a Free zone holds at most 200 records and takes "
        "batches of 200)",
        "calls are counted in the emulator's request log for that run alone (zone listing "
        "and plan reads included); every timed run has a Cloudflare user of its own",
        f"Pebble runs with {' '.join(f'{k}={v}' for k, v in PEBBLE_ENV.items())} and "
        "PEBBLE_VA_NOSLEEP=1: no authorization reuse, so every renewal waits for DNS, and no "
        "random sleep before validating; it validates through the emulator's resolver, which "
        "sees a record once the slowest nameserver serves it",
        "the timed renewals carry ARI `replaces` (the setup run obtained every certificate "
        "first): Let's Encrypt exempts them from its rate limits",
        "peak memory: largest summed RSS of the process tree (sampled), at least its maxrss",
        "the machine is shared: its load average is given for each run",
    ]
    return rows, notes


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Renew a thousand certificates in one run, batching on and off.",
        epilog="Example: make bench-thousands   (or: python3 bench/thousands.py --pebble PATH)",
    )
    parser.add_argument("--certificates", type=int, default=1000, help="default 1000")
    parser.add_argument(
        "--parallel", type=int, default=512, help="acmecf renew --parallel (default 512)"
    )
    parser.add_argument(
        "--off-certificates",
        type=int,
        help="renew only this many with batching off and scale (default: all; about 17 min)",
    )
    parser.add_argument("--single-runs", type=int, default=3, help="runs of one certificate")
    parser.add_argument(
        "--certbot-lineages", type=int, default=3, help="lineages certbot renews (default 3)"
    )
    parser.add_argument("--pebble", help="the Pebble binary (default: ACMECF_PEBBLE or PATH)")
    parser.add_argument("--no-peers", action="store_true", help="do not measure certbot")
    parser.add_argument("--keep-work", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    arguments = parser.parse_args()
    if not 1 <= arguments.certificates <= 10_000:
        parser.error("--certificates must be between 1 and 10000")
    arguments.json = arguments.json.resolve()
    return arguments


if __name__ == "__main__":
    main()
