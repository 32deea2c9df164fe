"""Finding limit texts and the waits they announce."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator import find_marker, parse_retry_after

NOW = 1_800_000_000.0
RESET = datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("HTTP 429, Retry-After: 30", 30),
        ('{"retry_after": 12.5}', 12.5),
        ("Please retry in 26.5s.", 26.5),
        ("try again in 5 minutes", 300),
        ("limit resets in 2h 30m", 9000),
        ("available in 1 hour and 15 minutes", 4500),
        ("retry after 250ms", 0.25),
        ("usage resets at 2027-01-15T08:00:00Z", RESET - NOW),
        ("rate limit exceeded", None),
    ],
)
def test_parse_retry_after(text: str, seconds: float | None) -> None:
    """Header, relative and absolute forms give the wait in seconds; none gives None."""
    assert parse_retry_after(text, NOW) == seconds


def test_reset_time_in_the_past_means_now() -> None:
    """A reset time already passed is a zero wait, never negative."""
    assert parse_retry_after("resets at 2020-01-01T00:00:00Z", NOW) == 0


def test_find_marker_is_case_insensitive() -> None:
    """Markers match regardless of case, first configured first."""
    assert find_marker("RESOURCE_EXHAUSTED", ["nope", "resource_exhausted"]) == "resource_exhausted"
    assert find_marker("fine", ["quota"]) is None


def test_a_number_marker_counts_only_as_a_whole_number() -> None:
    """429 or 401 inside a session id, UUID or timestamp is no limit or auth error."""
    stream = (
        '{"type":"system","subtype":"init","session_id":"5e1c4019-a429-4d2b-8f41-0ab401c9e2f7"}'
    )
    assert find_marker(stream, ["401", "429"]) is None
    assert find_marker('"timestamp":1795759401', ["401"]) is None
    assert find_marker("Error: 401 Unauthorized", ["401"]) == "401"
    assert find_marker("failed with status 429.", ["429"]) == "429"
    assert find_marker("HTTP/1.1 429", ["429"]) == "429"
