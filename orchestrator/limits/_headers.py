"""Reset times in the rate-limit headers of an HTTP answer, as the sentinel sees them.

Providers announce when a limit ends in headers of their own (the list in
shared/cli-notes.md): Anthropic ``anthropic-ratelimit-unified-reset`` (Unix
seconds, subscriptions) and ``anthropic-ratelimit-{requests,tokens}-reset``
(RFC 3339, API keys); OpenAI-style ``x-ratelimit-reset-{requests,tokens}``
(durations such as ``6m0s`` or ``20ms``); OpenRouter ``X-RateLimit-Reset``
(milliseconds since the epoch). A 429 without Retry-After is cooled until
the latest of these, the instant the provider itself named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

#: Below this a bare number is seconds since the epoch; above it, milliseconds.
_EPOCH_MILLIS = 10**11
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def reset_from_headers(headers: Mapping[str, str], now: float) -> float | None:
    """The Unix time the answer's rate-limit headers say the limit ends; None if none do.

    ``headers`` must be case-insensitive (httpx's are) or lower-case.
    """
    found: list[float] = []
    for name in ("anthropic-ratelimit-unified-reset", "x-ratelimit-reset"):
        value = headers.get(name)
        if value is not None and _is_number(value):
            number = float(value)
            found.append(number / 1000 if number > _EPOCH_MILLIS else number)
    for kind in ("requests", "tokens"):
        stamp = headers.get(f"anthropic-ratelimit-{kind}-reset")
        if stamp:
            when = _rfc3339(stamp)
            if when is not None:
                found.append(when)
        duration = headers.get(f"x-ratelimit-reset-{kind}")
        if duration:
            seconds = _go_duration(duration)
            if seconds is not None:
                found.append(now + seconds)
    future = [when for when in found if when > now]
    return max(future) if future else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rfc3339(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _go_duration(text: str) -> float | None:
    """``6m0s``, ``1.5s``, ``20ms`` (OpenAI's form) in seconds."""
    text = text.strip()
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(amount + unit for amount, unit in parts) != text:
        return None
    return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)
