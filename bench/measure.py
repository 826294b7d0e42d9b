"""Running one command and measuring it: wall time, exit status, peak memory of its process tree.

Every command runs in its own session with a deadline; past it, the whole process group is
killed and the result says so. Peak memory is the largest sum of resident set sizes over the
process and all its descendants, sampled every 20 ms from /proc (every 100 ms once the tree
has 50 threads or more, walking it again every tenth time), and never less than the kernel's
own maximum RSS of the process (wait4), which catches a peak between two samples.

Does not: decide what to run, start servers, or judge the figures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_INTERVAL = 0.02
BUSY_SAMPLE_INTERVAL = 0.1  # for a process of many threads, each with a children file to read
OUTPUT_TAIL_CHARACTERS = 2000
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Completed:
    """One finished (or killed) command. ``peak_rss`` is in bytes, None when not tracked."""

    command: tuple[str, ...]
    seconds: float
    returncode: int
    timed_out: bool
    peak_rss: int | None
    output: str
    cpu_seconds: float = 0.0  # user + system time of the process (its own, not its children's)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def failure(self) -> str:
        """One line saying why the command failed, ending with the last line it printed."""
        if self.timed_out:
            reason = f"killed after {self.seconds:.0f} s (timeout)"
        else:
            reason = f"exit status {self.returncode}"
        lines = [line for line in self.output.strip().splitlines() if line.strip()]
        return f"{reason}: {lines[-1].strip()}" if lines else reason


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    track_memory: bool = False,
    cwd: Path | None = None,
) -> Completed:
    """Run ``command`` to completion (or until ``timeout`` seconds) and measure it.

    Standard input is /dev/null; standard output and error are kept (the tail is returned).
    The wall time runs from just before the process is created to the moment it is reaped.
    Never raises for a failing command; raises OSError when it cannot be started.
    """
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_group(process.pid)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        sampler = _TreeSampler(process.pid) if track_memory else None
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C: the child is in its own session and would live on
            _kill_group(process.pid)
            process.wait()
            raise
        finally:
            seconds = time.perf_counter() - started
            timer.cancel()
            if sampler is not None:
                sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        _kill_group(process.pid)  # leave no stray grandchild behind
        peak_rss = None
        if sampler is not None:
            peak_rss = max(sampler.peak, usage.ru_maxrss * 1024)  # ru_maxrss is in KiB
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    return Completed(
        command=tuple(command),
        seconds=seconds,
        returncode=process.returncode,
        timed_out=expired.is_set(),
        peak_rss=peak_rss,
        output=text[-OUTPUT_TAIL_CHARACTERS:],
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


def process_cpu_seconds(pid: int) -> float:
    """User + system time a running process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class _TreeSampler:
    """Samples the summed RSS of a process and its descendants in a daemon thread."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _sample(self) -> None:
        pids: list[int] = []
        threads = 0
        rounds = 0
        while not self._stopped.is_set():
            # Reading every thread's children file of a 300-thread process each time would
            # cost the machine more than the process measured does: a busy tree is walked
            # again every tenth sample, its known processes read in between.
            if threads < 50 or rounds % 10 == 0:
                pids, threads = _tree(self.root)
            rounds += 1
            total = sum(_rss(pid) for pid in pids)
            self.peak = max(self.peak, total)
            self._stopped.wait(SAMPLE_INTERVAL if threads < 50 else BUSY_SAMPLE_INTERVAL)


def _tree(root: int) -> tuple[list[int], int]:
    """``root`` and every descendant, from /proc/PID/task/TID/children; and how many threads
    they have."""
    found: list[int] = []
    threads = 0
    pending = [root]
    while pending and len(found) < 10_000:
        pid = pending.pop()
        found.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        threads += len(tasks)
        for task in tasks:
            try:
                children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            except OSError:
                continue
            pending.extend(int(child) for child in children)
    return found, threads


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0
