"""The internal event channel: typed events, published without ever blocking.

Every subscriber gets its own bounded memory object stream. Publishing is a
synchronous ``send_nowait`` to each: a subscriber whose buffer is full misses
the new event, which is counted in its ``dropped`` attribute (overflow policy:
drop newest). So a slow telemetry sink can lose events but never slows a job.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ._job import AttemptOutcome, TokenUsage


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str | None = None
    backend: str | None = None
    provider: str | None = None
    model: str | None = None
    timestamp: float = Field(default_factory=time.time)


class JobQueued(_EventBase):
    kind: Literal["job_queued"] = "job_queued"


class AttemptStarted(_EventBase):
    kind: Literal["attempt_started"] = "attempt_started"
    attempt: int
    #: The session chosen up front (``--session-id``), or the one resumed.
    session_id: str | None = None
    #: The attempt whose session this one resumes on another provider.
    resumed_from: int | None = None
    #: The attempt (on another backend) whose work this one's prompt hands over.
    handed_over_from: int | None = None


class AttemptFinished(_EventBase):
    kind: Literal["attempt_finished"] = "attempt_finished"
    attempt: int
    outcome: AttemptOutcome
    exit_code: int | None
    duration: float
    message: str = ""
    usage: TokenUsage | None = None
    session_id: str | None = None
    #: Tokens the sentinel counted on the wire, every request of the attempt summed
    #: (``usage`` is the CLI's own figure where it gives one); None when it did not watch.
    wire_usage: TokenUsage | None = None
    #: The model the provider's answers named, as the sentinel saw them.
    served_model: str | None = None


class ProviderRotated(_EventBase):
    """The job moved from ``from_provider`` to ``provider`` on the same backend."""

    kind: Literal["provider_rotated"] = "provider_rotated"
    from_provider: str | None
    reason: str


class BackendFellBack(_EventBase):
    """The job moved from ``from_backend`` to ``backend``."""

    kind: Literal["backend_fell_back"] = "backend_fell_back"
    from_backend: str
    reason: str


class ProviderCooledDown(_EventBase):
    kind: Literal["provider_cooled_down"] = "provider_cooled_down"
    until: float
    reason: str


class ProviderSuspended(_EventBase):
    """A warning: the provider refused its credentials; out until its settings change."""

    kind: Literal["provider_suspended"] = "provider_suspended"
    reason: str


class ProviderHeadroom(_EventBase):
    """The provider's latest headroom reading: ``utilization`` of its tightest window used."""

    kind: Literal["provider_headroom"] = "provider_headroom"
    utilization: float
    resets_at: float | None
    near_limit: bool


class JobWaiting(_EventBase):
    """Every provider of every backend is cooling: the job waits until ``until``."""

    kind: Literal["job_waiting"] = "job_waiting"
    until: float
    reason: str


class ProviderRecovered(_EventBase):
    kind: Literal["provider_recovered"] = "provider_recovered"


class JobSucceeded(_EventBase):
    kind: Literal["job_succeeded"] = "job_succeeded"
    duration: float
    usage: TokenUsage | None = None


class JobFailed(_EventBase):
    kind: Literal["job_failed"] = "job_failed"
    duration: float
    error: str


Event = Annotated[
    JobQueued
    | AttemptStarted
    | AttemptFinished
    | ProviderRotated
    | BackendFellBack
    | ProviderCooledDown
    | ProviderRecovered
    | ProviderHeadroom
    | ProviderSuspended
    | JobWaiting
    | JobSucceeded
    | JobFailed,
    Field(discriminator="kind"),
]
#: Parses any event from its JSON form (event logs, Redis, the CLI).
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(record: bytes | str) -> Event | None:
    """An event line or stream entry; None for one this version cannot read (a newer
    version's kind, a torn line): readers skip it rather than stop."""
    try:
        return EVENT_ADAPTER.validate_json(record)
    except ValidationError:
        return None


@dataclass(eq=False)
class Subscription:
    """One subscriber's view of the channel: iterate it to receive events.

    Attributes:
        dropped: events this subscriber missed because its buffer was full.
    """

    _receive: MemoryObjectReceiveStream[Event]
    dropped: int = 0

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._receive.__aiter__()

    async def receive(self) -> Event:
        return await self._receive.receive()

    def waiting(self, limit: int) -> list[Event]:
        """Up to ``limit`` events already buffered, without waiting (for batching)."""
        events: list[Event] = []
        while len(events) < limit:
            try:
                events.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        return events


@dataclass(eq=False)
class _Subscriber:
    send: MemoryObjectSendStream[Event]
    subscription: Subscription


@dataclass(eq=False)
class EventBus:
    """Fans every published event out to the current subscribers."""

    _subscribers: list[_Subscriber] = field(default_factory=list)
    _closed: bool = False

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber that has room; never blocks."""
        for subscriber in self._subscribers:
            try:
                subscriber.send.send_nowait(event)
            except anyio.WouldBlock:
                subscriber.subscription.dropped += 1
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # its receiver is gone; unsubscribe() removes it

    @asynccontextmanager
    async def subscribe(self, buffer: int = 1024) -> AsyncIterator[Subscription]:
        """Receive events published from now on, until the block exits or the bus closes.

        Args:
            buffer: events held for this subscriber before new ones are dropped.
        """
        send, receive = anyio.create_memory_object_stream[Event](buffer)
        subscriber = _Subscriber(send, Subscription(receive))
        if self._closed:
            send.close()
        else:
            self._subscribers.append(subscriber)
        try:
            yield subscriber.subscription
        finally:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            send.close()
            receive.close()

    def close(self) -> None:
        """End every subscription's iteration once it has drained its buffer."""
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.send.close()
        self._subscribers.clear()
