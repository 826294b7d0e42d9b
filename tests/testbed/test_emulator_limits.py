"""The API's rate limit as Cloudflare counts it: per user, across that user's tokens.

"1,200 requests per five minute period per user, and applies cumulatively regardless of
whether the request is made via the dashboard, API key, or API token", with the
``Ratelimit`` and ``Ratelimit-Policy`` headers on every answer:
https://developers.cloudflare.com/fundamentals/api/reference/limits/
"""

from __future__ import annotations

import pytest

from acmecf.sandbox.emulator import CloudflareEmulator
from acmecf.sandbox.emulator.envelope import ApiError
from acmecf.sandbox.emulator.ratelimit import RateLimiter
from tests.testbed.sdk_helpers import OTHER_TOKEN, TOKEN, codes, error_of, raw, sdk

EMAIL = "owner@example.com"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"


def test_every_token_of_one_user_draws_on_one_budget() -> None:
    emulator = CloudflareEmulator(rate_limit=4, rate_window=60.0)
    emulator.add_token(TOKEN)
    emulator.add_token(OTHER_TOKEN)
    emulator.add_global_key(EMAIL, GLOBAL_KEY, user="sandbox@example.com")
    with emulator:
        sdk(emulator).user.tokens.verify()
        sdk(emulator, OTHER_TOKEN).user.tokens.verify()
        headers = {"X-Auth-Email": EMAIL, "X-Auth-Key": GLOBAL_KEY}
        assert raw(emulator, "GET", "/zones", headers=headers, token=None).status_code != 429
        sdk(emulator).user.tokens.verify()
        error = error_of(sdk(emulator, OTHER_TOKEN).user.tokens.verify)
        assert (error.status_code, codes(error)) == (429, [971])
        assert error.response.headers["Retry-After"] == "60"


def test_answers_carry_the_ratelimit_headers_cloudflare_sends() -> None:
    emulator = CloudflareEmulator()
    emulator.add_token(TOKEN)
    with emulator:
        first = raw(emulator, "GET", "/user/tokens/verify")
        second = raw(emulator, "GET", "/zones")
    assert first.headers["Ratelimit-Policy"] == '"default";q=1200;w=300'
    assert first.headers["Ratelimit"] == '"default";r=1199;t=300'
    assert second.headers["Ratelimit"].startswith('"default";r=1198;t=')
    assert "Retry-After" not in first.headers


def test_a_refused_caller_gets_no_ratelimit_headers() -> None:
    emulator = CloudflareEmulator()
    with emulator:
        response = raw(emulator, "GET", "/zones", token="U" * 40)
    assert response.status_code == 403
    assert "Ratelimit" not in response.headers


def test_the_limit_is_settable_and_readable() -> None:
    emulator = CloudflareEmulator()
    emulator.add_token(TOKEN)
    emulator.set_rate_limit(5, 30.0)
    with emulator:
        sdk(emulator).user.tokens.verify()
        response = raw(emulator, "GET", "/user/tokens/verify")
    assert emulator.rate_limit == (5, 30.0)
    assert response.headers["Ratelimit-Policy"] == '"default";q=5;w=30'
    assert emulator.rate_limit_usage() == (3, 30)


# ------------------------------------------------------------- the limiter, without sockets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_and_a_breach_blocks_for_a_whole_window() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 10.0, clock=clock)
    assert limiter.admit("user").remaining == 1
    clock.now += 6
    assert limiter.admit("user").remaining == 0
    clock.now += 5  # the first request left the window
    assert limiter.admit("user").remaining == 0
    with pytest.raises(ApiError) as caught:
        limiter.admit("user")
    assert (caught.value.status, caught.value.codes) == (429, [971])
    assert caught.value.headers["Retry-After"] == "10"
    clock.now += 9.5
    with pytest.raises(ApiError):
        limiter.admit("user")
    clock.now += 0.6
    assert limiter.admit("user").remaining == 1


def test_users_do_not_share_budgets() -> None:
    limiter = RateLimiter(1, 10.0, clock=Clock())
    limiter.admit("a")
    assert limiter.admit("b").remaining == 0
    assert limiter.usage("a").remaining == 0
    assert limiter.headers("a")["Ratelimit"] == '"default";r=0;t=10'
