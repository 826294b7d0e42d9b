"""Who is calling: API tokens (``Authorization: Bearer``) and Global API Keys.

``authenticate`` turns request headers into a ``Credential`` or raises what Cloudflare
answers for a bad one. Probed against the live API and recorded in a public project note
(Oct 2026): a well-formed unknown token gets 403 9109 "Invalid access token" on /zones
(401 1000 on /user/tokens/verify, 401 10000 on the DNS records service), anything not
shaped like a token 400 6003 with 6111, a wrong Global API Key 403 9103, no credentials
403 9106. Wording of 6003/6111/6102/6103/9103/9106 as quoted in certbot/NewFuture
DDNS/Posh-ACME issue reports.

Does not: decide what a credential may do (each resource checks its own permission), or
count requests (``ratelimit`` does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from acmecf.sandbox.emulator.envelope import ApiError, no_route
from acmecf.sandbox.emulator.routes import ApiCall, unknown_token_error
from acmecf.sandbox.emulator.state import Credential, State, Zone

# Tokens are 40 characters (legacy) or cfut_/cfat_ + 40 characters + an 8-hex checksum;
# Global API Keys are 37-45 lowercase hex digits or cfk_...; anything else is malformed.
# https://developers.cloudflare.com/fundamentals/api/get-started/token-formats/ (not verified)
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{40}|cf[a-z]{2}_[A-Za-z0-9_-]{40}[0-9a-f]{8}")
GLOBAL_KEY_SHAPE = re.compile(r"[0-9a-f]{37,45}|cfk_[A-Za-z0-9_-]{40}[0-9a-f]{8}")


def credential_kind(headers: Mapping[str, str]) -> str:
    """ "token", "global" or "none": what the request log records, never the secret."""
    if "authorization" in headers:
        return "token"
    if "x-auth-email" in headers or "x-auth-key" in headers:
        return "global"
    return "none"


def authenticate(
    state: State, headers: Mapping[str, str], *, unknown_token: str, tokens_only: bool = False
) -> Credential:
    """Identify the credential in ``headers`` (lowercase keys), or raise the API's answer.

    ``unknown_token`` names the route's answer to a well-formed unknown token (see
    ``routes.unknown_token_error``). ``tokens_only`` routes (token verification) answer
    X-Auth headers with 400 1001 'Missing "Authorization" header'
    (https://github.com/kissgyorgy/cloudflare-dyndns/issues/40, status not shown).
    """
    if tokens_only and "authorization" not in headers and credential_kind(headers) == "global":
        raise ApiError.single(400, 1001, 'Missing "Authorization" header')
    if "authorization" in headers:
        scheme, _, secret = headers["authorization"].strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() == "bearer":
            with state.lock:
                token = state.tokens.get(secret)
            if token is not None:
                return Credential(kind="token", identity=token.user, token=token)
            if TOKEN_SHAPE.fullmatch(secret):
                raise unknown_token_error(unknown_token)
        raise ApiError.single(
            400,
            6003,
            "Invalid request headers",
            chain=[(6111, "Invalid format for Authorization header")],
        )
    email = headers.get("x-auth-email", "").strip()
    key = headers.get("x-auth-key", "").strip()
    if email or key:
        with state.lock:
            known = state.global_keys.get((email.lower(), key))
        if known is not None:
            return Credential(kind="global", identity=known, token=None)
        chain: list[tuple[int, str]] = []
        if "@" not in email:
            chain.append((6102, "Invalid format for X-Auth-Email header"))
        if not GLOBAL_KEY_SHAPE.fullmatch(key):
            chain.append((6103, "Invalid format for X-Auth-Key header"))
        if chain:
            raise ApiError.single(400, 6003, "Invalid request headers", chain=chain)
        raise ApiError.single(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
    raise ApiError.single(403, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")


def zone_for(
    state: State, credential: Credential, zone_id: str, path: str, *, denied: ApiError
) -> Zone:
    """The zone ``zone_id`` if the credential may reach it at all.

    A token that does not cover the zone, or a zone that does not exist, gets ``denied``,
    so a scoped token cannot probe other zones. A Global API Key asking for an unknown zone
    gets the routing error (not verified).
    """
    with state.lock:
        zone = state.zones.get(zone_id)
    if credential.token is not None:
        if zone is None or not credential.token.covers(zone):
            raise denied
        return zone
    if zone is None:
        raise no_route(path)
    return zone


def permitted_zone(state: State, call: ApiCall, permission: str) -> Zone:
    """The zone of a settings or certificates call, or 403 when the token may not.

    ``permission`` names a ``Token`` flag (``zone_settings_edit``, ``ssl_edit``). A token
    short of it gets 403 9109 "Unauthorized to access requested resource", as quoted for
    /zones/{id}/settings/* with a DNS-only token (for the certificate endpoints the same
    answer is assumed: not verified).
    """
    denied = ApiError.single(403, 9109, "Unauthorized to access requested resource")
    zone = zone_for(state, call.credential, call.params["zone_id"], call.path, denied=denied)
    token = call.credential.token
    if token is not None and not getattr(token, permission):
        raise denied
    return zone
