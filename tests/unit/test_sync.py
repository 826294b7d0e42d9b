"""Sync, with a fake shared store in memory: what it writes into live/, when the deploy hooks
run, what it records, and how `watch` polls (a fake clock; nothing sleeps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acmecf.errors import EtcdUnavailableError, StoreError
from acmecf.lifecycle.services import RunOptions, Services
from acmecf.lifecycle.sync import SyncReport, join_fleet, sync_all, watch
from acmecf.settings.table import CertificateSettings
from acmecf.storage.fleet import FleetStore
from acmecf.storage.model import (
    CertificateMaterial,
    LiveCertificate,
    OriginSync,
    StoredCertificate,
    material_digest,
)


def material(tag: str) -> CertificateMaterial:
    return CertificateMaterial(
        privkey=f"key {tag}".encode(), cert=f"cert {tag}".encode(), chain=f"chain {tag}".encode()
    )


class FakeShared:
    """The parts of EtcdStore that sync uses, in memory."""

    location = "etcd://fake:2379/acmecf/"
    journal = None
    origin = "web1"

    def __init__(self) -> None:
        self.versions: dict[str, LiveCertificate] = {}
        self.records: dict[str, OriginSync] = {}
        self.revision = 1
        self.changed: dict[str, int] = {}
        self.down = False
        self.reads = 0

    def publish(self, name: str, tag: str) -> None:
        number = int(self.versions[name].version) + 1 if name in self.versions else 1
        self.versions[name] = LiveCertificate(f"{number:04d}", material(tag))
        self.revision += 1
        self.changed[name] = self.revision

    def _read(self) -> None:
        self.reads += 1
        if self.down:
            raise EtcdUnavailableError(["http://fake:2379"], "connection refused")

    def live_pointers(self) -> dict[str, tuple[str, str, int]]:
        self._read()
        return {
            n: (v.version, material_digest(v.material), self.changed[n])
            for n, v in self.versions.items()
        }

    def synced(self, origin: str | None = None) -> list[OriginSync]:
        self._read()
        return list(self.records.values())

    def live(self, name: str) -> LiveCertificate | None:
        self._read()
        return self.versions.get(name)

    def load(self, name: str) -> StoredCertificate:
        return StoredCertificate(CertificateSettings(cert_name=name, names=(name,)))

    def record_sync(self, name: str, version: str, digest: str, result: str) -> None:
        self.records[name] = OriginSync(self.origin, name, version, digest, "now", result)

    def current_revision(self) -> int:
        self._read()
        return self.revision

    def changed_since(self, revision: int) -> tuple[list[str], int]:
        self._read()
        return sorted(n for n, r in self.changed.items() if r > revision), self.revision


@pytest.fixture
def shared() -> FakeShared:
    return FakeShared()


@pytest.fixture
def store(tmp_path: Path, shared: FakeShared) -> FleetStore:
    return FleetStore(tmp_path / "config", shared, lock_wait=60)  # type: ignore[arg-type]


@pytest.fixture
def services(store: FleetStore) -> Services:
    return Services(store, {}, RunOptions(hook_timeout=5))


def live_here(store: FleetStore, name: str) -> CertificateMaterial | None:
    live = store.local.live(name)
    return None if live is None else live.material


def test_a_new_version_is_written_here_and_its_hooks_run_once(
    store: FleetStore, shared: FakeShared, services: Services
) -> None:
    shared.publish("example.com", "1")
    first = sync_all(store, services)
    assert [(o.name, o.version, o.changed, o.hooks_ran) for o in first.outcomes] == [
        ("example.com", "0001", True, True)
    ]
    assert live_here(store, "example.com") == material("1")
    assert shared.records["example.com"].version == "0001"
    again = sync_all(store, services)
    assert [(o.changed, o.hooks_ran) for o in again.outcomes] == [(False, False)]


def test_files_in_step_without_a_record_get_their_hooks(
    store: FleetStore, shared: FakeShared, services: Services
) -> None:
    shared.publish("example.com", "1")
    store.local.publish("example.com", material("1"))  # a sync that died before the hooks
    outcome = sync_all(store, services).outcomes[0]
    assert (outcome.changed, outcome.hooks_ran) == (False, True)
    assert "example.com" in shared.records


def test_a_local_write_that_fails_leaves_the_old_files_and_says_so(
    store: FleetStore, shared: FakeShared, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared.publish("example.com", "1")
    sync_all(store, services)
    shared.publish("example.com", "2")

    def full(*args: Any) -> str:
        raise StoreError("the file system of /etc/acmecf is full")

    monkeypatch.setattr(store.local, "publish", full)
    outcome = sync_all(store, services).outcomes[0]
    assert outcome.error is not None and "still hold the previous one" in str(outcome.error)
    assert live_here(store, "example.com") == material("1")
    assert shared.records["example.com"].version == "0001", "not recorded as synced"


def test_an_unreachable_store_raises_and_touches_nothing(
    store: FleetStore, shared: FakeShared, services: Services
) -> None:
    shared.publish("example.com", "1")
    sync_all(store, services)
    shared.down = True
    with pytest.raises(EtcdUnavailableError):
        sync_all(store, services)
    assert live_here(store, "example.com") == material("1")


def test_a_name_the_store_lacks_is_reported(store: FleetStore, services: Services) -> None:
    report = sync_all(store, services, ["missing.example.com"])
    assert report.unknown == ["missing.example.com"] and not report.ok


def test_the_deploy_step_of_a_run_writes_the_files_before_the_hooks(
    store: FleetStore, shared: FakeShared, services: Services
) -> None:
    join_fleet(services)
    assert services.options.lock_wait == 60, "waits while another origin renews"
    assert services.deploy_here is not None
    shared.publish("example.com", "1")
    errors = services.deploy_here(shared.load("example.com"), None)
    assert errors == [] and live_here(store, "example.com") == material("1")
    assert sync_all(store, services).outcomes[0].hooks_ran is False, "no second run of hooks"


def test_watch_syncs_everything_then_only_what_changed_and_rides_out_an_outage(
    store: FleetStore, shared: FakeShared, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    shared.publish("a.example.com", "a1")
    shared.publish("b.example.com", "b1")
    reports: list[SyncReport] = []
    steps: list[str] = []
    script = iter(["b2", "down", "still down", "up", "stop"])

    def sleep(seconds: float) -> None:
        step = next(script)
        steps.append(step)
        if step == "b2":
            shared.publish("b.example.com", "b2")
        shared.down = step in ("down", "still down")

    watch(
        store,
        services,
        interval=2,
        on_report=reports.append,
        stopped=lambda: bool(steps) and steps[-1] == "stop",
        clock=lambda: 0.0,
        sleep=sleep,
    )
    changed = [[o.name for o in report.outcomes if o.changed] for report in reports]
    assert changed[:2] == [["a.example.com", "b.example.com"], ["b.example.com"]]
    assert live_here(store, "b.example.com") == material("b2")
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1, "an outage is logged once"
