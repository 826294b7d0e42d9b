"""Where the log of each run goes: one file per run, the newest kept.

`<config-dir>/logs/` (directory 0700, files 0600), or `/var/log/acmecf` when root runs with the
default configuration directory /etc/acmecf (systemd's LogsDirectory=acmecf). A run's file is
named by its start, UTC, and its process id (`20250101T030000Z-1234.log`), so names sort by
time; opening one removes the oldest beyond `keep`.

Does not: decide what is logged or format it (cli.logs does).
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

from acmecf.settings.run import DEFAULT_KEEP_LOGS
from acmecf.storage.files import FileStore
from acmecf.storage.safe import SafeDir

SYSTEM_CONFIG_DIR = Path("/etc/acmecf")
SYSTEM_LOG_DIR = Path("/var/log/acmecf")
_LOG_NAME = re.compile(r"\d{8}T\d{6}Z-\d+(?:-\d+)?\.log")


def log_directory(store: FileStore) -> Path:
    """Where `store`'s runs are logged."""
    if _system_wide(store):
        return SYSTEM_LOG_DIR
    return store.config_dir / "logs"


def _system_wide(store: FileStore) -> bool:
    return os.geteuid() == 0 and store.config_dir == SYSTEM_CONFIG_DIR


def open_run_log(
    store: FileStore, *, keep: int = DEFAULT_KEEP_LOGS, now: datetime.datetime | None = None
) -> tuple[int, Path]:
    """A descriptor of a new log file for this run, and its path; the oldest files beyond
    the newest `keep` (this one included) are removed. Raises StoreError."""
    moment = now or datetime.datetime.now(datetime.UTC)
    stem = f"{moment.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
    if _system_wide(store):
        with SafeDir.open_root(SYSTEM_LOG_DIR) as logs:
            return _create(logs, stem, keep)
    with store.directory("logs") as logs:
        assert logs is not None
        return _create(logs, stem, keep)


def _create(logs: SafeDir, stem: str, keep: int) -> tuple[int, Path]:
    name = f"{stem}.log"
    for attempt in range(1, 100):
        try:
            fd = logs.create_file(name)
            break
        except FileExistsError:
            name = f"{stem}-{attempt}.log"
    else:
        fd = logs.create_file(name)
    old = sorted(n for n in logs.names() if _LOG_NAME.fullmatch(n))
    for stale in old[: max(0, len(old) - max(1, keep))]:
        if stale != name:
            logs.remove(stale)
    return fd, logs.path / name
