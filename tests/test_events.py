"""The event channel: typed events, fan-out, and a slow subscriber never blocking."""

from __future__ import annotations

import pytest

from orchestrator._events import (
    EVENT_ADAPTER,
    AttemptFinished,
    Event,
    EventBus,
    JobQueued,
    ProviderRotated,
)
from orchestrator._job import AttemptOutcome

pytestmark = pytest.mark.anyio


async def test_every_subscriber_gets_every_event() -> None:
    """Two subscribers each receive all events, in order."""
    bus = EventBus()
    async with bus.subscribe() as first, bus.subscribe() as second:
        for number in range(5):
            bus.publish(JobQueued(job_id=f"j{number}"))
        bus.close()
        got_first = [event.job_id async for event in first]
        got_second = [event.job_id async for event in second]
    assert got_first == got_second == [f"j{n}" for n in range(5)]


async def test_waiting_takes_what_is_buffered_without_waiting() -> None:
    """``waiting`` batches: up to the limit, in order, and an empty list when none wait."""
    bus = EventBus()
    async with bus.subscribe() as events:
        assert events.waiting(10) == []
        for number in range(3):
            bus.publish(JobQueued(job_id=str(number)))
        assert [event.job_id for event in events.waiting(2)] == ["0", "1"]
        bus.close()
        assert [event.job_id for event in events.waiting(10)] == ["2"]
        assert events.waiting(10) == []  # closed and drained


async def test_slow_subscriber_drops_and_never_blocks() -> None:
    """A subscriber that never reads loses events (counted) while others get them all."""
    bus = EventBus()
    async with bus.subscribe(buffer=2) as slow, bus.subscribe(buffer=1000) as fast:
        # publish is synchronous: it cannot wait for a reader, by construction.
        for number in range(500):
            bus.publish(JobQueued(job_id=str(number)))
        bus.close()
        assert slow.dropped == 498
        assert fast.dropped == 0
        assert len([event async for event in fast]) == 500
        assert [event.job_id async for event in slow] == ["0", "1"]


async def test_publish_without_subscribers_and_after_unsubscribe() -> None:
    """Publishing with nobody listening, or after a subscriber left, is harmless."""
    bus = EventBus()
    bus.publish(JobQueued())
    async with bus.subscribe():
        pass
    bus.publish(JobQueued())


async def test_subscribe_after_close_ends_at_once() -> None:
    """A subscription opened on a closed bus iterates nothing."""
    bus = EventBus()
    bus.close()
    async with bus.subscribe() as subscription:
        assert [event async for event in subscription] == []


def test_events_round_trip_through_json() -> None:
    """Each event serialises with its kind and parses back to the same type."""
    events: list[Event] = [
        ProviderRotated(
            job_id="j", backend="qwen", provider="b", from_provider="a", reason="usage_limit"
        ),
        AttemptFinished(attempt=1, outcome=AttemptOutcome.USAGE_LIMIT, exit_code=1, duration=0.5),
    ]
    for event in events:
        assert EVENT_ADAPTER.validate_json(event.model_dump_json()) == event
