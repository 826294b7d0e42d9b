"""Authenticated Origin Pulls at Cloudflare: the client certificates Cloudflare presents to
the origin, at zone level (uploads and their enablement) and per hostname (uploads and
associations).

Uploading the same certificate twice makes two entries; `delete` of an id already gone counts
as done. Does not: create certificates or keep files (origin.pulls does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acmecf.cloudflare.api import CloudflareApi
from acmecf.cloudflare.hints import SSL_PERMISSION
from acmecf.dns.provider import Zone
from acmecf.errors import RecordMissing

log = logging.getLogger(__name__)

# Picks one SDK resource of uploads from the client: _zone_uploads or _hostname_uploads.
_Uploads = Callable[[Any], Any]


@dataclass(frozen=True)
class OriginPullCertificate:
    """A client certificate uploaded for Authenticated Origin Pulls (zone or hostname level)."""

    id: str
    status: str | None
    expires_on: str | None


@dataclass(frozen=True)
class HostnameOriginPull:
    """One hostname's Authenticated Origin Pulls association."""

    hostname: str
    cert_id: str | None
    enabled: bool | None
    status: str | None


class CloudflareOriginPulls:
    """Client certificates Cloudflare presents to the origin (Authenticated Origin Pulls):
    zone-level uploads and their enablement, hostname-level uploads and associations.

    Uploading the same certificate twice makes two entries; `delete` of an id already gone
    counts as done.
    """

    def __init__(self, api: CloudflareApi) -> None:
        self._api = api

    def upload_zone_certificate(
        self, zone: Zone, certificate: str, private_key: str
    ) -> OriginPullCertificate:
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/create/
        action = "uploading the zone's origin-pull certificate"
        return self._upload(zone, _zone_uploads, certificate, private_key, action)

    def zone_certificates(self, zone: Zone) -> list[OriginPullCertificate]:
        action = "listing the zone's origin-pull certificates"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/list/
        items = self._api.call(
            lambda client: list(
                client.origin_tls_client_auth.zone_certificates.list(zone_id=zone.id)
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return [_pull_certificate(item) for item in items]

    def delete_zone_certificate(self, zone: Zone, certificate_id: str) -> None:
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/delete/
        action = "deleting an origin-pull certificate"
        self._delete(zone, _zone_uploads, certificate_id, action, what="origin-pull certificate")

    def zone_certificate(self, zone: Zone, certificate_id: str) -> OriginPullCertificate:
        """One zone-level upload, with its deployment status (pending_deployment, active...)."""
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/zone_certificates/methods/get/
        action = "reading an origin-pull certificate"
        return self._read(zone, _zone_uploads, certificate_id, action)

    def hostname_certificate(self, zone: Zone, certificate_id: str) -> OriginPullCertificate:
        """One hostname-level upload, with its deployment status."""
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/get/
        action = "reading a hostname origin-pull certificate"
        return self._read(zone, _hostname_uploads, certificate_id, action)

    def zone_enabled(self, zone: Zone) -> bool:
        action = "reading whether the zone's own origin-pull certificate is enabled"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/settings/methods/get/
        result = self._api.call(
            lambda client: client.origin_tls_client_auth.settings.get(zone_id=zone.id),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return bool(getattr(result, "enabled", False))

    def set_zone_enabled(self, zone: Zone, enabled: bool) -> None:
        """Use (or stop using) the uploaded zone certificate instead of Cloudflare's shared one."""
        action = "enabling the zone's own origin-pull certificate"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/settings/methods/update/
        self._api.call(
            lambda client: client.origin_tls_client_auth.settings.update(
                zone_id=zone.id, enabled=enabled
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )

    def upload_hostname_certificate(
        self, zone: Zone, certificate: str, private_key: str
    ) -> OriginPullCertificate:
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/create/
        action = "uploading a hostname origin-pull certificate"
        return self._upload(zone, _hostname_uploads, certificate, private_key, action)

    def delete_hostname_certificate(self, zone: Zone, certificate_id: str) -> None:
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostname_certificates/methods/delete/
        action = "deleting a hostname origin-pull certificate"
        self._delete(zone, _hostname_uploads, certificate_id, action, what="hostname certificate")

    def set_hostname(
        self, zone: Zone, hostname: str, certificate_id: str, enabled: bool | None
    ) -> HostnameOriginPull:
        """Associate `hostname` with the certificate and switch it on or off (None voids it)."""
        action = f"configuring origin pulls for {hostname}"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostnames/methods/update/
        items = self._api.call(
            lambda client: list(
                client.origin_tls_client_auth.hostnames.update(
                    zone_id=zone.id,
                    config=[{"hostname": hostname, "cert_id": certificate_id, "enabled": enabled}],
                )
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        for item in items:
            if str(getattr(item, "hostname", "")).lower() == hostname.lower():
                return _hostname_pull(item)
        return HostnameOriginPull(hostname, certificate_id, enabled, None)

    def hostname(self, zone: Zone, hostname: str) -> HostnameOriginPull:
        action = f"reading origin pulls of {hostname}"
        # https://developers.cloudflare.com/api/resources/origin_tls_client_auth/subresources/hostnames/methods/get/
        item = self._api.call(
            lambda client: client.origin_tls_client_auth.hostnames.get(hostname, zone_id=zone.id),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return _hostname_pull(item)

    # Zone-level and hostname-level uploads: the same calls on two SDK resources.

    def _upload(
        self, zone: Zone, uploads: _Uploads, certificate: str, private_key: str, action: str
    ) -> OriginPullCertificate:
        result = self._api.call(
            lambda client: uploads(client).create(
                zone_id=zone.id, certificate=certificate, private_key=private_key
            ),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return _pull_certificate(result)

    def _read(
        self, zone: Zone, uploads: _Uploads, certificate_id: str, action: str
    ) -> OriginPullCertificate:
        result = self._api.call(
            lambda client: uploads(client).get(certificate_id, zone_id=zone.id),
            action=action,
            permission=SSL_PERMISSION,
            zone=zone,
        )
        return _pull_certificate(result)

    def _delete(
        self, zone: Zone, uploads: _Uploads, certificate_id: str, action: str, *, what: str
    ) -> None:
        """An id already gone counts as done (logged at DEBUG, naming it as `what`)."""
        try:
            self._api.call(
                lambda client: uploads(client).delete(certificate_id, zone_id=zone.id),
                action=action,
                deleting=True,
                permission=SSL_PERMISSION,
                zone=zone,
            )
        except RecordMissing:
            log.debug("%s %s was already gone", what, certificate_id)


def _zone_uploads(client: Any) -> Any:
    return client.origin_tls_client_auth.zone_certificates


def _hostname_uploads(client: Any) -> Any:
    return client.origin_tls_client_auth.hostname_certificates


def _pull_certificate(item: Any) -> OriginPullCertificate:
    expires = getattr(item, "expires_on", None)
    return OriginPullCertificate(
        id=str(getattr(item, "id", "") or ""),
        status=getattr(item, "status", None),
        expires_on=str(expires) if expires is not None else None,
    )


def _hostname_pull(item: Any) -> HostnameOriginPull:
    return HostnameOriginPull(
        hostname=str(getattr(item, "hostname", "") or ""),
        cert_id=getattr(item, "cert_id", None),
        enabled=getattr(item, "enabled", None),
        status=getattr(item, "status", None) or getattr(item, "cert_status", None),
    )
