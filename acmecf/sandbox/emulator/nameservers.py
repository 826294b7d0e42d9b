"""What each emulated nameserver, and the resolver behind the CA, serves at a moment.

A record created at t is served by nameserver i from t + delay_i and, once deleted at t',
until t' + delay_i (delays as they were at each change). The resolver sees a record only
once the most lagging nameserver serves it, and keeps seeing it until that nameserver drops
it. Each zone's SOA serial counts the changes the view has seen.

Does not: open sockets or parse DNS messages (``acmecf.sandbox.dns_server`` serves the
views built here), or know about the HTTP API.
"""

from __future__ import annotations

import math

from acmecf.sandbox.dns_server import DnsView, ServedRecord, ZoneView
from acmecf.sandbox.emulator.state import State

SERIAL_BASE = 2_340_000_000


def dns_view(state: State, view_index: int | None, now: float) -> DnsView:
    """What nameserver ``view_index`` (or the resolver, for None) serves at ``now``."""
    with state.lock:
        zones: list[ZoneView] = []
        for zone in state.zones.values():
            served: list[ServedRecord] = []
            changes = 0
            for record in state.zone_records(zone.id):
                if view_index is None:
                    appears = max(record.visible_from)
                    vanishes = (
                        max(record.hidden_from) if record.hidden_from is not None else math.inf
                    )
                else:
                    appears = record.visible_from[view_index]
                    vanishes = (
                        record.hidden_from[view_index]
                        if record.hidden_from is not None
                        else math.inf
                    )
                changes += (appears <= now) + (vanishes <= now)
                if appears <= now < vanishes:
                    served.extend(record.served)
            zones.append(
                ZoneView(name=zone.name, serial=SERIAL_BASE + changes, records=tuple(served))
            )
        nameservers = tuple(
            (nameserver.name, nameserver.address) for nameserver in state.nameservers
        )
    return DnsView(zones=tuple(zones), nameservers=nameservers)
