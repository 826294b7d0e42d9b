"""Zone settings that decide how Cloudflare talks to the origin: `ssl` (the SSL/TLS encryption
mode) and `tls_client_auth` (Authenticated Origin Pulls, the global switch).

Setting a value it already has is harmless (idempotent). Does not: check the origin first
(origin.strict does).
"""

from __future__ import annotations

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.hints import ZONE_SETTINGS_PERMISSION
from acmecf.dns.provider import Zone

SSL_MODES = ("off", "flexible", "full", "strict")


class CloudflareZoneSettings:
    """Reads and changes the zone settings `ssl` (the SSL/TLS encryption mode) and
    `tls_client_auth` (Authenticated Origin Pulls, the global switch). Setting a value it
    already has is harmless (idempotent)."""

    def __init__(self, api: CloudflareApi) -> None:
        self._api = api

    def ssl_mode(self, zone: Zone) -> str:
        """The zone's SSL/TLS encryption mode: off, flexible, full or strict."""
        return self._get(zone, "ssl")

    def set_ssl_mode(self, zone: Zone, mode: str) -> str:
        if mode not in SSL_MODES:
            raise ValueError(f"unknown SSL mode {mode!r}")
        return self._set(zone, "ssl", mode)

    def origin_pulls(self, zone: Zone) -> bool:
        return self._get(zone, "tls_client_auth") == "on"

    def set_origin_pulls(self, zone: Zone, enabled: bool) -> bool:
        return self._set(zone, "tls_client_auth", "on" if enabled else "off") == "on"

    def _get(self, zone: Zone, setting: str) -> str:
        action = f"reading the zone setting {setting}"
        # https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/get/
        result = self._api.call(
            lambda client: client.zones.settings.get(setting, zone_id=zone.id),
            action=action,
            permission=ZONE_SETTINGS_PERMISSION,
            zone=zone,
        )
        return str(getattr(result, "value", ""))

    def _set(self, zone: Zone, setting: str, value: str) -> str:
        action = f"setting {setting} to {value}"
        # https://developers.cloudflare.com/api/resources/zones/subresources/settings/methods/edit/
        result = self._api.call(
            lambda client: client.zones.settings.edit(setting, zone_id=zone.id, value=value),
            action=action,
            permission=ZONE_SETTINGS_PERMISSION,
            zone=zone,
        )
        return str(getattr(result, "value", value))
