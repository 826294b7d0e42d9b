"""Helpers for driving the emulator through the real ``cloudflare`` SDK and raw HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cloudflare
import httpx
import pytest
from cloudflare import Cloudflare

from acmecf.sandbox.emulator import CloudflareEmulator

TOKEN = "T" * 40
OTHER_TOKEN = "O" * 40


@contextmanager
def running_emulator(*zones: str, token: str = TOKEN) -> Iterator[CloudflareEmulator]:
    """A started emulator holding ``zones``, reached with ``token``; stopped on leaving."""
    emulator = CloudflareEmulator()
    for zone in zones:
        emulator.add_zone(zone)
    emulator.add_token(token)
    with emulator:
        yield emulator


def zone_id(emulator: CloudflareEmulator) -> str:
    """The id of the emulator's first zone."""
    return str(emulator.zones()[0]["id"])


def sdk(emulator: CloudflareEmulator, token: str = TOKEN, *, retries: int = 0) -> Cloudflare:
    return Cloudflare(api_token=token, base_url=emulator.base_url, max_retries=retries)


def error_of(call: Callable[[], object]) -> cloudflare.APIStatusError:
    with pytest.raises(cloudflare.APIStatusError) as caught:
        call()
    return caught.value


def codes(error: cloudflare.APIStatusError) -> list[int]:
    body = error.body
    assert isinstance(body, dict)
    return [item["code"] for item in body["errors"]]


def raw(
    emulator: CloudflareEmulator,
    method: str,
    path: str,
    token: str | None = TOKEN,
    **kwargs: Any,
) -> httpx.Response:
    """One HTTP request to ``base_url + path`` with the token (if any), outside the SDK."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    headers.update(kwargs.pop("headers", {}))
    kwargs.setdefault("timeout", 10)
    return httpx.request(method, f"{emulator.base_url}{path}", headers=headers, **kwargs)
