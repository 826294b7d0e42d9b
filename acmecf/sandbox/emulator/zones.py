"""Zones: ``GET /zones`` (filtered, sorted, paged) and ``GET /zones/{zone_id}``.

Does not: create, edit, delete, pause or activate zones through the API (tests configure
them with ``CloudflareEmulator.add_zone``); purge caches or check activation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acmecf.sandbox.emulator.auth import zone_for
from acmecf.sandbox.emulator.envelope import (
    ApiError,
    Reply,
    envelope,
    first_parameter,
    paginate,
)
from acmecf.sandbox.emulator.routes import ApiCall, Route
from acmecf.sandbox.emulator.state import Credential, State, Zone, to_ascii


def zone_json(state: State, zone: Zone, credential: Credential) -> dict[str, Any]:
    """The zone object as the API returns it to ``credential``."""
    # https://developers.cloudflare.com/api/resources/zones/methods/get/
    permissions = [
        "#zone:read", "#dns_records:read", "#dns_records:edit", "#zone_settings:edit",
        "#ssl:edit",
    ]  # fmt: skip
    if credential.token is not None:
        token = credential.token
        permissions = [
            permission
            for permission, granted in (
                ("#zone:read", token.zone_read),
                ("#dns_records:read", token.dns_read or token.dns_edit),
                ("#dns_records:edit", token.dns_edit),
                ("#zone_settings:edit", token.zone_settings_edit),
                ("#ssl:edit", token.ssl_edit),
            )
            if granted
        ]
    return {
        "id": zone.id,
        "name": zone.name,
        "status": "active",
        "paused": False,
        "type": "full",
        "development_mode": 0,
        "name_servers": [nameserver.name for nameserver in state.nameservers],
        "original_name_servers": None,
        "original_registrar": None,
        "original_dnshost": None,
        "modified_on": zone.created_on,
        "created_on": zone.created_on,
        "activated_on": zone.created_on,
        "vanity_name_servers": [],
        "meta": {
            "step": 2,
            "custom_certificate_quota": 0,
            "page_rule_quota": 3,
            "phishing_detected": False,
            "cdn_only": False,
            "dns_only": False,
            "foundation_dns": False,
        },
        "owner": {"id": None, "type": "user", "email": None},
        "account": {"id": state.account_id, "name": state.account_name},
        "tenant": {"id": None, "name": None},
        "tenant_unit": {"id": None},
        "permissions": permissions,
        "plan": {
            "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "name": "Free Website",
            "price": 0,
            "currency": "USD",
            "frequency": "",
            "is_subscribed": False,
            "can_subscribe": False,
            "legacy_id": "free",
            "legacy_discount": False,
            "externally_managed": False,
        },
    }


# https://developers.cloudflare.com/api/resources/zones/methods/list/
def list_zones(state: State, call: ApiCall) -> Reply:
    token = call.credential.token
    if token is not None and not token.zone_read:
        # Error code 0 quoted by cert-manager's and certbot's Cloudflare docs for a
        # token that may not list zones.
        raise ApiError.single(
            403,
            0,
            f"Actor 'com.cloudflare.api.token.{token.id}' requires permission "
            "'com.cloudflare.api.account.zone.list' to list zones",
        )
    query = call.query
    name = first_parameter(query, "name").strip().rstrip(".").lower()
    status = first_parameter(query, "status")
    account_id = first_parameter(query, "account.id")
    account_name = first_parameter(query, "account.name")
    zones = [
        zone
        for zone in state.zones.values()
        if (token is None or token.covers(zone))
        and (not name or zone.name == to_ascii(name))
        and (not status or status == "active")
        and (not account_id or account_id == state.account_id)
        and (not account_name or account_name == state.account_name)
    ]
    order = first_parameter(query, "order", "name")
    descending = first_parameter(query, "direction", "asc") == "desc"
    key: Callable[[Zone], str] = (
        (lambda zone: zone.created_on) if order == "created_on" else (lambda zone: zone.name)
    )
    zones.sort(key=key, reverse=descending)
    # per_page: default 20, minimum 5, maximum 50.
    page, info = paginate(zones, query, default=20, minimum=5, maximum=50)
    items = [zone_json(state, zone, call.credential) for zone in page]
    return Reply(200, envelope(items, result_info=info))


# https://developers.cloudflare.com/api/resources/zones/methods/get/
def get_zone(state: State, call: ApiCall) -> Reply:
    # A token short of Zone:Read gets 403 9109 "Unauthorized to access requested
    # resource" (seen for /zones/{id}/settings/* with a DNS-only token in public notes).
    denied = ApiError.single(403, 9109, "Unauthorized to access requested resource")
    zone = zone_for(state, call.credential, call.params["zone_id"], call.path, denied=denied)
    if call.credential.token is not None and not call.credential.token.zone_read:
        raise denied
    return Reply(200, envelope(zone_json(state, zone, call.credential)))


ROUTES = [
    Route(
        "GET",
        "/zones",
        list_zones,
        doc="https://developers.cloudflare.com/api/resources/zones/methods/list/",
    ),
    Route(
        "GET",
        "/zones/{zone_id:id}",
        get_zone,
        doc="https://developers.cloudflare.com/api/resources/zones/methods/get/",
    ),
]
