from __future__ import annotations

from acmecf.cloudflare.zones import zone_candidates


def test_zone_candidates_walk_up_the_labels_longest_first() -> None:
    assert zone_candidates("_acme-challenge.www.example.co.uk") == [
        "www.example.co.uk",
        "example.co.uk",
        "co.uk",
    ]


def test_a_single_label_or_an_underscore_label_is_never_a_zone() -> None:
    assert zone_candidates("example.com") == ["example.com"]
    assert zone_candidates("_acme-challenge.example.com") == ["example.com"]
    assert zone_candidates("com") == []
