"""Zone settings: ``ssl`` (the SSL/TLS encryption mode) and ``tls_client_auth``.

Does not: know any other zone setting (they get 1006), or change behaviour by plan.
"""

from __future__ import annotations

from acmecf.sandbox.emulator.auth import permitted_zone
from acmecf.sandbox.emulator.envelope import (
    ApiError,
    Reply,
    envelope,
    json_object,
    timestamp,
)
from acmecf.sandbox.emulator.routes import ApiCall, Route
from acmecf.sandbox.emulator.state import State

# The values the emulator accepts for the zone settings it knows.
# https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/edit/
ZONE_SETTING_VALUES: dict[str, tuple[str, ...]] = {
    "ssl": ("off", "flexible", "full", "strict"),
    "tls_client_auth": ("on", "off"),
}
# A new zone: Flexible was the encryption mode of zones without automatic SSL/TLS
# (https://developers.cloudflare.com/ssl/origin-configuration/ssl-modes/; today's default for
# new zones is not verified); Authenticated Origin Pulls are off until switched on.
ZONE_SETTING_DEFAULTS: dict[str, str] = {"ssl": "flexible", "tls_client_auth": "off"}


def setting(state: State, zone_id: str, name: str) -> tuple[str, str]:
    """(value, modified_on) of a zone setting, the default until it is changed."""
    stored = state.tls.settings.get((zone_id, name))
    if stored is not None:
        return stored
    return ZONE_SETTING_DEFAULTS[name], state.zones[zone_id].created_on


def _known_setting(name: str) -> str:
    if name not in ZONE_SETTING_VALUES:
        # "Unrecognized zone setting name: origin_max_http_version (1006)", quoted in
        # https://github.com/cloudflare/terraform-provider-cloudflare/issues/1810; the
        # emulator knows only the settings acmecf uses (status not verified).
        raise ApiError.single(400, 1006, f"Unrecognized zone setting name: {name}")
    return name


def _setting_reply(state: State, zone_id: str, name: str) -> Reply:
    value, modified_on = setting(state, zone_id, name)
    return Reply(
        200, envelope({"id": name, "value": value, "editable": True, "modified_on": modified_on})
    )


# https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/get/
def get_setting(state: State, call: ApiCall) -> Reply:
    zone = permitted_zone(state, call, "zone_settings_edit")
    return _setting_reply(state, zone.id, _known_setting(call.params["setting"]))


# https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/edit/
def edit_setting(state: State, call: ApiCall) -> Reply:
    zone = permitted_zone(state, call, "zone_settings_edit")
    name = _known_setting(call.params["setting"])
    value = json_object(call.body).get("value")
    # "Invalid value for zone setting ciphers (1007)": quoted in
    # https://github.com/cloudflare/terraform-provider-cloudflare/issues/3003
    if not isinstance(value, str) or value not in ZONE_SETTING_VALUES[name]:
        raise ApiError.single(400, 1007, f"Invalid value for zone setting {name}")
    state.tls.settings[(zone.id, name)] = (value, timestamp())
    return _setting_reply(state, zone.id, name)


_DOC = "https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods"
ROUTES = [
    Route("GET", "/zones/{zone_id:id}/settings/{setting}", get_setting, doc=f"{_DOC}/get/"),
    Route("PATCH", "/zones/{zone_id:id}/settings/{setting}", edit_setting, doc=f"{_DOC}/edit/"),
]
