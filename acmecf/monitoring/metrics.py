"""Prometheus metrics for node_exporter's textfile collector: expiry and renewal results.

`write_metrics` turns the stored state of every certificate into the Prometheus text
exposition format (https://prometheus.io/docs/instrumenting/exposition_formats/) and replaces
the file in one rename, so the collector never reads half a file; it ignores the temporary
file because that name does not end in `.prom`. This module reads only acmecf's own renewal
files: it does not talk to the network, parse certificates or know click.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path

from acmecf.errors import StoreError
from acmecf.storage.files import FileStore
from acmecf.storage.model import StoredCertificate
from acmecf.storage.safe import write_file_atomic

EXPIRY = "acmecf_certificate_expiry_timestamp_seconds"
LAST_SUCCESS = "acmecf_certificate_last_renewal_success"
LAST_TIMESTAMP = "acmecf_certificate_last_renewal_timestamp_seconds"

_HELP = {
    EXPIRY: "When the live certificate expires (notAfter), in seconds since the Unix epoch.",
    LAST_SUCCESS: "1 if the last issuance or renewal attempt succeeded, 0 if it failed.",
    LAST_TIMESTAMP: "When the last issuance or renewal was attempted, in seconds since the "
    "Unix epoch.",
}


def write_metrics(store: FileStore, path: Path) -> None:
    """Write the metrics of every certificate in `store` to `path`, atomically, mode 0644.

    Per certificate: its expiry (labels name and domains, the names comma-separated), and,
    once acmecf has attempted an issuance or renewal of it, whether the last attempt
    succeeded and when it was. A certificate imported from certbot and not yet renewed has
    only its expiry; a certificate whose stored file is broken gets a last result of 0.
    Idempotent. Raises StoreError when `path` cannot be written; the previous file then stays
    as it was.
    """
    if not path.parent.is_dir():
        raise StoreError(
            f"cannot write {path}: {path.parent} is not a directory; create it, or point "
            "at node_exporter's --collector.textfile.directory"
        )
    certificates, broken = store.load_all()
    write_file_atomic(path, render_metrics(certificates, [b.name for b in broken]).encode(), 0o644)


def render_metrics(certificates: Iterable[StoredCertificate], broken: Iterable[str] = ()) -> str:
    """The text exposition of `certificates`, sorted by name, HELP and TYPE for each metric;
    each name in `broken` (a stored file acmecf cannot read) counts as a failed renewal."""
    samples: dict[str, list[str]] = {EXPIRY: [], LAST_SUCCESS: [], LAST_TIMESTAMP: []}
    for name in sorted(broken):
        samples[LAST_SUCCESS].append(f"{LAST_SUCCESS}{_labels(name=name)} 0")
    for certificate in sorted(certificates, key=lambda c: c.name):
        state = certificate.state
        name = _labels(name=certificate.name)
        if state.not_after is not None:
            labels = _labels(name=certificate.name, domains=",".join(certificate.settings.names))
            samples[EXPIRY].append(f"{EXPIRY}{labels} {_seconds(state.not_after)}")
        if state.last_result is not None:
            success = 1 if state.last_result == "ok" else 0
            samples[LAST_SUCCESS].append(f"{LAST_SUCCESS}{name} {success}")
        if state.last_attempt is not None:
            samples[LAST_TIMESTAMP].append(f"{LAST_TIMESTAMP}{name} {_seconds(state.last_attempt)}")
    lines: list[str] = []
    for metric, values in samples.items():
        lines += [f"# HELP {metric} {_HELP[metric]}", f"# TYPE {metric} gauge", *values]
    return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{escape_label(value)}"' for key, value in labels.items()) + "}"


def escape_label(value: str) -> str:
    """A label value as the text format needs it: backslash, double quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _seconds(moment: datetime.datetime) -> int:
    return int(moment.timestamp())
