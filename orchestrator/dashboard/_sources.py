"""Where the dashboard reads state, events and jobs, and sends its actions: the
state file with the event log beside it (and a spool directory), or Redis.

Both sit behind :class:`DashboardSource`, so the pages and the JSON API are the
same whichever way the orchestrator runs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread

from .._config import OrchestratorConfig
from .._event_log import read_last, read_new
from .._events import Event, parse_event
from .._job import JobResult
from .._manual import apply_on_redis, apply_to_state_file, state_file_status
from .._state_store import ManualRequest, StateStore
from .._status import OrchestratorStatus, build_status
from ._queue_view import QueueView, RetryError
from ._spool_jobs import SpoolJobs

if TYPE_CHECKING:
    from ..redis._connection import RedisClient


class DashboardSource(Protocol):
    """State, events, jobs and actions of one orchestrator deployment."""

    mode: str
    label: str

    def opened(self) -> AbstractAsyncContextManager[None]:
        """Hold the connection (if any) for the dashboard's lifetime."""
        ...

    async def status(self) -> OrchestratorStatus: ...

    async def history(self, last: int) -> tuple[list[Event], Any]:
        """The last ``last`` events, and a cursor where following them goes on."""
        ...

    def follow(self, cursor: Any) -> AsyncGenerator[Event, None]:
        """The events after ``cursor``, as they come, until cancelled."""
        ...

    async def queue(self, failed: Sequence[str]) -> QueueView:
        """What the store holds; ``failed``: the failed job ids the events named."""
        ...

    async def result(self, job_id: str) -> JobResult | None: ...

    async def apply(self, request: ManualRequest) -> str | None:
        """Rotate or reset; the backend's current provider afterwards."""
        ...

    async def retry(self, job_id: str) -> str:
        """Queue a failed job again; the id its new run has."""
        ...


def _parsed(records: Sequence[bytes | str]) -> list[Event]:
    return [event for record in records if (event := parse_event(record)) is not None]


class StateFileSource:
    """The embedded default: the state file, ``events.jsonl`` beside it, and the spool
    directory the workers take job files from (when given).

    Attributes:
        live_status: served from a worker (``--http``), the worker's own rotation state,
            read from memory: a cooldown shows the moment it starts, not when the
            state file is next saved.
    """

    mode = "spool"

    def __init__(self, config: OrchestratorConfig, state_file: Path, spool: Path | None) -> None:
        self.live_status: Callable[[], Awaitable[OrchestratorStatus]] | None = None
        self._config = config
        self._store = StateStore(state_file)
        self._log = state_file.with_name("events.jsonl")
        self._spool = SpoolJobs(spool) if spool is not None else None
        self.label = f"state file {state_file}" + (f", spool {spool}" if spool else "")

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[None]:
        yield

    async def status(self) -> OrchestratorStatus:
        if self.live_status is not None:
            return await self.live_status()
        status, _ = await anyio.to_thread.run_sync(state_file_status, self._config, self._store)
        return status

    async def history(self, last: int) -> tuple[list[Event], int]:
        records, position = await anyio.to_thread.run_sync(read_last, self._log, last)
        return _parsed(records), position

    async def follow(self, cursor: int) -> AsyncGenerator[Event, None]:
        from watchfiles import awatch

        position = cursor
        self._log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        changes = awatch(
            self._log.parent,
            watch_filter=lambda _, changed: Path(changed).name == self._log.name,
            debounce=50,
            step=10,
            rust_timeout=1000,
            yield_on_timeout=True,  # a look now and then, in case a change slipped by
            recursive=False,
        )
        async with aclosing(changes):
            async for _ in changes:
                records, position = await anyio.to_thread.run_sync(read_new, self._log, position)
                for event in _parsed(records):
                    yield event

    async def queue(self, failed: Sequence[str]) -> QueueView:
        if self._spool is None:
            return QueueView()
        return await anyio.to_thread.run_sync(self._spool.view)

    async def result(self, job_id: str) -> JobResult | None:
        if self._spool is None:
            return None
        return await anyio.to_thread.run_sync(self._spool.result, job_id)

    async def apply(self, request: ManualRequest) -> str | None:
        return await anyio.to_thread.run_sync(
            apply_to_state_file, self._config, self._store, request
        )

    async def retry(self, job_id: str) -> str:
        if self._spool is None:
            raise RetryError(f"Error: job {job_id}: no spool directory given (--spool)")
        return await anyio.to_thread.run_sync(self._spool.retry, job_id)


class RedisSource:
    """Many workers on one Redis: the shared rotation state, the event stream, the job
    stream with its pending entries, results and dead letters."""

    mode = "redis"

    def __init__(self, config: OrchestratorConfig, url: str, prefix: str) -> None:
        from ..redis._queue import RedisKeys

        self._config = config
        self._url = url
        self._prefix = prefix
        self._keys = RedisKeys(prefix)
        self.label = f"redis stream {self._keys.jobs}"

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[None]:
        from ..redis._connection import connected

        async with connected(self._url) as client:
            self._client: RedisClient = client
            self._keys = self._keys.for_client(client)
            yield

    async def status(self) -> OrchestratorStatus:
        from ..redis._state import RedisRotationStore

        store = RedisRotationStore(self._client, self._config, self._prefix)
        rotations, last = await store.snapshot()
        return build_status(self._config, rotations, last, time.time())

    async def history(self, last: int) -> tuple[list[Event], str]:
        from ..redis._events import recent_events

        texts, cursor = await recent_events(self._client, self._prefix, last)
        return _parsed(texts), cursor

    async def follow(self, cursor: str) -> AsyncGenerator[Event, None]:
        from ..redis._events import events_after

        async with aclosing(events_after(self._client, self._prefix, cursor)) as following:
            async for _, text in following:
                if (event := parse_event(text)) is not None:
                    yield event

    async def queue(self, failed: Sequence[str]) -> QueueView:
        from ._redis_jobs import redis_queue_view

        return await redis_queue_view(self._client, self._keys, failed)

    async def result(self, job_id: str) -> JobResult | None:
        stored = await self._client.get(self._keys.result(job_id))
        return JobResult.model_validate_json(stored) if stored is not None else None

    async def apply(self, request: ManualRequest) -> str | None:
        return await apply_on_redis(self._config, self._client, self._prefix, request)

    async def retry(self, job_id: str) -> str:
        from ._redis_jobs import retry_on_redis

        return await retry_on_redis(self._client, self._keys, job_id)
