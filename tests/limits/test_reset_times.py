"""Reset instants from the texts the real CLIs print (recorded in tests/fixtures/cli_output/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator import parse_reset_time, parse_retry_after
from orchestrator.limits import next_midnight

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cli_output"
#: When the fixtures were recorded (2026-11-27 03:05 UTC): "now" for their date-less times.
RECORDED_AT = datetime(2026, 11, 27, 3, 5, tzinfo=UTC).timestamp()


def utc(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def claude_fixture(name: str) -> tuple[str, int]:
    """The result text of a recorded claude 2.1.197 run, and the reset its event announced."""
    lines = [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]
    event = next(line for line in lines if line["type"] == "rate_limit_event")
    result = next(line for line in lines if line["type"] == "result")
    return result["result"], event["rate_limit_info"]["resetsAt"]


def end_of_minute(instant: int) -> float:
    return float(instant // 60 * 60 + 60)


@pytest.mark.parametrize(
    ("fixture", "printed"),
    [
        ("claude-2.1.197-session-limit.jsonl", "resets 7:03am (Europe/Paris)"),
        ("claude-2.1.197-opus-limit.jsonl", "resets 5:03am (UTC)"),
        # Another zone, and more than a day away: the date is printed.
        ("claude-2.1.197-weekly-limit.jsonl", "resets Nov 29, 10:23pm (America/New_York)"),
        # Another year: the year is printed too.
        ("claude-2.1.197-weekly-limit-next-year.jsonl", "resets Jan 1, 2028, 3:03am (UTC)"),
    ],
)
def test_claude_subscription_texts_give_the_announced_instant(fixture: str, printed: str) -> None:
    """Each claude limit text is the instant its rate_limit_event announced, to the minute."""
    text, resets_at = claude_fixture(fixture)
    assert printed in text
    assert parse_reset_time(text, RECORDED_AT) == end_of_minute(resets_at)


def test_codex_local_time_is_read_in_the_childs_zone() -> None:
    """codex prints "try again at 5:03 AM" in local time: the child's TZ decides the instant."""
    events = (FIXTURES / "codex-0.169.0-usage-limit.jsonl").read_text()
    assert "try again at 5:03 AM" in events  # recorded with TZ=UTC
    assert parse_reset_time(events, RECORDED_AT, "UTC") == utc(2026, 11, 27, 5, 4)
    assert parse_reset_time(events, RECORDED_AT, ":Asia/Tokyo") == utc(2026, 11, 27, 20, 4)


def test_codex_dates_past_a_day() -> None:
    """codex's date form: "Nov 30th, 2026 1:54 AM", local time."""
    text = "You\u2019ve hit your usage limit. Try again at Nov 30th, 2026 1:54 AM."
    assert parse_reset_time(text, RECORDED_AT, "UTC") == utc(2026, 11, 30, 1, 55)


def test_a_clock_time_already_past_today_is_tomorrow() -> None:
    """A date-less reset earlier than now is the same time tomorrow."""
    text = "You've hit your session limit · resets 2am (UTC)"
    assert parse_reset_time(text, RECORDED_AT) == utc(2026, 11, 28, 2, 1)


@pytest.mark.parametrize(
    "fixture",
    ["gemini-0.61.0-daily-quota.stderr.txt", "gemini-0.61.0-stream-daily-quota.jsonl"],
)
def test_geminis_daily_quota_lasts_until_midnight_pacific(fixture: str) -> None:
    """A terminal daily quota cools the provider until the quota rolls over, not for minutes."""
    text = (FIXTURES / fixture).read_text()
    assert parse_reset_time(text, RECORDED_AT) == utc(2026, 11, 27, 8, 0)  # PST is UTC-8
    assert next_midnight(utc(2026, 7, 1, 12, 0), "America/Los_Angeles") == utc(2026, 7, 2, 7, 0)


def test_geminis_per_minute_quota_is_a_short_wait() -> None:
    """A retryable quota says "Suggested retry after 26s": a wait, not a reset time."""
    text = (FIXTURES / "gemini-0.61.0-per-minute-quota.stderr.txt").read_text()
    assert parse_retry_after(text, RECORDED_AT) == 26


def test_nonsense_is_no_reset() -> None:
    """Texts that look close but are not resets give None."""
    assert parse_reset_time("resets 13:99pm (UTC)", RECORDED_AT) is None
    assert parse_reset_time("resets Feb 30, 3pm (UTC)", RECORDED_AT) is None
    assert parse_reset_time("the tests pass", RECORDED_AT) is None


def test_a_monthly_cap_lasts_until_the_month_rolls_over() -> None:
    """claude's monthly spend limit names no date: the first of next month, local time."""
    text = "You've hit your monthly spend limit."
    assert parse_reset_time(text, RECORDED_AT, "UTC") == utc(2026, 12, 1, 0, 0)
    december = utc(2026, 12, 15, 12, 0)
    assert parse_reset_time(text, december, "Europe/Paris") == utc(2026, 12, 31, 23, 0)
