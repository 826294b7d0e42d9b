"""``/user/tokens/verify``: whether the API token in the request is valid and active.

Does not: create, roll or list tokens (tests add them with ``CloudflareEmulator.add_token``).
"""

from __future__ import annotations

from typing import cast

from acmecf.sandbox.emulator.envelope import Reply, envelope
from acmecf.sandbox.emulator.routes import UNKNOWN_TOKEN_INVALID_API_TOKEN, ApiCall, Route
from acmecf.sandbox.emulator.state import State, Token


# https://developers.cloudflare.com/api/resources/user/subresources/tokens/methods/verify/
def verify_token(state: State, call: ApiCall) -> Reply:
    token = cast(Token, call.credential.token)
    # Success shape quoted in https://github.com/putyourlightson/craft-cloudflare/issues/88
    return Reply(
        200,
        envelope(
            {"id": token.id, "status": "active"},
            messages=[
                {"code": 10000, "message": "This API Token is valid and active", "type": None}
            ],
        ),
    )


ROUTES = [
    Route(
        "GET",
        "/user/tokens/verify",
        verify_token,
        doc="https://developers.cloudflare.com/api/resources/user/subresources/tokens/methods/verify/",
        unknown_token=UNKNOWN_TOKEN_INVALID_API_TOKEN,
        tokens_only=True,
    ),
]
