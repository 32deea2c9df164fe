"""Reset instants from the rate-limit headers the sentinel sees."""

from __future__ import annotations

from orchestrator.limits import reset_from_headers

NOW = 1_795_748_700.0


def test_anthropic_unified_reset_is_unix_seconds() -> None:
    """A subscription's 429 names its reset in anthropic-ratelimit-unified-reset."""
    headers = {"anthropic-ratelimit-unified-reset": "1795759393"}
    assert reset_from_headers(headers, NOW) == 1795759393


def test_openrouter_reset_is_milliseconds() -> None:
    """OpenRouter's X-RateLimit-Reset is in milliseconds since the epoch."""
    assert reset_from_headers({"x-ratelimit-reset": "1795748760000"}, NOW) == NOW + 60


def test_openai_durations_and_anthropic_dates_take_the_latest() -> None:
    """Several windows: the limit ends when the last of them resets."""
    headers = {
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-reset-tokens": "20ms",
        "anthropic-ratelimit-tokens-reset": "2026-11-27T03:15:00Z",
    }
    assert reset_from_headers(headers, NOW) == NOW + 600


def test_past_or_unreadable_resets_are_none() -> None:
    """A reset already past, or a value that is no time, says nothing."""
    assert reset_from_headers({"x-ratelimit-reset": "17"}, NOW) is None
    assert reset_from_headers({"x-ratelimit-reset-requests": "soon"}, NOW) is None
    assert reset_from_headers({"anthropic-ratelimit-requests-reset": "later"}, NOW) is None
    assert reset_from_headers({}, NOW) is None
