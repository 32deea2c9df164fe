"""Headroom: how close a provider is to its limit, from what its answers say.

Providers say it before they say no: Anthropic's subscription headers
(``anthropic-ratelimit-unified-<window>-utilization``, and claude's
``rate_limit_event`` with ``status: allowed_warning``), Anthropic and
OpenAI-style request and token counters (``...-limit`` and ``...-remaining``),
OpenRouter's ``X-RateLimit-Limit`` and ``-Remaining``. The rotation uses the
latest reading to start new jobs on a provider with room before the current
one hits the wall; a reading counts until its window resets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._headers import reset_from_headers

#: A reading without a reset time is trusted this long.
UNDATED_READING_SECONDS = 15 * 60.0
_UNIFIED_UTILIZATION = re.compile(r"anthropic-ratelimit-unified-[a-z0-9_]+-utilization")
#: (limit header, remaining header) pairs, per protocol.
_COUNTERS = (
    ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining"),
    ("anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining"),
    ("anthropic-ratelimit-input-tokens-limit", "anthropic-ratelimit-input-tokens-remaining"),
    ("anthropic-ratelimit-output-tokens-limit", "anthropic-ratelimit-output-tokens-remaining"),
    ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests"),
    ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"),
    ("x-ratelimit-limit", "x-ratelimit-remaining"),
)


@dataclass(frozen=True)
class Headroom:
    """The latest reading of a provider's use of its tightest window.

    Attributes:
        utilization: the fraction used, 0 to 1.
        resets_at: when the window resets (Unix seconds), where known.
        seen_at: when the reading was taken.
    """

    utilization: float
    resets_at: float | None
    seen_at: float

    def is_current(self, now: float) -> bool:
        """Still describes the provider: its window has not reset yet."""
        if self.resets_at is not None:
            return self.resets_at > now
        return now - self.seen_at < UNDATED_READING_SECONDS

    def is_near_limit(self, threshold: float, now: float) -> bool:
        return self.is_current(now) and self.utilization >= threshold

    def to_json(self) -> dict[str, float | None]:
        return {
            "utilization": self.utilization,
            "resets_at": self.resets_at,
            "seen_at": self.seen_at,
        }

    @classmethod
    def from_json(cls, value: Any) -> Headroom | None:
        """A reading from its saved form; None for anything malformed."""
        if not isinstance(value, dict):
            return None
        utilization, seen_at = _number(value.get("utilization")), _number(value.get("seen_at"))
        resets_at = _number(value.get("resets_at"))
        if utilization is None or seen_at is None:
            return None
        if resets_at is None and value.get("resets_at") is not None:
            return None
        return cls(min(1.0, max(0.0, utilization)), resets_at, seen_at)


def headroom_from_headers(headers: Mapping[str, str], now: float) -> Headroom | None:
    """The tightest window's use, from an answer's rate-limit headers; None if they say none.

    ``headers`` must be case-insensitive (httpx's are) or lower-case.
    """
    used: list[float] = []
    for name, value in headers.items():
        if _UNIFIED_UTILIZATION.fullmatch(name.lower()) and _finite_text(value):
            used.append(float(value))
    for limit_name, remaining_name in _COUNTERS:
        limit = _header_number(headers.get(limit_name))
        remaining = _header_number(headers.get(remaining_name))
        if limit is not None and remaining is not None and limit > 0:
            used.append(1.0 - remaining / limit)
    if not used:
        return None
    utilization = min(1.0, max(0.0, max(used)))
    return Headroom(utilization, reset_from_headers(headers, now), now)


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _finite_text(text: str) -> bool:
    return _header_number(text) is not None


def _header_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
