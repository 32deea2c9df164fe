"""Events on Redis: every worker appends to one capped stream; anyone reads it.

The stream (``<prefix>:events``, trimmed to about ``EVENTS_MAX`` entries)
is both the replay log and the live feed: ``orchestrator events --redis URL
--follow`` and a telemetry sink on another machine block on XREAD for new
entries. Publishing never holds up a job: it runs in its own task fed by a
bounded subscription, and while Redis is away events are dropped and counted.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from .._events import Event, Subscription, parse_event
from ._connection import connected, key_prefix, redis_errors, until_done

if TYPE_CHECKING:
    from coredis.response.types import StreamEntry

    from ._connection import RedisClient

logger = structlog.get_logger("orchestrator.redis")
EVENTS_MAX = 100_000
#: Events sent in one script call at most.
BATCH_MAX = 1024
#: Seconds events gather before they go out together: one round trip for all of them,
#: which is what keeps publishing cheap under load (it is not a delay anyone waits on).
LINGER = 0.05

# Append each event to the capped stream. KEYS: the stream. ARGV: the cap, then events.
APPEND_EVENTS = """
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[i])
end
return #ARGV - 1
"""


def events_key(prefix: str) -> str:
    return f"{prefix}:events"


async def publish_events(
    client: RedisClient, subscription: Subscription, prefix: str, *, linger: float = LINGER
) -> None:
    """Append each event from ``subscription`` to the stream until the bus closes.

    Events gather for ``linger`` seconds after the first one, then go out in one
    script call: one round trip and one command per batch, not one per event.
    """
    key = events_key(key_prefix(client, prefix))
    append = client.register_script(APPEND_EVENTS)
    lost = 0
    async for first in subscription:
        await anyio.sleep(linger)
        batch = [first, *subscription.waiting(BATCH_MAX - 1)]
        try:
            await append(
                keys=[key], args=[EVENTS_MAX, *(event.model_dump_json() for event in batch)]
            )
        except redis_errors():
            before, lost = lost, lost + len(batch)
            if before == 0 or lost // 1000 > before // 1000:
                logger.warning("events not published: redis unavailable", lost=lost)


async def read_events(
    client: RedisClient, prefix: str, *, last: int | None, follow: bool
) -> AsyncGenerator[str, None]:
    """The stream's events as JSON: the ``last`` N (all when None), then new ones.

    Following rides out Redis restarts: it carries on after the last entry seen.
    """
    key = events_key(key_prefix(client, prefix))
    if last == 0:  # none of the past: only what comes (Redis' COUNT 0 is no limit)
        newest: Any = []
    else:
        newest = await client.xrevrange(key, count=last) if last is not None else None
    entries = list(reversed(newest)) if newest is not None else await client.xrange(key)
    cursor = "0-0"
    for entry in entries:
        cursor = str(entry.identifier)
        yield str(entry.field_values.get("event", ""))
    if last is not None and not entries:
        cursor = await _newest_id(client, key)
    if follow:
        async with aclosing(events_after(client, prefix, cursor)) as following:
            async for _, text in following:
                yield text


async def recent_events(client: RedisClient, prefix: str, last: int) -> tuple[list[str], str]:
    """The stream's last ``last`` events as JSON, and the cursor to follow on from."""
    key = events_key(key_prefix(client, prefix))
    newest = await client.xrevrange(key, count=last) if last > 0 else ()
    if not newest:
        return [], await _newest_id(client, key)
    texts = [str(entry.field_values.get("event", "")) for entry in reversed(newest)]
    return texts, str(newest[0].identifier)


async def events_after(
    client: RedisClient, prefix: str, cursor: str
) -> AsyncGenerator[tuple[str, str], None]:
    """``(entry id, event JSON)`` for each event after ``cursor``, as they come, forever;
    riding out Redis restarts by carrying on after the last entry seen."""
    key = events_key(key_prefix(client, prefix))
    while True:
        reply = await until_done(
            functools.partial(_read_after, client, key, cursor), what="follow events"
        )
        for entry in (reply or {}).get(key, ()):
            cursor = str(entry.identifier)
            yield cursor, str(entry.field_values.get("event", ""))


async def _read_after(
    client: RedisClient, key: str, cursor: str
) -> dict[str, tuple[StreamEntry, ...]] | None:
    return await client.xread({key: cursor}, block=1000)


async def _newest_id(client: RedisClient, key: str) -> str:
    """Where "only new events" starts: an id, not ``$``, so that a re-read after
    a reconnection does not skip what arrived meanwhile."""
    newest = await client.xrevrange(key, count=1)
    return str(newest[0].identifier) if newest else "0-0"


@asynccontextmanager
async def redis_event_feed(
    url: str, *, prefix: str = "orchestrator", replay: int | None = 0
) -> AsyncIterator[AsyncIterator[Event]]:
    """Every worker's events, live, for a telemetry sink on any machine::

        async with redis_event_feed("redis://host:6379/0") as events:
            async for event in events:
                sink(event)

    ``replay``: how many past events come first (None: all the stream keeps).
    Entries a newer version wrote in a shape this one cannot read are skipped.
    """

    async def events(client: RedisClient) -> AsyncGenerator[Event, None]:
        async with aclosing(read_events(client, prefix, last=replay, follow=True)) as texts:
            async for text in texts:
                event = parse_event(text)
                if event is not None:
                    yield event

    async with connected(url) as client:
        feed = events(client)
        try:
            yield feed
        finally:
            await feed.aclose()
