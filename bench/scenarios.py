"""The five measurements of issue 4, run against one test bed (Pebble + the Cloudflare emulator).

Every measured command runs in a child process with a fresh Cloudflare API token (the API's
limit of 1200 requests per 5 minutes is per token, as in production), its own config
directory, and the emulator's request log cleared just before it, so the calls counted are
exactly that command's. Tools take turns inside each round, so a slow moment of the machine
hurts all of them alike.

Does not: start or stop the test bed, install anything, or print the table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import measure
import peers
from report import Row

from acmecf.sandbox.testbed import Sandbox
from acmecf.settings.table import CertificateSettings
from acmecf.storage.files import FileStore
from acmecf.storage.model import CertificateState, StoredCertificate

ZONE = "example.com"
EMAIL = "bench@example.com"
ISSUE_NAMES = ("example.com", "*.example.com")
RENEW_COUNT = 50
STORED_COUNT = 1000
MARGIN = 0.6  # run 1: within 0.6 s of the slowest nameserver's delay + the CA's own work
RENEW_FACTOR = 3.0  # run 2: within 3x run 1
NOTHING_DUE_LIMIT = 0.3
STARTUP_LIMIT = 0.15
MEMORY_LIMIT = 150 * 1_000_000
CALLS_PER_NAME = 3

ACMECF = "acmecf"
ACMECF_ZERO = "acmecf, all delays 0 (the CA's own work)"


@dataclass(frozen=True)
class Options:
    runs: int = 3
    startup_runs: int = 10
    peer_certificates: int = 5  # run 2: lineages the peers renew (extrapolated to 50)
    peer_renew_runs: int = 1
    peer_lineages: int = 1000  # run 3: lineages certbot checks
    multi_default_runs: int = 1
    parallel: int | None = None  # passed to `acmecf renew --parallel` when given and supported


@dataclass
class Sample:
    completed: measure.Completed
    api_calls: int
    zone_lookups: int
    leftover_records: int
    # Seconds from the last TXT record's creation to the CA's first validation query.
    validation_after: float | None = None
    problem: str = ""  # set when the command succeeded but its result is wrong

    @property
    def ok(self) -> bool:
        return self.completed.ok and not self.problem and not self.leftover_records

    def failure(self) -> str:
        if not self.completed.ok:
            return self.completed.failure()
        if self.leftover_records:
            return f"{self.leftover_records} _acme-challenge TXT record(s) left behind"
        return self.problem


def names_of(index: int) -> tuple[str, str]:
    """The two names of the index-th certificate of run 2: an apex and its wildcard."""
    return (f"site{index:02d}.{ZONE}", f"*.site{index:02d}.{ZONE}")


class Bench:
    """The measurements, sharing one running sandbox and one work directory."""

    def __init__(
        self,
        bed: Sandbox,
        work: Path,
        acmecf: str,
        tools: peers.PeerTools | None,
        peers_missing: str,
        options: Options,
        base_env: dict[str, str],
    ) -> None:
        self.bed = bed
        self.work = work
        self.acmecf = acmecf
        self.tools = tools
        self.peers_missing = peers_missing
        self.options = options
        self.base_env = base_env
        self.delays = [nameserver.delay for nameserver in bed.emulator.nameservers]
        self.slowest = max(self.delays)
        self.tuned_wait = max(1, math.ceil(self.slowest))  # certbot takes whole seconds
        self.run1: dict[str, float | None] = {}
        self.parallel_note = ""
        self.renew_dir = work / "renew50" / "acmecf"
        self.certbot_renew_root = work / "renew50" / "certbot"
        self.multi_renew_root = work / "renew50" / "multi"

    # ------------------------------------------------------------------ plumbing

    def fresh_token(self) -> str:
        # 30 random bytes are 40 URL-safe characters: the shape of a real token.
        token = secrets.token_urlsafe(30)
        self.bed.emulator.add_token(token, zones=[ZONE])
        return token

    def acmecf_env(self) -> dict[str, str]:
        env = {**self.base_env, **self.bed.client_environment()}
        env["CLOUDFLARE_API_TOKEN"] = self.fresh_token()
        return env

    def peer_env(self) -> dict[str, str]:
        return {
            **self.base_env,
            "CLOUDFLARE_BASE_URL": self.bed.emulator.base_url,
            "REQUESTS_CA_BUNDLE": str(self.bed.pebble.ca_bundle),
        }

    def credentials(self, plugin: str) -> Path:
        """Write the plugin's credentials file with a fresh token (the path stays the same)."""
        path = self.work / "credentials" / f"{plugin}.ini"
        if plugin == "dns-multi":
            return peers.write_multi_credentials(path, self.fresh_token())
        return peers.write_cloudflare_credentials(path, self.fresh_token())

    def resolver(self) -> str:
        return f"{self.bed.emulator.resolver_address}:{self.bed.emulator.dns_port}"

    def sample(
        self,
        command: Sequence[str],
        env: dict[str, str],
        timeout: float,
        *,
        track_memory: bool = False,
    ) -> Sample:
        self.bed.emulator.clear_logs()
        completed = measure.run(command, env=env, timeout=timeout, track_memory=track_memory)
        requests = self.bed.emulator.requests
        leftovers = [
            record
            for record in self.bed.emulator.records(type="TXT")
            if str(record["name"]).startswith("_acme-challenge")
        ]
        created = [
            r.time for r in requests if r.method == "POST" and r.path.endswith("/dns_records")
        ]
        validation_after = None
        if created:
            resolver = self.bed.emulator.resolver_address
            validations = [
                q.time
                for q in self.bed.emulator.dns_queries
                if q.server == resolver and q.qtype == "TXT" and q.time >= max(created)
            ]
            if validations:
                validation_after = min(validations) - max(created)
        return Sample(
            completed=completed,
            validation_after=validation_after,
            api_calls=len(requests),
            zone_lookups=sum(
                1 for r in requests if r.method == "GET" and r.path.rstrip("/").endswith("/zones")
            ),
            leftover_records=len(leftovers),
        )

    @contextlib.contextmanager
    def zero_delays(self) -> Iterator[None]:
        """Every nameserver serves changes at once inside the block (and after: as before)."""
        for index in range(len(self.delays)):
            self.bed.emulator.set_nameserver_delay(index, 0.0)
        try:
            yield
        finally:
            for index, delay in enumerate(self.delays):
                self.bed.emulator.set_nameserver_delay(index, delay)

    def issue_command(self, config_dir: Path, names: Sequence[str], cert_name: str) -> list[str]:
        command = [
            self.acmecf, "issue", "--agree-tos", "--email", EMAIL,
            "--config-dir", str(config_dir), "--cert-name", cert_name,
        ]  # fmt: skip
        for name in names:
            command += ["-d", name]
        return command

    def peer_variants(self) -> list[tuple[str, peers.Plugin, int]]:
        """(label, plugin, runs) of each peer configuration timed in run 1."""
        resolver = self.resolver()
        wait = self.tuned_wait
        runs = self.options.runs
        return [
            (f"certbot dns-cloudflare, wait {wait} s", self._cloudflare(wait), runs),
            (
                f"certbot dns-cloudflare, default wait {peers.CERTBOT_DEFAULT_WAIT} s",
                self._cloudflare(None),
                runs,
            ),
            (f"lego via certbot-dns-multi, wait {wait} s", self._multi(resolver, wait), runs),
            (
                f"lego via certbot-dns-multi, default wait {peers.MULTI_DEFAULT_WAIT} s",
                self._multi(resolver, None),
                self.options.multi_default_runs,
            ),
        ]

    def _cloudflare(self, wait: int | None) -> peers.Plugin:
        return peers.cloudflare_plugin(self.work / "credentials" / "dns-cloudflare.ini", wait)

    def _multi(self, resolver: str, wait: int | None) -> peers.Plugin:
        path = self.work / "credentials" / "dns-multi.ini"
        return peers.multi_plugin(path, resolver, wait)

    def peer_rows_not_run(self, number: str, measure_name: str, unit: str) -> list[Row]:
        return [
            Row(number, measure_name, label, unit, ours=False, not_run=self.peers_missing)
            for label, _, _ in self.peer_variants()
        ]

    # ------------------------------------------------------------------ run 1

    def issue_one(self) -> tuple[list[Row], list[Row]]:
        """Run 1: example.com + *.example.com, fresh config each time. Returns (time, calls)."""
        samples: dict[str, list[Sample]] = {}
        variants = self.peer_variants() if self.tools else []
        rounds = max([self.options.runs, *(runs for _, _, runs in variants)])
        for round_number in range(rounds):
            print(f"  run 1, round {round_number + 1}/{rounds}")
            if round_number < self.options.runs:
                config = self.work / "issue" / f"acmecf-{round_number}"
                samples.setdefault(ACMECF, []).append(
                    self.sample(
                        self.issue_command(config, ISSUE_NAMES, "example.com"),
                        self.acmecf_env(),
                        timeout=120,
                    )
                )
                with self.zero_delays():
                    config = self.work / "issue" / f"acmecf-zero-{round_number}"
                    samples.setdefault(ACMECF_ZERO, []).append(
                        self.sample(
                            self.issue_command(config, ISSUE_NAMES, "example.com"),
                            self.acmecf_env(),
                            timeout=120,
                        )
                    )
            for index, (label, plugin, runs) in enumerate(variants):
                if round_number >= runs or self.tools is None:
                    continue
                self.credentials(plugin.label)
                root = self.work / "issue" / f"peer{index}-{round_number}"
                command = peers.certonly(
                    self.tools, root, plugin, self.bed.pebble.directory_url, ISSUE_NAMES
                )
                samples.setdefault(label, []).append(
                    self.sample(command, self.peer_env(), timeout=240)
                )

        for label, _, runs in variants:
            if runs == 0:
                samples[label] = []
        zero = [s.completed.seconds for s in samples[ACMECF_ZERO] if s.ok]
        ca_work = measure.median(zero)
        limit = None if ca_work is None else self.slowest + MARGIN + ca_work
        number, measure_name = "1", "issue example.com + *.example.com"
        time_rows: list[Row] = []
        call_rows: list[Row] = []
        allowed = CALLS_PER_NAME * len(ISSUE_NAMES) + 1
        labels = [ACMECF, ACMECF_ZERO, *(label for label, _, _ in variants)]
        for label in labels:
            ours = label == ACMECF
            row = Row(number, measure_name, label, "s", ours=ours)
            row.target = limit if label != ACMECF_ZERO else None
            self._fill(row, samples.get(label, []), lambda s: s.completed.seconds)
            if label in samples and not samples[label]:
                row.not_run = "skipped: given 0 runs"

            if label == ACMECF and limit is not None and ca_work is not None:
                row.notes.append(
                    f"target = slowest nameserver {self.slowest:g} s + {MARGIN} s + the CA's "
                    f"own work {ca_work:.2f} s (median of the same issuance with every "
                    "nameserver delay at 0; it includes acmecf's start-up, key generation "
                    "and account registration)"
                )
            if label == ACMECF_ZERO:
                row.notes.append(
                    "Pebble validates through the emulator's resolver; with every delay at 0 "
                    "it sees a record as soon as the API returns"
                )
            after = measure.median(
                [
                    s.validation_after
                    for s in samples.get(label, [])
                    if s.validation_after is not None
                ]
            )
            if after is not None:
                slowest = 0.0 if label == ACMECF_ZERO else self.slowest
                row.notes.append(
                    f"the CA's first validation query came {after:.2f} s (median) after the "
                    f"last TXT record was created; the slowest nameserver needed {slowest:g} s"
                )
            self.run1[label] = row.value
            time_rows.append(row)
            if label == ACMECF_ZERO:
                continue
            calls = Row("5b", "API calls per certificate, run 1", label, "calls/cert", ours=ours)
            calls.target = float(allowed)
            self._fill(calls, samples.get(label, []), lambda s: float(s.api_calls))
            calls.not_run = row.not_run
            if ours:
                lookups = measure.median([s.zone_lookups for s in samples.get(label, [])])
                calls.notes.append(
                    f"target = {CALLS_PER_NAME} per name x {len(ISSUE_NAMES)} names "
                    f"+ 1 zone lookup (1 zone); zone lookups made: {lookups or 0:g} (median)"
                )
            call_rows.append(calls)
        if self.tools is None:
            time_rows += self.peer_rows_not_run(number, measure_name, "s")
        return time_rows, call_rows

    # ------------------------------------------------------------------ run 2

    def renew_many(self) -> tuple[list[Row], list[Row], list[Row]]:
        """Run 2: 50 certificates of two names, all due, in one renew. Returns
        (time rows, memory rows, API call rows)."""
        rows = self._acmecf_renew_many()
        if self.tools is None:
            name = f"renew {RENEW_COUNT} due certificates"
            rows[0].extend(self.peer_rows_not_run("2", name, "s"))
            return rows
        peer_rows = self._peers_renew_many()
        for mine, theirs in zip(rows, peer_rows, strict=True):
            mine.extend(theirs)
        return rows

    def _acmecf_renew_many(self) -> tuple[list[Row], list[Row], list[Row]]:
        measure_name = f"renew {RENEW_COUNT} due certificates"
        time_row = Row("2", measure_name, ACMECF, "s")
        memory_row = Row("5a", f"peak memory, run 2 ({RENEW_COUNT} renewals)", ACMECF, "MB")
        memory_row.target, memory_row.strict = float(MEMORY_LIMIT), True
        calls_row = Row("5b", "API calls per certificate, run 2", ACMECF, "calls/cert")
        allowed = CALLS_PER_NAME * 2 * RENEW_COUNT + 1
        calls_row.target = allowed / RENEW_COUNT
        calls_row.notes.append(
            f"target = ({CALLS_PER_NAME} per name x 2 names x {RENEW_COUNT} certificates "
            f"+ 1 zone lookup) / {RENEW_COUNT}"
        )
        run1 = self.run1.get(ACMECF)
        time_row.target = None if run1 is None else RENEW_FACTOR * run1

        help_text = measure.run(
            [self.acmecf, "renew", "--help"], env=self.base_env, timeout=60
        ).output
        supports_parallel = "--parallel" in help_text
        command = [self.acmecf, "renew", "--force", "--config-dir", str(self.renew_dir)]
        if supports_parallel:
            if self.options.parallel is not None:
                command += ["--parallel", str(self.options.parallel)]
                self.parallel_note = f"acmecf renew --parallel {self.options.parallel}"
            else:
                self.parallel_note = "acmecf renew with its default --parallel"
        else:
            self.parallel_note = (
                "this acmecf has no --parallel (renew --help does not list it): "
                "it renews one certificate after another"
            )
        time_row.notes.append(
            f"{self.parallel_note}; setup: {RENEW_COUNT} stored settings "
            f"({names_of(0)[0]} + {names_of(0)[1]}, ...), then timed: "
            f"`acmecf renew --force` over all {RENEW_COUNT}"
            + ("" if run1 is None else f"; target = {RENEW_FACTOR:g} x run 1 ({run1:.2f} s)")
        )

        print(f"  run 2, setup: {RENEW_COUNT} stored certificate settings")
        problem = self._setup_acmecf_renewals()
        if problem:
            for row in (time_row, memory_row, calls_row):
                row.not_run = f"setup failed: {problem}"
            return [time_row], [memory_row], [calls_row]
        timeout = 300 if supports_parallel else 60 + 30 * RENEW_COUNT
        lookups: list[float] = []
        for round_number in range(self.options.runs):
            print(f"  run 2, acmecf round {round_number + 1}/{self.options.runs}")
            started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
            sample = self.sample(command, self.acmecf_env(), timeout, track_memory=True)
            if sample.completed.ok:
                renewed = self._count_renewed(started)
                if renewed != RENEW_COUNT:
                    sample.problem = f"only {renewed} of {RENEW_COUNT} certificates renewed"
            self._add(time_row, sample, sample.completed.seconds)
            self._add(memory_row, sample, float(sample.completed.peak_rss or 0))
            self._add(calls_row, sample, sample.api_calls / RENEW_COUNT)
            lookups.append(sample.zone_lookups)
        made = measure.median(lookups) or 0
        calls_row.notes.append(f"zone lookups made per run: {made:g} (median)")
        memory_row.notes.append(
            "max over the run of the summed RSS of the process and its children "
            "(sampled every 20 ms, and at least the kernel's maxrss of the process)"
        )
        return [time_row], [memory_row], [calls_row]

    def _setup_acmecf_renewals(self) -> str:
        """Issue the first certificate (which registers the account), then store the other
        49 settings with no certificate yet. Returns a problem, or "" when all went well."""
        first = self.sample(
            self.issue_command(self.renew_dir, names_of(0), "site00"),
            self.acmecf_env(),
            timeout=120,
        )
        if not first.ok:
            return first.failure()
        store = FileStore(self.renew_dir)
        template = store.load("site00")
        for index in range(1, RENEW_COUNT):
            settings = dataclasses.replace(
                template.settings, cert_name=f"site{index:02d}", names=names_of(index)
            )
            store.save(StoredCertificate(settings))
        return ""

    def _count_renewed(self, since: datetime.datetime) -> int:
        count = 0
        store = FileStore(self.renew_dir)
        for name in store.names():
            state = store.load(name).state
            if state.last_result == "ok" and state.last_success and state.last_success >= since:
                count += 1
        return count

    def _peers_renew_many(self) -> tuple[list[Row], list[Row], list[Row]]:
        assert self.tools is not None
        count = self.options.peer_certificates
        wait = self.tuned_wait
        server = self.bed.pebble.directory_url
        cloudflare = self._cloudflare(wait)
        multi = self._multi(self.resolver(), wait)
        multi_root = self.multi_renew_root
        setups = [(self.certbot_renew_root, cloudflare), (multi_root, multi)]
        problem = ""
        for root, plugin in setups:
            print(f"  run 2, setup: {count} certbot lineages with {plugin.label}")
            self.credentials(plugin.label)
            for index in range(count):
                command = peers.certonly(self.tools, root, plugin, server, names_of(index))
                sample = self.sample(command, self.peer_env(), timeout=240)
                if not sample.ok:
                    problem = f"certbot certonly ({plugin.label}) failed: {sample.failure()}"
                    break
        default = peers.CERTBOT_DEFAULT_WAIT
        variants = [
            (f"certbot dns-cloudflare, wait {wait} s", self.certbot_renew_root, cloudflare,
             ["--dns-cloudflare-propagation-seconds", str(wait)]),
            (f"certbot dns-cloudflare, default wait {default} s", self.certbot_renew_root,
             cloudflare, ["--dns-cloudflare-propagation-seconds", str(default)]),
            (f"lego via certbot-dns-multi, wait {wait} s", multi_root, multi,
             ["--dns-multi-propagation-seconds", str(wait)]),
        ]  # fmt: skip
        time_rows: list[Row] = []
        memory_rows: list[Row] = []
        call_rows: list[Row] = []
        scale = RENEW_COUNT / count
        for label, root, plugin, extra in variants:
            time_row = Row("2", f"renew {RENEW_COUNT} due certificates", label, "s", ours=False)
            memory_row = Row(
                "5a", f"peak memory, run 2 ({RENEW_COUNT} renewals)", label, "MB", ours=False
            )
            memory_row.target, memory_row.strict = float(MEMORY_LIMIT), True
            calls_row = Row("5b", "API calls per certificate, run 2", label, "calls/cert")
            calls_row.ours = False
            calls_row.target = (CALLS_PER_NAME * 2 * count + 1) / count
            rows = (time_row, memory_row, calls_row)
            time_rows.append(time_row)
            memory_rows.append(memory_row)
            call_rows.append(calls_row)
            if problem:
                for row in rows:
                    row.not_run = problem
                continue
            own_run1 = self.run1.get(label)
            time_row.target = None if own_run1 is None else RENEW_FACTOR * own_run1
            for round_number in range(self.options.peer_renew_runs):
                print(f"  run 2, {label}, round {round_number + 1}")
                self.credentials(plugin.label)
                command = peers.renew(self.tools, plugin.label, root, extra, force=True)
                sample = self.sample(
                    command, self.peer_env(), timeout=60 + 120 * count, track_memory=True
                )
                self._add(time_row, sample, sample.completed.seconds * scale)
                self._add(memory_row, sample, float(sample.completed.peak_rss or 0))
                self._add(calls_row, sample, sample.api_calls / count)
            measured = ", ".join(f"{v / scale:.1f} s" for v in time_row.values)
            time_row.notes.append(
                f"measured `certbot renew --force-renewal` over {count} lineages "
                f"({measured}), x {scale:g} to {RENEW_COUNT}: certbot renews one lineage "
                "after another, so its time grows linearly; target = 3 x its own run 1"
            )
        multi_default = Row(
            "2",
            f"renew {RENEW_COUNT} due certificates",
            f"lego via certbot-dns-multi, default wait {peers.MULTI_DEFAULT_WAIT} s",
            "s",
            ours=False,
            not_run=(
                f"its fixed {peers.MULTI_DEFAULT_WAIT} s sleep per certificate alone makes "
                f"{RENEW_COUNT} renewals last over {RENEW_COUNT * peers.MULTI_DEFAULT_WAIT} s"
            ),
        )
        time_rows.append(multi_default)
        return time_rows, memory_rows, call_rows

    # ------------------------------------------------------------------ run 3

    def nothing_due(self) -> list[Row]:
        """Run 3: `renew` with nothing due over 1000 stored certificates."""
        measure_name = f"renew, nothing due, {STORED_COUNT} stored"
        row = Row("3", measure_name, ACMECF, "s", target=NOTHING_DUE_LIMIT, strict=True)
        config_dir = self.work / "stored" / "acmecf"
        row.notes.append(self._store_settings(config_dir))
        command = [self.acmecf, "renew", "--config-dir", str(config_dir)]
        self.sample(command, self.acmecf_env(), timeout=120)  # warm the page cache
        for _ in range(max(5, self.options.runs)):
            sample = self.sample(command, self.acmecf_env(), timeout=120)
            if sample.completed.ok and sample.api_calls:
                sample.problem = f"{sample.api_calls} API calls with nothing due"
            self._add(row, sample, sample.completed.seconds)
        rows = [row]
        lineage = names_of(0)[0]
        count = self.options.peer_lineages
        for label, plugin, source in self._peer_lineage_roots():
            peer = Row("3", measure_name, label, "s", ours=False)
            peer.target, peer.strict = NOTHING_DUE_LIMIT, True
            rows.append(peer)
            if self.tools is None:
                peer.not_run = self.peers_missing
                continue
            if not (source / "config" / "renewal" / f"{lineage}.conf").exists():
                peer.not_run = "no certbot lineage to clone (run 2's certbot setup failed)"
                continue
            root = self.work / "stored" / plugin
            peers.copy_root(source, root)
            present = peers.clone_lineages(root, lineage, count)
            peer.notes.append(
                f"`certbot renew` over {present} lineages: run 2's, plus copies of one of them"
            )
            if present != STORED_COUNT:
                peer.notes.append(f"x {STORED_COUNT / present:g}: measured over {present}")
            command = peers.renew(self.tools, plugin, root, force=False)
            for _ in range(self.options.peer_renew_runs):
                print(f"  run 3, {label}: certbot renew over {present} lineages")
                sample = self.sample(command, self.peer_env(), timeout=60 + 2 * present)
                if sample.completed.ok and sample.api_calls:
                    sample.problem = f"{sample.api_calls} API calls with nothing due"
                self._add(peer, sample, sample.completed.seconds * STORED_COUNT / present)
        return rows

    def _peer_lineage_roots(self) -> list[tuple[str, str, Path]]:
        """(label, plugin, certbot state) of the peers' lineages made in run 2."""
        return [
            ("certbot dns-cloudflare", "dns-cloudflare", self.certbot_renew_root),
            ("lego via certbot-dns-multi", "dns-multi", self.multi_renew_root),
        ]

    def _store_settings(self, config_dir: Path) -> str:
        """Write the 1000 renewal files; return a note on where their state comes from."""
        source = FileStore(self.renew_dir)
        template = source.load("site00") if "site00" in source.names() else None
        now = datetime.datetime.now(datetime.UTC)
        if template is not None and template.state.not_after is not None:
            state = template.state
            config = template.settings
            origin = "the settings and state acmecf itself wrote for run 2's first certificate"
        else:
            state = CertificateState(
                not_before=now - datetime.timedelta(days=10),
                not_after=now + datetime.timedelta(days=80),
                last_attempt=now - datetime.timedelta(days=10),
                last_result="ok",
                last_success=now - datetime.timedelta(days=10),
            )
            config = CertificateSettings(
                cert_name="template", names=names_of(0), server=self.bed.pebble.directory_url
            )
            origin = "synthetic settings (90-day certificates issued 10 days ago)"
        store = FileStore(config_dir)
        for index in range(STORED_COUNT):
            name = f"n{index:04d}"
            store.save(
                StoredCertificate(
                    dataclasses.replace(
                        config,
                        cert_name=name,
                        names=(f"{name}.{ZONE}", f"*.{name}.{ZONE}"),
                    ),
                    state,
                )
            )
        return (
            f"{STORED_COUNT} renewal files cloned from {origin}; nothing is due and no "
            "renewal information (ARI) is to be fetched (Pebble 2.4 offers none)"
        )

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _add(row: Row, sample: Sample, value: float) -> None:
        if sample.ok:
            row.values.append(value)
        else:
            row.failures.append(sample.failure())

    def _fill(self, row: Row, samples: list[Sample], value: Callable[[Sample], float]) -> None:
        for sample in samples:
            self._add(row, sample, value(sample))


def startup(
    acmecf: str,
    python: str,
    tools: peers.PeerTools | None,
    peers_missing: str,
    options: Options,
    env: dict[str, str],
) -> list[Row]:
    """Run 4: `--help` start-up, after one untimed run that warms the page cache."""
    measure_name = "`--help` start-up"
    commands = [
        (Row("4", measure_name, ACMECF, "s", target=STARTUP_LIMIT, strict=True),
         [acmecf, "--help"], options.startup_runs),
        (Row("4", measure_name, "python -c pass (for scale)", "s",
             ours=False), [python, "-c", "pass"], options.startup_runs),
    ]  # fmt: skip
    missing: list[Row] = []
    for label, plugin in (
        ("certbot dns-cloudflare", "dns-cloudflare"),
        ("lego via certbot-dns-multi", "dns-multi"),
    ):
        row = Row("4", measure_name, label, "s", target=STARTUP_LIMIT, strict=True, ours=False)
        if tools is None:
            row.not_run = peers_missing
            missing.append(row)
        else:
            runs = max(3, options.startup_runs // 2)
            commands.append((row, [tools.certbot(plugin), "--help"], runs))
    for row, command, runs in commands:
        measure.run(command, env=env, timeout=60)
        for _ in range(runs):
            completed = measure.run(command, env=env, timeout=60)
            if completed.ok:
                row.values.append(completed.seconds)
            else:
                row.failures.append(completed.failure())
    return [*(row for row, _, _ in commands), *missing]
