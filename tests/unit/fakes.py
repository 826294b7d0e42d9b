"""Fakes for unit tests: a DNS provider, a propagation check and an ACME CA that issue real
X.509 chains (from x509_factory's TinyCA) without sockets or sleeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acmecf.dns.propagation import ExpectedRecord
from acmecf.dns.provider import Zone
from acmecf.errors import (
    AcmecfError,
    AcmeError,
    AlreadyReplaced,
    CloudflareError,
    ValidationFailed,
    ZoneNotFoundError,
)
from acmecf.names import challenge_name

from .x509_factory import TinyCA


class FakeDns:
    """A DNS provider holding records in a set; `fail_cleanups` makes that many cleanups raise
    (a DNS API that is down for a while)."""

    def __init__(self, zones: tuple[str, ...] = ("example.com",)) -> None:
        self.zones = zones
        self.records: set[tuple[str, str]] = set()
        self.created: list[tuple[str, str]] = []
        self.fail_cleanups = 0
        self.fail_present: CloudflareError | None = None

    def zone_for(self, name: str) -> Zone:
        for zone in self.zones:
            if name == zone or name.endswith("." + zone):
                return Zone(f"id-{zone}", zone)
        raise ZoneNotFoundError(f"no zone for {name}")

    def present(self, name: str, value: str) -> None:
        self.zone_for(name)
        if self.fail_present is not None:
            raise self.fail_present
        self.records.add((name, value))
        self.created.append((name, value))

    def cleanup(self, name: str, value: str) -> None:
        if self.fail_cleanups:
            self.fail_cleanups -= 1
            raise CloudflareError("the API is down", status=503)
        self.records.discard((name, value))


class FakePropagation:
    def __init__(self, dns: FakeDns) -> None:
        self.dns = dns
        self.waited: list[list[ExpectedRecord]] = []
        self.settles: list[float | None] = []
        self.settle = 5.0
        self.fail: Exception | None = None

    def follow_cname(self, name: str) -> str:
        return name

    def wait(
        self, records: list[ExpectedRecord], *, timeout: float, settle: float | None = None
    ) -> None:
        self.waited.append(list(records))
        self.settles.append(settle)
        if self.fail is not None:
            raise self.fail
        for record in records:
            assert (record.name, record.value) in self.dns.records, "waited for a missing record"


@dataclass
class FakeChallenge:
    identifier: str
    record_name: str
    value: str


@dataclass
class FakeOrder:
    names: list[str]
    csr: bytes | None = None
    profile: str | None = None


@dataclass
class FakePersistChallenge:
    identifier: str


@dataclass
class FakeCa:
    """An ACME CA that validates against FakeDns and signs with a TinyCA."""

    dns: FakeDns
    ca: TinyCA = field(default_factory=TinyCA)
    server: str = "https://ca.test/dir"
    renewal_info_url: str | None = "https://ca.test/renewal-info"
    orders: list[dict[str, Any]] = field(default_factory=list)
    refuse_finalize: str | None = None
    replaced: set[str] = field(default_factory=set)  # ARI ids another order replaced
    default_profile: str | None = "classic"
    persist: bool = True  # offers dns-persist-01
    persist_answered: list[str] = field(default_factory=list)
    not_found_yet: int = 0  # validations that fail as if the CA's view lagged (ValidationFailed)

    def new_order(
        self,
        csr_pem: bytes,
        *,
        replaces: str | None,
        profile: str | None,
        preferred_profile: str | None = None,
    ) -> FakeOrder:
        csr = x509.load_pem_x509_csr(csr_pem)
        names = list(
            csr.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value.get_values_for_type(x509.DNSName)
        )
        if replaces is not None and replaces in self.replaced:
            raise AlreadyReplaced(
                "certificate already has a replacement order", problem="alreadyReplaced"
            )
        self.orders.append(
            {
                "names": names,
                "replaces": replaces,
                "profile": profile,
                "preferred_profile": preferred_profile,
            }
        )
        return FakeOrder(names, profile=profile or preferred_profile or self.default_profile)

    def profile_of(self, order: FakeOrder) -> str | None:
        return order.profile

    def persist_challenges(self, order: FakeOrder) -> list[FakePersistChallenge]:
        if not self.persist:
            raise AcmeError(f"the CA at {self.server} does not offer dns-persist-01")
        return [FakePersistChallenge(name) for name in order.names]

    def answer_persist(self, challenge: FakePersistChallenge) -> None:
        self.persist_answered.append(challenge.identifier)

    def pending_challenges(self, order: FakeOrder) -> list[FakeChallenge]:
        return [
            FakeChallenge(name, challenge_name(name), f"token-for-{name}") for name in order.names
        ]

    def answer(self, challenge: FakeChallenge) -> None:
        if (challenge.record_name, challenge.value) not in self.dns.records:
            raise AcmeError(f"the CA could not validate {challenge.identifier}")

    def wait_for_authorizations(self, order: FakeOrder, deadline: float) -> None:
        if self.not_found_yet:
            self.not_found_yet -= 1
            raise ValidationFailed(
                f"the CA could not validate {order.names[0]}: No TXT records found",
                problem="dns",
            )

    def renewal_info(self, ari_id: str) -> tuple[dict[str, Any], Any]:
        import datetime

        self.orders.append({"renewal_info": ari_id})
        window = {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}
        return {"suggestedWindow": window}, datetime.timedelta(hours=6)

    def finalize(
        self, order: FakeOrder, csr_pem: bytes, deadline: float, *, preferred_chain: str | None
    ) -> str:
        if self.refuse_finalize:
            raise AcmeError(self.refuse_finalize)
        csr = x509.load_pem_x509_csr(csr_pem)
        leaf = self.ca.leaf_for_public_key(csr.public_key(), order.names)
        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode()
            for c in (leaf, self.ca.intermediate)
        )


class FakeManyDns(FakeDns):
    """FakeDns that takes several records at once (dns.provider.ManyRecords); `refuse` names
    values it refuses outright (HTTP 400)."""

    def __init__(self, zones: tuple[str, ...] = ("example.com",)) -> None:
        super().__init__(zones)
        self.batches: list[tuple[str, int]] = []
        self.refuse: set[str] = set()

    def present_many(self, records: Sequence[tuple[str, str]]) -> list[AcmecfError | None]:
        self.batches.append(("present", len(records)))
        return [self._try(self.present, name, value) for name, value in records]

    def cleanup_many(self, records: Sequence[tuple[str, str]]) -> list[AcmecfError | None]:
        self.batches.append(("cleanup", len(records)))
        return [self._try(self.cleanup, name, value) for name, value in records]

    def _try(self, change: Any, name: str, value: str) -> AcmecfError | None:
        try:
            if value in self.refuse:
                raise CloudflareError(f"refused {value}", status=400)
            change(name, value)
        except AcmecfError as err:
            return err
        return None
