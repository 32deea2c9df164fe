"""Finding usage-limit texts and the wait they announce.

CLIs phrase limits many ways ("Retry-After: 30", "Please retry in 26.5s",
"try again in 5 minutes", "resets at 2026-11-25T18:00:00Z", "resets 3pm
(Europe/Paris)", "try again at 5:03 AM"). The wait is what the cooldown uses;
without one, the backend's configured default applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from ._reset_times import parse_reset_time

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(ms|milliseconds?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?)\b",
    re.IGNORECASE,
)
_RETRY_AFTER_HEADER = re.compile(r"retry[-_ ]after[\"']?\s*[:=]\s*[\"']?(\d+(?:\.\d+)?)", re.I)
_RETRY_IN = re.compile(
    r"(?:retry|retrying|try again|reset|resets|available)\s+(?:in|after)\s+"
    r"((?:\d+(?:\.\d+)?\s*[a-z]+[\s,]*(?:and\s+)?)+)",
    re.IGNORECASE,
)
_RESET_AT = re.compile(
    r"(?:resets?|available|try again)\s+(?:at|after)\s+"
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)",
    re.IGNORECASE,
)


def find_marker(text: str, markers: Iterable[str]) -> str | None:
    """The first marker found in ``text`` (case-insensitive), or None.

    A marker that is a number (``429``, ``401``) counts only as a whole number:
    session ids, UUIDs and timestamps in stream-json output are full of digits
    (a qwen session id holding ``…-4019-…`` is no auth error).
    """
    lowered = text.lower()
    for marker in markers:
        needle = marker.lower()
        if needle not in lowered:
            continue
        if not needle.isdigit() or _whole_number(needle).search(lowered):
            return marker
    return None


def _whole_number(number: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9a-z]){number}(?![0-9a-z])")


def parse_retry_after(text: str, now: float, local_zone: str | None = None) -> float | None:
    """Seconds to wait, as announced in ``text``; None when it says nothing usable.

    Args:
        text: error output of the CLI.
        now: current Unix time, for absolute reset times.
        local_zone: the child's ``TZ``, for clock times printed without a zone.
    """
    header = _RETRY_AFTER_HEADER.search(text)
    if header:
        return float(header.group(1))
    relative = _RETRY_IN.search(text)
    if relative:
        seconds = _duration_seconds(relative.group(1))
        if seconds is not None:
            return seconds
    absolute = _RESET_AT.search(text)
    if absolute:
        when = _parse_timestamp(absolute.group(1))
        if when is not None:
            return max(0.0, when - now)
    when = parse_reset_time(text, now, local_zone)
    return None if when is None else max(0.0, when - now)


def _duration_seconds(text: str) -> float | None:
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    total = 0.0
    for amount, unit in parts:
        key = unit.lower()
        scale = _UNITS["ms"] if key.startswith("ms") or key.startswith("milli") else _UNITS[key[0]]
        total += float(amount) * scale
    return total


def _parse_timestamp(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
