"""A DNS provider whose every record is written to the journal before it is created.

Wraps any DnsProvider: `present` files a journal entry (durable) before asking the provider,
`cleanup` drops it once the provider deleted the record. A run that dies at any moment, by
SIGKILL or power loss, leaves its records in the journal, and the next run removes them
(lifecycle.leftovers). The wrapper follows the provider contract itself, and takes several
records at once (ManyRecords), journaling them all first.

Does not: know Cloudflare, retry, or decide when to clean up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from acmecf.dns.provider import DnsProvider, ManyRecords, Zone, ZoneFinder
from acmecf.errors import AcmecfError
from acmecf.storage.contracts import RunJournal
from acmecf.storage.model import JournalEntry


class JournaledProvider:
    """`provider`'s records, journaled in `journal` with the tag `provider_key` (which
    credentials made them: a credentials file path, or None)."""

    def __init__(
        self, provider: DnsProvider, journal: RunJournal, provider_key: str | None
    ) -> None:
        self.provider = provider
        self._journal = journal
        self._key = provider_key
        self._entries: dict[tuple[str, str], JournalEntry] = {}
        self._lock = threading.Lock()

    def zone_for(self, name: str) -> Zone:
        if not isinstance(self.provider, ZoneFinder):
            raise TypeError("the provider cannot look zones up")
        return self.provider.zone_for(name)

    def present(self, name: str, value: str) -> None:
        self._record(name, value)
        self.provider.present(name, value)

    def cleanup(self, name: str, value: str) -> None:
        self.provider.cleanup(name, value)
        self._forget(name, value)

    def present_many(self, records: Sequence[tuple[str, str]]) -> list[AcmecfError | None]:
        """Journal every record, then present them all (at once where the provider takes
        several: ManyRecords)."""
        for name, value in records:
            self._record(name, value)
        if isinstance(self.provider, ManyRecords):
            return self.provider.present_many(records)
        return [_outcome(self.provider.present, name, value) for name, value in records]

    def cleanup_many(self, records: Sequence[tuple[str, str]]) -> list[AcmecfError | None]:
        if isinstance(self.provider, ManyRecords):
            outcomes = self.provider.cleanup_many(records)
        else:
            outcomes = [_outcome(self.provider.cleanup, name, value) for name, value in records]
        for (name, value), outcome in zip(records, outcomes, strict=True):
            if outcome is None:
                self._forget(name, value)
        return outcomes

    def _record(self, name: str, value: str) -> None:
        zone = self.provider.zone_for(name) if isinstance(self.provider, ZoneFinder) else None
        entry = JournalEntry(
            zone_id=zone.id if zone else None,
            zone_name=zone.name if zone else None,
            name=name,
            value=value,
            provider=self._key,
        )
        self._journal.record(entry)  # durable before the record can exist
        with self._lock:
            self._entries[(name, value)] = entry

    def _forget(self, name: str, value: str) -> None:
        with self._lock:
            entry = self._entries.pop((name, value), None)
        if entry is not None:
            self._journal.forget(entry)


def _outcome(change: Callable[[str, str], None], name: str, value: str) -> AcmecfError | None:
    try:
        change(name, value)
    except AcmecfError as err:
        return err
    return None
