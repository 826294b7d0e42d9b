"""Zones: ``GET /zones`` (filtered, sorted, paged) and ``GET /zones/{zone_id}``.

A zone has a status (initializing, pending, active, moved) and a plan (free, pro, business,
enterprise) that the zone object shows as the API does and that sets the zone's limits:
records per zone, tags per record and changes per batch (``PLANS``).

Does not: create, edit, delete, pause or activate zones through the API (tests configure
them with ``CloudflareEmulator.add_zone``); purge caches or check activation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from acmecf.sandbox.emulator.state import PLANS as PLANS_IN_ORDER
from acmecf.sandbox.emulator.state import Credential, State, Zone, to_ascii


@dataclass(frozen=True)
class Plan:
    """A zone plan as the zone object shows it, and the limits that depend on it."""

    legacy_id: str
    id: str
    name: str
    price: int
    batch_limit: int
    record_quota: int
    tag_quota: int


# Batch limits: "Free: 200, Pro: 3,500, Business: 3,500, Enterprise: 3,500"
# https://developers.cloudflare.com/dns/manage-dns-records/how-to/batch-record-changes/
# Record quotas: 200 on Free, 3,500 on Pro (a maintainer's account of the upgrade in
# https://github.com/thunderbird/thunderbird-accounts/issues/1060); Business and
# Enterprise are given Pro's quota here (not verified; Enterprise can raise it).
# Tag quotas: 0 on Free ("DNS record has 1 tags, exceeding the quota of 0." on a Free
# zone: https://github.com/kubernetes-sigs/external-dns/issues/3706); 10 on paid plans
# (not verified). The Free plan id is the one live zones show; the others are not verified.
PLANS: dict[str, Plan] = {
    plan.legacy_id: plan
    for plan in (
        Plan("free", "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "Free Website", 0, 200, 200, 0),
        Plan("pro", "94f3b7b768b0458b56d2cac4fe5ec0f9", "Pro Website", 25, 3500, 3500, 10),
        Plan(
            "business", "14ba7e5d4d5d4ba1b4d8a0c8e3f0a3c2", "Business Website", 250, 3500, 3500, 10
        ),
        Plan(
            "enterprise",
            "9ae1a3a0e1b54c4db5e7c0a5f7c6b1d8",
            "Enterprise Website",
            5000,
            3500,
            3500,
            10,
        ),
    )
}
assert tuple(PLANS) == PLANS_IN_ORDER


def record_quota(zone: Zone) -> int:
    """How many records the zone may hold."""
    return zone.record_quota if zone.record_quota is not None else PLANS[zone.plan].record_quota


def tag_quota(zone: Zone) -> int:
    """How many tags one record of the zone may carry."""
    return zone.tag_quota if zone.tag_quota is not None else PLANS[zone.plan].tag_quota


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
    plan = PLANS[zone.plan]
    paid = plan.price > 0
    return {
        "id": zone.id,
        "name": zone.name,
        "status": zone.status,
        "paused": False,
        "type": "full",
        "development_mode": 0,
        "name_servers": [nameserver.name for nameserver in state.nameservers],
        "original_name_servers": None,
        "original_registrar": None,
        "original_dnshost": None,
        "modified_on": zone.modified_on or zone.created_on,
        "created_on": zone.created_on,
        # "The last time proof of ownership was detected and the zone was made active."
        "activated_on": zone.created_on if zone.status in ("active", "moved") else None,
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
        # https://developers.cloudflare.com/api/resources/zones/methods/get/ (plan object)
        "plan": {
            "id": plan.id,
            "name": plan.name,
            "price": plan.price,
            "currency": "USD",
            "frequency": "monthly" if paid else "",
            "is_subscribed": paid,
            "can_subscribe": paid,
            "legacy_id": plan.legacy_id,
            "legacy_discount": False,
            "externally_managed": False,
        },
    }


# The operators of the name and account.name filters, written "operator:value" (default
# equal): "equal, not_equal, starts_with, ends_with, contains, starts_with_case_sensitive,
# ends_with_case_sensitive, contains_case_sensitive" (ZoneListParams in the SDK; the list
# docs at https://developers.cloudflare.com/api/resources/zones/methods/list/).
NAME_OPERATORS = (
    "equal", "not_equal", "starts_with", "ends_with", "contains",
    "starts_with_case_sensitive", "ends_with_case_sensitive", "contains_case_sensitive",
)  # fmt: skip


def name_matches(value: str, expression: str) -> bool:
    """Whether ``value`` matches a name filter such as ``contains:example``."""
    operator, _, operand = expression.partition(":")
    if operator not in NAME_OPERATORS or not operand:
        operator, operand = "equal", expression
    if not operator.endswith("_case_sensitive"):
        value, operand = value.lower(), operand.lower()
    base = operator.removesuffix("_case_sensitive")
    if base == "equal":
        return value == operand
    if base == "not_equal":
        return value != operand
    if base == "starts_with":
        return value.startswith(operand)
    if base == "ends_with":
        return value.endswith(operand)
    return operand in value


_ZONE_ORDERS: dict[str, Callable[[Zone], str]] = {
    "name": lambda zone: zone.name,
    "status": lambda zone: zone.status,
    "plan.id": lambda zone: PLANS[zone.plan].id,
    "created_on": lambda zone: zone.created_on,
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
    checks: list[Callable[[Zone], bool]] = []
    name = first_parameter(query, "name").strip()
    if name:
        operator, _, operand = name.partition(":")
        if operator in NAME_OPERATORS and operand:
            name = f"{operator}:{to_ascii(operand.rstrip('.'))}"
        else:
            name = to_ascii(name.rstrip("."))
        checks.append(lambda zone: name_matches(zone.name, name))
    status = first_parameter(query, "status")
    if status:
        checks.append(lambda zone: zone.status == status)
    account_id = first_parameter(query, "account.id")
    if account_id:
        checks.append(lambda zone: account_id == state.account_id)
    account_name = first_parameter(query, "account.name")
    if account_name:
        checks.append(lambda zone: name_matches(state.account_name, account_name))
    # "When this parameter is not provided, zones with type internal are excluded"; every
    # emulated zone is a full zone.
    types = {kind for value in query.get("type", []) for kind in value.split(",") if kind}
    if types and "full" not in types:
        checks.append(lambda zone: False)
    match_any = first_parameter(query, "match", "all") == "any"
    combine = any if match_any else all
    zones = [
        zone
        for zone in state.zones.values()
        if (token is None or token.covers(zone))
        and (not checks or combine(check(zone) for check in checks))
    ]
    order = first_parameter(query, "order", "name")
    descending = first_parameter(query, "direction", "asc") == "desc"
    key = _ZONE_ORDERS.get(order, _ZONE_ORDERS["name"])
    zones.sort(key=lambda zone: (key(zone), zone.name), reverse=descending)
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
