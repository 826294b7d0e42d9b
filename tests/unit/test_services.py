"""The run's collaborators: one pacer per CA for every worker's session, sessions opened in
parallel once the account exists, and the DNS provider gathered into batches unless off."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from acmecf.cloudflare.dns import CloudflareDns
from acmecf.dns.batching import BatchingProvider
from acmecf.errors import UsageError
from acmecf.lifecycle.services import RunOptions, Services
from acmecf.settings.table import CertificateSettings
from acmecf.storage.files import FileStore

SETTINGS = CertificateSettings(
    cert_name="example.com", names=("example.com",), server="https://ca.test/dir"
)
TOKEN = {"CLOUDFLARE_API_TOKEN": "t" * 40}


class FakeSession:
    def __init__(self, pacer: Any) -> None:
        self.pacer = pacer


def services(tmp_path: Path, environment: dict[str, str] | None = None) -> Services:
    return Services(FileStore(tmp_path / "config"), environment or {}, RunOptions())


def test_every_workers_session_with_a_ca_shares_one_pacer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[FakeSession] = []

    def open_session(server: str, store: Any, **options: Any) -> FakeSession:
        session = FakeSession(options["pacer"])
        opened.append(session)
        return session

    monkeypatch.setattr("acmecf.acme.accounts.open_session", open_session)
    run = services(tmp_path)
    threads = [threading.Thread(target=run.acme, args=(SETTINGS,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert run.acme(SETTINGS) is run.acme(SETTINGS), "one session per thread"
    assert len(opened) == 5, "one per thread: four workers and this one"
    assert len({id(session.pacer) for session in opened}) == 1


def test_only_the_first_session_with_a_ca_opens_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_may_finish = threading.Event()
    others_open = threading.Event()
    count = 0
    lock = threading.Lock()

    def open_session(server: str, store: Any, **options: Any) -> FakeSession:
        nonlocal count
        with lock:
            count += 1
            number = count
        if number == 1:  # registers the account: nobody else opens meanwhile
            assert first_may_finish.wait(10)
            assert count == 1
        elif number == 3:  # the two after it open side by side
            others_open.set()
        else:
            assert others_open.wait(10), "the second waited for the third: not in parallel"
        return FakeSession(options["pacer"])

    monkeypatch.setattr("acmecf.acme.accounts.open_session", open_session)
    run = services(tmp_path)
    first = threading.Thread(target=run.acme, args=(SETTINGS,))
    first.start()
    first_may_finish.set()
    first.join(10)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            run.acme(SETTINGS)
        except BaseException as err:
            errors.append(err)

    others = [threading.Thread(target=worker) for _ in range(2)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(10)
    assert errors == []
    assert count == 3


def test_the_dns_provider_gathers_changes_into_batches(tmp_path: Path) -> None:
    provider = services(tmp_path, TOKEN).dns(SETTINGS).provider
    assert isinstance(provider, BatchingProvider)
    assert isinstance(provider.provider, CloudflareDns)


def test_batching_can_be_switched_off(tmp_path: Path) -> None:
    provider = services(tmp_path, {**TOKEN, "ACMECF_DNS_BATCH": "off"}).dns(SETTINGS).provider
    assert isinstance(provider, CloudflareDns)


def test_a_bad_batching_variable_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="ACMECF_DNS_BATCH"):
        services(tmp_path, {**TOKEN, "ACMECF_DNS_BATCH": "maybe"}).dns(SETTINGS)


def test_cancelling_the_run_wakes_the_changes_waiting_for_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = services(tmp_path, TOKEN)
    provider = run.dns(SETTINGS).provider
    assert isinstance(provider, BatchingProvider)
    woken: list[bool] = []
    monkeypatch.setattr(provider, "wake", lambda: woken.append(run.cancelled))
    run.cancel()
    assert woken == [True]
