"""Headroom readings from rate-limit headers, and their saved form."""

from __future__ import annotations

import pytest

from orchestrator.limits import Headroom, headroom_from_headers

NOW = 1_795_748_700.0


def test_anthropic_subscription_utilization_takes_the_tightest_window() -> None:
    """The unified per-window utilizations: the most used window counts, with the reset."""
    reading = headroom_from_headers(
        {
            "anthropic-ratelimit-unified-5h-utilization": "0.93",
            "anthropic-ratelimit-unified-7d-utilization": "0.41",
            "anthropic-ratelimit-unified-reset": str(int(NOW) + 3600),
        },
        NOW,
    )
    assert reading == Headroom(0.93, NOW + 3600, NOW)


@pytest.mark.parametrize(
    ("headers", "used"),
    [
        ({"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "2"}, 0.98),
        (
            {
                "anthropic-ratelimit-tokens-limit": "1000",
                "anthropic-ratelimit-tokens-remaining": "500",
            },
            0.5,
        ),
        ({"x-ratelimit-limit": "20", "x-ratelimit-remaining": "19"}, 0.05),  # OpenRouter
    ],
)
def test_remaining_counters_give_the_fraction_used(headers: dict[str, str], used: float) -> None:
    """limit and remaining headers, per protocol, make a utilization."""
    reading = headroom_from_headers(headers, NOW)
    assert reading is not None
    assert reading.utilization == pytest.approx(used)


def test_no_counters_no_reading() -> None:
    """An answer without rate-limit headers (or with nonsense in them) says nothing."""
    assert headroom_from_headers({"content-type": "application/json"}, NOW) is None
    assert (
        headroom_from_headers({"x-ratelimit-limit": "0", "x-ratelimit-remaining": "0"}, NOW) is None
    )
    assert (
        headroom_from_headers({"x-ratelimit-limit": "nan", "x-ratelimit-remaining": "1"}, NOW)
        is None
    )


def test_a_reading_counts_until_its_window_resets() -> None:
    """Near the limit until the reset; an undated reading for 15 minutes."""
    dated = Headroom(0.95, NOW + 60, NOW)
    assert dated.is_near_limit(0.9, NOW + 59)
    assert not dated.is_near_limit(0.9, NOW + 60)
    assert not dated.is_near_limit(0.96, NOW)
    undated = Headroom(0.95, None, NOW)
    assert undated.is_near_limit(0.9, NOW + 899)
    assert not undated.is_near_limit(0.9, NOW + 900)


def test_saved_readings_round_trip_and_garbage_is_dropped() -> None:
    """to_json and from_json agree; malformed saved values give None, never an error."""
    reading = Headroom(0.5, NOW + 10, NOW)
    assert Headroom.from_json(reading.to_json()) == reading
    garbage: list[object] = [None, [], {"utilization": "x", "seen_at": 1}, {"utilization": 0.5}]
    for value in garbage:
        assert Headroom.from_json(value) is None
    assert Headroom.from_json({"utilization": 0.5, "seen_at": 1, "resets_at": "soon"}) is None
    assert Headroom.from_json({"utilization": 7, "seen_at": 1, "resets_at": None}) == Headroom(
        1.0, None, 1.0
    )
