"""The `[run]` section of the global file `<config-dir>/acmecf.toml`: how runs go when the
command line does not say.

    [run]
    parallel = 8          # certificates worked on at once (--parallel), 1-512
    hook_timeout = "2m"   # a hook running longer is stopped (--hook-timeout)
    keep_logs = 30        # run logs kept (1-1000)
    log_format = "json"   # run logs as text (default) or JSON lines (--log-format)

Precedence, highest first: the command-line flag > its environment variable (ACMECF_PARALLEL,
ACMECF_HOOK_TIMEOUT, ACMECF_LOG_FORMAT) > [run] here > acmecf's built-in default. An unknown
key is refused (a typo would otherwise be ignored silently).

Does not: read the file (settings.config_file does) or run anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acmecf.errors import StoredFileError
from acmecf.settings.values import parse_duration

DEFAULT_PARALLEL = 32
MAX_PARALLEL = 512  # workers, each with its own ACME session: about 0.3 MB each
DEFAULT_HOOK_TIMEOUT = 300.0
DEFAULT_KEEP_LOGS = 30
MAX_KEEP_LOGS = 1000
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class RunDefaults:
    parallel: int = DEFAULT_PARALLEL
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    keep_logs: int = DEFAULT_KEEP_LOGS
    log_format: str | None = None  # None: text, unless --log-format says otherwise


def run_defaults(config: Any) -> RunDefaults:
    """The [run] section of a GlobalConfig, checked. Raises StoredFileError naming the key."""
    section = config.section("run")
    values: dict[str, Any] = {}
    for key, value in section.items():
        where = f"run.{key}"
        if key == "parallel":
            values[key] = _whole(config.path, where, value, 1, MAX_PARALLEL)
        elif key == "keep_logs":
            values[key] = _whole(config.path, where, value, 1, MAX_KEEP_LOGS)
        elif key == "hook_timeout":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise StoredFileError(config.path, where, "must be a duration such as 90s or 5m")
            try:
                values[key] = parse_duration(value)
            except ValueError as err:
                raise StoredFileError(config.path, where, str(err)) from None
        elif key == "log_format":
            if value not in LOG_FORMATS:
                raise StoredFileError(
                    config.path, where, f"must be one of {', '.join(LOG_FORMATS)}"
                )
            values[key] = value
        else:
            raise StoredFileError(
                config.path,
                where,
                "is not a [run] setting (parallel, hook_timeout, keep_logs, log_format)",
            )
    return RunDefaults(**values)


def _whole(path: str, where: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StoredFileError(path, where, f"must be a whole number from {low} to {high}")
    return value
