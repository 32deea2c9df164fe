"""Events as one readable line each (``orchestrator events``, the dashboard's feed)."""

from __future__ import annotations

from datetime import UTC, datetime

from ._events import Event

#: Event fields that hold a moment (Unix seconds), shown as a UTC time.
MOMENTS = frozenset({"until", "resets_at", "seen_at"})
#: Event fields that hold a duration in seconds.
DURATIONS = frozenset({"duration", "waited", "retry_after"})


def describe_event(event: Event, *, with_time: bool = True, with_job: bool = True) -> str:
    """Time, kind, where, and the kind's own details (the job's id among them unless
    ``with_job`` is False: the dashboard links it separately)."""
    hidden = {"kind", "timestamp"} | (set() if with_job else {"job_id"})
    fields = event.model_dump(mode="json", exclude=hidden, exclude_none=True)
    where = "/".join(str(fields.pop(key)) for key in ("backend", "provider") if key in fields)
    details = " ".join(f"{key}={readable(key, value)}" for key, value in fields.items())
    line = f"{event.kind:<21} {where} {details}".rstrip()
    return f"{utc_time(event.timestamp)} {line}" if with_time else line


def utc_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def readable(key: str, value: object) -> object:
    """Durations as ``3.4s`` or ``34ms``, moments as UTC times, utilization in percent."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if key in MOMENTS:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if key in DURATIONS:
        return seconds_text(float(value))
    if key == "utilization":
        return f"{value:.0%}"
    return value


def seconds_text(value: float) -> str:
    """``2.0h``, ``3.4min``, ``3.4s``, ``34ms``, ``34us``."""
    if value >= 3600:
        return f"{value / 3600:.1f}h"
    if value >= 60:
        return f"{value / 60:.1f}min"
    if value >= 1:
        return f"{value:.1f}s"
    if value >= 0.001:
        return f"{value * 1000:.0f}ms"
    return f"{value * 1_000_000:.0f}us"
