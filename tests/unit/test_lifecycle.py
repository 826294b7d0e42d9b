"""obtain and renew_due with a fake issuer over a real FileStore: what goes live, what is
recorded, which hooks run, and how one certificate's failure stays its own."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import pytest

from acmecf.errors import AcmeError, StoreError
from acmecf.issuers.base import CertificateRequest, IssuedCertificate
from acmecf.lifecycle.obtain import obtain
from acmecf.lifecycle.renew import RenewSelection, renew_due
from acmecf.lifecycle.services import RunOptions, Services
from acmecf.pki.chain import verify_chain
from acmecf.pki.keys import generate_key, key_pem
from acmecf.settings.table import CertificateSettings
from acmecf.storage.files import FileStore
from acmecf.storage.model import CertificateState, StoredCertificate

from .x509_factory import TinyCA, pem

UTC = datetime.UTC


class FakeIssuer:
    name = "acme"

    def __init__(self, ca: TinyCA, fail: dict[str, Exception]) -> None:
        self.ca = ca
        self.fail = fail
        self.requests: list[CertificateRequest] = []

    def issue(self, request: CertificateRequest) -> IssuedCertificate:
        self.requests.append(request)
        if request.cert_name in self.fail:
            raise self.fail[request.cert_name]
        key = generate_key("ecdsa-p256")
        leaf = self.ca.leaf(key, list(request.names))  # type: ignore[arg-type]
        chain = verify_chain(pem(leaf, self.ca.intermediate), key, list(request.names))
        return IssuedCertificate(key_pem(key), chain, renewal_info_url=None)


class FakeServices(Services):
    def __init__(self, store: FileStore, issuer: FakeIssuer, **options: Any) -> None:
        super().__init__(store, {}, RunOptions(lock_wait=0.2, **options))
        self.fake_issuer = issuer

    def issuer(self, settings: CertificateSettings) -> Any:
        return self.fake_issuer


@pytest.fixture
def ca() -> TinyCA:
    return TinyCA()


def stored(name: str, tmp_path: Path, **settings: Any) -> StoredCertificate:
    marker = tmp_path / f"deployed-{name}"
    hooks = (f"echo $ACMECF_CERT_NAME >> {marker}",)
    return StoredCertificate(
        CertificateSettings(cert_name=name, names=(name,), deploy_hooks=hooks, **settings)
    )


def deployed(tmp_path: Path, name: str) -> int:
    marker = tmp_path / f"deployed-{name}"
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def test_a_new_certificate_goes_live_with_its_settings_state_and_hook(
    tmp_path: Path, ca: TinyCA
) -> None:
    store = FileStore(tmp_path / "config")
    outcome = obtain(stored("a.example.com", tmp_path), FakeServices(store, FakeIssuer(ca, {})))
    assert outcome.ok and outcome.version == "0001"
    state = store.load("a.example.com").state
    assert state.version == state.deployed_version == "0001"
    assert state.last_result == "ok" and state.not_after is not None
    assert deployed(tmp_path, "a.example.com") == 1


def test_the_settings_of_a_new_certificate_exist_before_its_live_link(
    tmp_path: Path, ca: TinyCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "config")
    seen: list[list[str]] = []
    real_publish = FileStore.publish

    def publish(self: FileStore, name: str, material: Any, files: Any = None) -> str:
        seen.append(self.names())
        return real_publish(self, name, material, files)

    monkeypatch.setattr(FileStore, "publish", publish)
    obtain(stored("a.example.com", tmp_path), FakeServices(store, FakeIssuer(ca, {})))
    assert seen == [["a.example.com"]]


def test_a_state_that_cannot_be_written_after_the_switch_still_counts_as_renewed(
    tmp_path: Path, ca: TinyCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "config")
    services = FakeServices(store, FakeIssuer(ca, {}))
    obtain(stored("a.example.com", tmp_path), services)
    real_save = FileStore.save

    def full_disk(self: FileStore, certificate: StoredCertificate) -> None:
        if certificate.state.version == "0002":
            raise StoreError("cannot write renewal/a.example.com.toml: the disk is full")
        real_save(self, certificate)

    monkeypatch.setattr(FileStore, "save", full_disk)
    outcome = obtain(stored("a.example.com", tmp_path), services)
    assert outcome.version == "0002" and outcome.error is None
    assert "state was not recorded" in outcome.warnings[0] and "disk is full" in outcome.warnings[0]
    assert deployed(tmp_path, "a.example.com") == 2, "the version that went live got its hook"
    monkeypatch.setattr(FileStore, "save", real_save)
    # The next run finds the version without its recorded state, records it, and does not
    # run the hook a second time for it... unless it never ran: here it ran, but the state
    # that says so was lost too, so the next run runs it again rather than never.
    report = renew_due(store, lambda: FakeServices(store, FakeIssuer(ca, {})), RenewSelection())
    assert [o.version for o in report.outcomes] == ["0002"]
    state = store.load("a.example.com").state
    assert state.version == state.deployed_version == "0002"


def test_a_version_that_went_live_in_a_run_that_died_gets_its_hook_next_run(
    tmp_path: Path, ca: TinyCA
) -> None:
    store = FileStore(tmp_path / "config")
    services = FakeServices(store, FakeIssuer(ca, {}))
    obtain(stored("a.example.com", tmp_path), services)
    # A run died right after the switch: version 0002 is live, the state still says 0001.
    certificate = store.load("a.example.com")
    issued = FakeIssuer(ca, {}).issue(CertificateRequest("a.example.com", ("a.example.com",)))
    from acmecf.storage.model import CertificateMaterial

    store.publish(
        "a.example.com",
        CertificateMaterial(issued.key_pem, issued.chain.cert_pem, issued.chain.chain_pem),
    )
    assert store.load("a.example.com") == certificate
    made: list[Services] = []

    def factory() -> Services:
        made.append(FakeServices(store, FakeIssuer(ca, {})))
        return made[0]

    report = renew_due(store, factory, RenewSelection())
    assert [(o.cert_name, o.version) for o in report.outcomes] == [("a.example.com", "0002")]
    assert deployed(tmp_path, "a.example.com") == 2
    assert store.load("a.example.com").state.deployed_version == "0002"
    assert made[0].fake_issuer.requests == [], "nothing was ordered"


def test_a_failure_is_recorded_and_the_live_certificate_stays(tmp_path: Path, ca: TinyCA) -> None:
    store = FileStore(tmp_path / "config")
    obtain(stored("a.example.com", tmp_path), FakeServices(store, FakeIssuer(ca, {})))
    live = store.live("a.example.com")
    failing = FakeIssuer(ca, {"a.example.com": AcmeError("the CA refused creating the order")})
    outcome = obtain(stored("a.example.com", tmp_path), FakeServices(store, failing))
    assert isinstance(outcome.error, AcmeError)
    assert store.live("a.example.com") == live
    assert store.load("a.example.com").state.last_result == "the CA refused creating the order"


def test_nothing_due_touches_nothing(tmp_path: Path, ca: TinyCA) -> None:
    store = FileStore(tmp_path / "config")
    obtain(stored("a.example.com", tmp_path), FakeServices(store, FakeIssuer(ca, {})))

    def no_services() -> Services:
        raise AssertionError("a run with nothing due needs no services")

    report = renew_due(store, no_services, RenewSelection())
    assert report.outcomes == [] and [n for n, _ in report.not_due] == ["a.example.com"]


def test_one_broken_certificate_does_not_stop_the_others(tmp_path: Path, ca: TinyCA) -> None:
    store = FileStore(tmp_path / "config")
    for name in ("a.example.com", "c.example.com"):
        store.save(stored(name, tmp_path))
    (tmp_path / "config" / "renewal" / "b.example.com.toml").write_text("names = 1\n")
    failing = {"c.example.com": AcmeError("refused")}
    report = renew_due(
        store, lambda: FakeServices(store, FakeIssuer(ca, failing)), RenewSelection()
    )
    assert [n for n, _ in report.errors] == ["b.example.com"]
    results = {o.cert_name: (o.version, o.error is None) for o in report.outcomes}
    assert results == {"a.example.com": ("0001", True), "c.example.com": (None, False)}
    assert not report.ok


def test_a_certificate_renewed_by_another_run_meanwhile_is_skipped(
    tmp_path: Path, ca: TinyCA
) -> None:
    store = FileStore(tmp_path / "config")
    now = datetime.datetime.now(UTC)
    obtain(stored("a.example.com", tmp_path), FakeServices(store, FakeIssuer(ca, {})))
    certificate = store.load("a.example.com")
    due = dataclasses.replace(
        certificate.state, not_after=now + datetime.timedelta(days=1), not_before=now
    )
    store.save(StoredCertificate(certificate.settings, due))
    stale = store.load("a.example.com")
    # Another run renews it between our decision and our lock:
    obtain(stale, FakeServices(store, FakeIssuer(ca, {})))
    from acmecf.lifecycle.renew import obtain_all

    services = FakeServices(store, FakeIssuer(ca, {}))
    [outcome] = list(obtain_all([(stale, None)], services, selection=RenewSelection()))
    assert outcome.skipped is not None and "another acmecf run" in outcome.skipped
    assert services.fake_issuer.requests == []


def test_settings_from_the_environment_are_not_written_back_by_renew(
    tmp_path: Path, ca: TinyCA
) -> None:
    store = FileStore(tmp_path / "config")
    store.save(stored("a.example.com", tmp_path, server="https://stored.example/dir"))

    def factory() -> Services:
        services = FakeServices(store, FakeIssuer(ca, {}))
        services.environment = {"ACMECF_SERVER": "https://from-env.example/dir"}
        return services

    renew_due(store, factory, RenewSelection())
    assert store.load("a.example.com").settings.server == "https://stored.example/dir"
    assert store.load("a.example.com").state.version == "0001"


def test_states_of_certificates_never_issued_are_due(tmp_path: Path) -> None:
    from acmecf.lifecycle.schedule import decide

    assert decide(CertificateState(), datetime.datetime.now(UTC)).due


def test_a_certificate_another_machine_replaced_is_skipped_and_left_until_near_expiry(
    tmp_path: Path, ca: TinyCA
) -> None:
    from acmecf.errors import AlreadyReplaced
    from acmecf.lifecycle.schedule import last_resort_time

    store = FileStore(tmp_path / "config")
    obtain(stored("a.example.com", tmp_path), FakeServices(store, FakeIssuer(ca, {})))
    certificate = store.load("a.example.com")
    store.save(
        StoredCertificate(
            certificate.settings, dataclasses.replace(certificate.state, ari_id="aki.serial")
        )
    )
    live = store.live("a.example.com")
    refused = AlreadyReplaced("the CA says another order already replaced", problem="x")
    outcome = obtain(
        store.load("a.example.com"),
        FakeServices(store, FakeIssuer(ca, {"a.example.com": refused})),
    )
    assert outcome.error is None and outcome.skipped is not None
    assert "renewed here only from" in outcome.skipped
    state = store.load("a.example.com").state
    assert state.replaced_elsewhere is not None
    assert state.last_result == "replaced elsewhere: another machine renewed it"
    assert store.live("a.example.com") == live

    def no_services() -> Services:
        raise AssertionError("nothing is due: the next runs do not retry it")

    assert renew_due(store, no_services, RenewSelection()).outcomes == []
    # Near expiry it is renewed here after all, without claiming to replace anything.
    assert state.not_after is not None
    moment = last_resort_time(state)
    assert moment is not None
    issuer = FakeIssuer(ca, {})
    report = renew_due(
        store,
        lambda: FakeServices(store, issuer),
        RenewSelection(),
        now=lambda: moment + datetime.timedelta(minutes=1),
    )
    assert [o.version for o in report.outcomes] == ["0002"]
    assert issuer.requests[0].replaces is None
    assert store.load("a.example.com").state.replaced_elsewhere is None


@pytest.mark.parametrize(
    ("server", "asked"),
    [
        ("https://acme-v02.api.letsencrypt.org/directory", False),
        ("https://acme-staging-v02.api.letsencrypt.org/directory", False),
        ("https://acme.example/directory", True),
    ],
)
def test_must_staple_is_never_asked_of_lets_encrypt(
    tmp_path: Path, ca: TinyCA, caplog: pytest.LogCaptureFixture, server: str, asked: bool
) -> None:
    store = FileStore(tmp_path / "config")
    issuer = FakeIssuer(ca, {})
    certificate = stored("a.example.com", tmp_path, server=server, must_staple=True)
    assert obtain(certificate, FakeServices(store, issuer)).error is None
    assert issuer.requests[0].must_staple is asked
    assert ("no longer issues OCSP Must-Staple" in caplog.text) is not asked


def test_the_request_carries_the_profiles_and_the_challenge(tmp_path: Path, ca: TinyCA) -> None:
    store = FileStore(tmp_path / "config")
    issuer = FakeIssuer(ca, {})
    certificate = stored(
        "a.example.com", tmp_path, preferred_profile="shortlived", challenge="dns-persist-01"
    )
    obtain(certificate, FakeServices(store, issuer))
    request = issuer.requests[0]
    assert (request.profile, request.preferred_profile, request.challenge) == (
        None,
        "shortlived",
        "dns-persist-01",
    )


def test_the_post_hook_learns_what_was_renewed_and_what_failed() -> None:
    from acmecf.lifecycle.obtain import Outcome
    from acmecf.lifecycle.renew import RenewReport, post_hook_environment

    report = RenewReport(
        outcomes=[
            Outcome("a.example.com", version="0002", names=("a.example.com", "*.a.example.com")),
            Outcome("b.example.com", error=AcmeError("refused"), names=("b.example.com",)),
            Outcome("c.example.com", skipped="another run renewed it", names=("c.example.com",)),
        ],
        errors=[("broken.example.com", StoreError("unreadable"))],
    )
    assert post_hook_environment(report) == {
        "RENEWED_DOMAINS": "a.example.com *.a.example.com",
        "FAILED_DOMAINS": "b.example.com",
        "ACMECF_RENEWED": "a.example.com",
        "ACMECF_FAILED": "b.example.com broken.example.com",
    }


def test_old_versions_are_pruned_after_each_renewal(tmp_path: Path, ca: TinyCA) -> None:
    store = FileStore(tmp_path / "config")
    certificate = stored("a.example.com", tmp_path, keep_versions=2)
    for _ in range(4):
        assert obtain(certificate, FakeServices(store, FakeIssuer(ca, {}))).ok
    archive = tmp_path / "config" / "archive" / "a.example.com"
    assert sorted(p.name for p in archive.iterdir()) == ["0003", "0004"]


def test_a_certificate_another_run_failed_meanwhile_is_not_tried_again_at_once(
    tmp_path: Path, ca: TinyCA
) -> None:
    from acmecf.lifecycle.renew import obtain_all

    store = FileStore(tmp_path / "config")
    store.save(stored("a.example.com", tmp_path))
    decided = store.load("a.example.com")
    later = datetime.datetime.now(UTC) + datetime.timedelta(seconds=5)
    failed = dataclasses.replace(decided.state, last_attempt=later, last_result="the CA refused")
    store.save(StoredCertificate(decided.settings, failed))  # another origin, while we waited
    services = FakeServices(store, FakeIssuer(ca, {}))
    [outcome] = list(obtain_all([(decided, None)], services, selection=RenewSelection()))
    assert outcome.skipped == "another acmecf run tried it meanwhile and failed: the CA refused"
    assert services.fake_issuer.requests == []
