"""Events on Redis: every worker appends to one capped stream; anyone reads it.

The stream (``<prefix>:events``, trimmed to about ``EVENTS_MAX`` entries)
is both the replay log and the live feed: ``orchestrator events --redis URL
--follow`` and a telemetry sink on another machine block on XREAD for new
entries. Publishing never holds up a job: it runs in its own task fed by a
bounded subscription, and while Redis is away events are dropped and counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import structlog
from coredis.tokens import PureToken
from pydantic import ValidationError

from ._events import EVENT_ADAPTER, Event, Subscription
from ._redis_connection import redis_errors

if TYPE_CHECKING:
    import coredis

logger = structlog.get_logger("orchestrator.redis")
EVENTS_MAX = 100_000


def events_key(prefix: str) -> str:
    return f"{prefix}:events"


async def publish_events(
    client: coredis.Redis[str], subscription: Subscription, prefix: str
) -> None:
    """Append each event from ``subscription`` to the stream until the bus closes."""
    key = events_key(prefix)
    lost = 0
    async for event in subscription:
        try:
            await client.xadd(
                key,
                {"event": event.model_dump_json()},
                trim_strategy=PureToken.MAXLEN,
                threshold=EVENTS_MAX,
                trim_operator=PureToken.APPROXIMATELY,
            )
        except redis_errors():
            lost += 1
            if lost in (1, 10, 100) or lost % 1000 == 0:
                logger.warning("events not published: redis unavailable", lost=lost)


async def read_events(
    client: coredis.Redis[str], prefix: str, *, last: int | None, follow: bool
) -> AsyncIterator[str]:
    """The stream's events as JSON: the ``last`` N (all when None), then new ones."""
    key = events_key(prefix)
    newest = await client.xrevrange(key, count=last) if last is not None else None
    entries = list(reversed(newest)) if newest is not None else await client.xrange(key)
    cursor = "0-0"
    for entry in entries:
        cursor = str(entry.identifier)
        yield str(entry.field_values.get("event", ""))
    if last is not None and not entries:
        cursor = "$"
    while follow:
        reply = await client.xread({key: cursor}, block=1000)
        for entry in (reply or {}).get(key, ()):
            cursor = str(entry.identifier)
            yield str(entry.field_values.get("event", ""))


def parse_event(text: str) -> Event | None:
    try:
        return EVENT_ADAPTER.validate_json(text)
    except ValidationError:
        return None
