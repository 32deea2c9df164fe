"""The dashboard's one running piece: it follows the source's events into the
:class:`JobBook` and fans them out to every open page (server-sent events)."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

import anyio
from anyio.abc import TaskStatus

from .._config import OrchestratorConfig
from .._events import Event, EventBus
from ._jobs import JobBook
from ._sources import DashboardSource

#: Events read back at start, so the pages open on the recent story, not a blank one.
REPLAYED = 5000
#: Events kept for the live feed.
FEED_KEPT = 200


class Dashboard:
    """State shared by every request: the source, the job book, the live channel."""

    def __init__(
        self, config: OrchestratorConfig, source: DashboardSource, *, replay: int = REPLAYED
    ) -> None:
        self.config = config
        self.source = source
        self.book = JobBook()
        self.feed: collections.deque[Event] = collections.deque(maxlen=FEED_KEPT)
        self.channel = EventBus()
        self._replay = replay

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Dashboard]:
        """Open the source and follow its events for the block (history read first)."""
        async with self.source.opened(), anyio.create_task_group() as group:
            await group.start(self._follow)
            try:
                yield self
            finally:
                self.channel.close()
                group.cancel_scope.cancel()

    async def _follow(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        history, cursor = await self.source.history(self._replay)
        for event in history:
            self._take(event)
        task_status.started()
        async with aclosing(self.source.follow(cursor)) as following:
            async for event in following:
                self._take(event)
                self.channel.publish(event)

    def _take(self, event: Event) -> None:
        self.book.record(event)
        self.feed.append(event)
