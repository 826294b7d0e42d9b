from __future__ import annotations

import pytest

from acmecf.errors import InvalidNameError
from acmecf.names import challenge_name, normalize_name, normalize_names


def test_names_are_lower_cased_without_trailing_dot() -> None:
    assert normalize_name("WWW.Example.COM.") == "www.example.com"


def test_unicode_names_become_punycode() -> None:
    assert normalize_name("bücher.example.com") == "xn--bcher-kva.example.com"


def test_a_wildcard_is_kept_as_the_leftmost_label() -> None:
    assert normalize_name("*.Example.com") == "*.example.com"


@pytest.mark.parametrize(
    "raw",
    ["www.*.example.com", "*example.com", "ex*.example.com", "*.*.example.com"],
)
def test_a_wildcard_anywhere_else_is_refused(raw: str) -> None:
    with pytest.raises(InvalidNameError, match="wildcard"):
        normalize_name(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "localhost",
        "-bad.example.com",
        "bad-.example.com",
        "a..example.com",
        "under_score.example.com",
        "x" * 64 + ".example.com",
        "192.0.2.1",
        "space d.example.com",
    ],
)
def test_invalid_names_are_refused_naming_the_name(raw: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        normalize_name(raw)
    assert "invalid name" in str(caught.value)


def test_a_name_over_253_characters_is_refused() -> None:
    name = ".".join(["a" * 60] * 5) + ".com"
    assert len(name) > 253
    with pytest.raises(InvalidNameError, match="253"):
        normalize_name(name)


def test_duplicates_after_normalisation_are_refused() -> None:
    with pytest.raises(InvalidNameError, match=r"duplicate name 'EXAMPLE\.com'"):
        normalize_names(["example.com", "EXAMPLE.com"])


def test_more_than_100_names_are_refused() -> None:
    with pytest.raises(InvalidNameError, match="at most 100"):
        normalize_names([f"n{i}.example.com" for i in range(101)])


def test_order_is_kept() -> None:
    assert normalize_names(["b.example.com", "a.example.com"]) == ["b.example.com", "a.example.com"]


def test_apex_and_wildcard_share_one_challenge_name() -> None:
    assert challenge_name("*.example.com") == challenge_name("example.com")
    assert challenge_name("example.com") == "_acme-challenge.example.com"
