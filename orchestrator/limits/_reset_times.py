"""Reset instants that CLIs print as wall-clock times, dates or daily quotas.

A subscription limit is announced as a clock time, not a wait: claude prints
``resets 7:03am (Europe/Paris)`` (``resets Nov 29, 10:23pm (America/New_York)``
past a day, with the year when it differs), codex ``try again at 5:03 AM`` or
``Try again at Nov 30th, 2026 1:54 AM`` in the child's local time with no zone,
and gemini ``You have exhausted your daily quota`` with no time at all (Gemini
API daily quotas reset at midnight Pacific time); a monthly spend cap resets
when the month does. Each becomes the exact Unix instant, so a limited account
is skipped until it is usable again, not retried every few minutes for hours.

The CLIs print the reset floored to the minute (claude 2.1.197 printed
``7:03am`` for 07:03:13), so an instant read from text is the *end* of that
minute: retrying a few seconds late is harmless, a few seconds early is
another limit.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: claude 2.1.197: ``resets 3pm (Europe/Paris)``, ``resets Jan 1, 2028, 3:03am (UTC)``.
_CLAUDE_RESET = re.compile(
    r"resets\s+(?:(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2}),\s+(?:(?P<year>\d{4}),\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm)\s*"
    r"\((?P<zone>[A-Za-z][A-Za-z0-9_+\-/]*)\)",
    re.IGNORECASE,
)
#: codex 0.169.0: ``try again at 5:03 AM``, ``Try again at Nov 30th, 2026 1:54 AM`` (local).
_CODEX_RESET = re.compile(
    r"try again at\s+(?:(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,\s+"
    r"(?P<year>\d{4})\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>AM|PM)",
    re.IGNORECASE,
)
#: gemini 0.61.0's terminal quota error (a per-day quota of the Gemini API).
_DAILY_QUOTA = re.compile(r"exhausted your daily quota", re.IGNORECASE)
#: claude 2.1.197's monthly caps: "You've hit your monthly spend limit", "... it resets
#: next month": no date is printed; the month rolls over in local time.
_MONTHLY = re.compile(r"hit your monthly (?:spend )?limit|resets next month", re.IGNORECASE)
#: Where Gemini API daily quotas roll over.
GEMINI_QUOTA_ZONE = "America/Los_Angeles"
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
#: A time printed for "now" may already be a few seconds past: still today, not tomorrow.
_JUST_PASSED = timedelta(minutes=2)


def parse_reset_time(text: str, now: float, local_zone: str | None = None) -> float | None:
    """The Unix time at which a limit announced in ``text`` ends, or None.

    Args:
        text: the CLI's error text.
        now: the current Unix time (a date-less clock time is the next one after it).
        local_zone: the child's ``TZ``, for texts printed in local time
            without a zone (codex); None means this machine's local zone.
    """
    found = _CLAUDE_RESET.search(text)
    if found:
        return _instant(found, _zone(found.group("zone")), now)
    found = _CODEX_RESET.search(text)
    if found:
        return _instant(found, _zone(local_zone), now)
    if _DAILY_QUOTA.search(text):
        return next_midnight(now, GEMINI_QUOTA_ZONE)
    if _MONTHLY.search(text):
        return next_month(now, _zone(local_zone))
    return None


def next_month(now: float, zone: tzinfo | None) -> float:
    """The first instant of next month in ``zone`` (None: this machine's zone)."""
    current = datetime.fromtimestamp(now, zone)
    year, month = (
        (current.year + 1, 1) if current.month == 12 else (current.year, current.month + 1)
    )
    return datetime(year, month, 1, tzinfo=zone).timestamp()


def next_midnight(now: float, zone: str) -> float:
    """The next 00:00 in ``zone`` after ``now``."""
    where = _zone(zone)
    today = datetime.fromtimestamp(now, where).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = (today + timedelta(days=1)).replace(tzinfo=None)
    return tomorrow.replace(tzinfo=where).timestamp()


def _instant(found: re.Match[str], zone: tzinfo | None, now: float) -> float | None:
    current = datetime.fromtimestamp(now, zone)
    hour = int(found.group("hour")) % 12 + (12 if found.group("ampm").lower() == "pm" else 0)
    minute = int(found.group("minute") or 0)
    if hour > 23 or minute > 59:
        return None
    month_name = found.group("month")
    try:
        if month_name is None:
            moment = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if moment < current - _JUST_PASSED:
                moment = _same_wall_time(moment + timedelta(days=1), zone)
        else:
            month = _MONTHS.get(month_name.lower())
            if month is None:
                return None
            year = int(found.group("year") or current.year)
            moment = datetime(year, month, int(found.group("day")), hour, minute, tzinfo=zone)
            if found.group("year") is None and moment < current - timedelta(days=1):
                moment = moment.replace(year=year + 1)
    except ValueError:  # Feb 30 and the like
        return None
    return moment.timestamp() + 60.0  # the end of the printed minute


def _same_wall_time(moment: datetime, zone: tzinfo | None) -> datetime:
    # Adding a day across a DST change keeps the wall-clock time this way.
    return moment.replace(tzinfo=None).replace(tzinfo=zone) if zone is not None else moment


def _zone(name: str | None) -> tzinfo | None:
    """A zone by IANA name (``TZ`` may start with ``:``); None: this machine's local zone."""
    if not name:
        return None
    try:
        return ZoneInfo(name.lstrip(":"))
    except (ZoneInfoNotFoundError, ValueError):
        return None
