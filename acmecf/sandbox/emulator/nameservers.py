"""What each emulated nameserver, and the resolver behind the CA, serves at a moment.

A record created at t is served by nameserver i from t + delay_i and, once deleted at t',
until t' + delay_i (delays as they were at each change); an update made at t'' replaces the
old content there from t'' + delay_i. The resolver sees a record only
once the most lagging nameserver serves it, plus the resolver lag (``set_resolver_lag``:
the CA's far view, behind every nameserver a client can ask), and keeps seeing it as long
after a deletion. Each zone's SOA serial counts the changes the view has seen.

Does not: open sockets or parse DNS messages (``acmecf.sandbox.dns_server`` serves the
views built here), or know about the HTTP API.
"""

from __future__ import annotations

import functools
import math

from acmecf.sandbox.dns_server import DnsView, ServedRecord, ZoneView
from acmecf.sandbox.emulator.state import Record, State, Zone

SERIAL_BASE = 2_340_000_000
# Which zones each side sees, by status. The resolver follows the public delegation, which
# points at Cloudflare only for active zones; Cloudflare's nameservers answer for a zone
# from its creation until it is moved away (the moved cut-off is not verified).
# https://developers.cloudflare.com/dns/zone-setups/reference/domain-status/
RESOLVER_STATUSES = frozenset({"active"})
NAMESERVER_STATUSES = frozenset({"initializing", "pending", "active"})


def dns_view(state: State, view_index: int | None, now: float) -> DnsView:
    """What nameserver ``view_index`` (or the resolver, for None) serves at ``now``.

    Zones are built lazily by the DNS server, each with the same ``now``.
    """
    with state.lock:
        statuses = RESOLVER_STATUSES if view_index is None else NAMESERVER_STATUSES
        zones = {
            zone.name: functools.partial(_zone_view, state, zone, view_index, now)
            for zone in state.zones.values()
            if zone.status in statuses
        }
        nameservers = tuple(
            (nameserver.name, nameserver.address) for nameserver in state.nameservers
        )
    return DnsView(zones=zones, nameservers=nameservers)


def _moment(times: tuple[float, ...], view_index: int | None) -> float:
    """When nameserver ``view_index`` (the resolver: last in ``times``) sees a change."""
    return times[-1] if view_index is None else times[view_index]


def _zone_view(state: State, zone: Zone, view_index: int | None, now: float) -> ZoneView:
    """What one server serves of `zone` at `now`: built again only after a record change or
    once a stored moment (a change reaching this server) has passed."""
    with state.lock:
        key = (zone.id, view_index)
        cached = state.zone_views.get(key)
        if cached is not None:
            changes, valid_until, view = cached
            if changes == zone.changes and now < valid_until:
                return view
        view, valid_until = _build_zone_view(state, zone, view_index, now)
        state.zone_views[key] = (zone.changes, valid_until, view)
        return view


def _build_zone_view(
    state: State, zone: Zone, view_index: int | None, now: float
) -> tuple[ZoneView, float]:
    """The view, and until when it holds (the next moment of this server after `now`)."""
    served: list[ServedRecord] = []
    changes = zone.forgotten_changes
    gone: list[Record] = []
    next_moment = math.inf
    for record in state.zone_records(zone.id):
        if _gone_everywhere(record, now):
            gone.append(record)
            continue
        vanishes = _moment(record.hidden_from, view_index) if record.hidden_from else math.inf
        if vanishes <= now:
            changes += 1
        else:
            next_moment = min(next_moment, vanishes)
        # The newest version this server has picked up is the one it serves; an update
        # replaces the older version only where the newer one has arrived.
        serving: Record | None = None
        for version in record.versions():
            appears = _moment(version.visible_from, view_index)
            if appears <= now:
                changes += 1
                serving = serving or version
            else:
                next_moment = min(next_moment, appears)
        if serving is not None and now < vanishes:
            served.extend(serving.served)
    # A record deleted long enough ago that no server (nor the resolver) can see any of
    # its versions again is forgotten; its changes (each version, and the deletion) stay
    # in the serial, as every view had counted them.
    for record in gone:
        forgotten = len(record.versions()) + 1
        zone.forgotten_changes += forgotten
        changes += forgotten
        state.forget_record(record)
    # Other servers' moments may come sooner than this one's: they only matter to their own
    # views, and a forgotten record changes no view, so neither ends this one early.
    view = ZoneView(name=zone.name, serial=SERIAL_BASE + changes, records=tuple(served))
    return view, next_moment


def _gone_everywhere(record: Record, now: float) -> bool:
    """Whether every server, and the resolver, has stopped serving `record` for good."""
    if record.hidden_from is None:
        return False
    moments = [*record.hidden_from]
    for version in record.versions():
        moments.extend(version.visible_from)
    return max(moments) <= now
