"""The library API: ``async with Orchestrator.from_config_dir() as orch: await orch.run(job)``.

An orchestrator owns one task group: a bounded in-memory task queue, a fixed
number of worker tasks that take jobs from it and hand them to the
supervisor, and a state keeper that writes rotation state after changes and
applies manual rotations asked for from the shell (see ``_state_store``).
Leaving the ``async with`` block stops taking jobs, lets queued and running
ones finish, and saves the state.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._child import Child
from ._config import OrchestratorConfig, load_config
from ._descendants import is_subreaper
from ._events import EventBus, JobFailed, JobQueued, ProviderRotated, Subscription
from ._job import Job, JobResult
from ._rotation_store import MemoryRotationStore
from ._sinks import Sink
from ._state import restore_rotations, save_rotations
from ._state_store import ManualRequest, StateStore
from ._status import OrchestratorStatus, build_status
from ._supervisor import Supervisor, SupervisorSettings

if TYPE_CHECKING:
    from .redis._connection import RedisClient

logger = structlog.get_logger("orchestrator")
STATE_SAVE_INTERVAL = 0.5
#: Events held for the Redis event stream while a batch is on its way.
REDIS_EVENT_BUFFER = 16_384
#: Seconds a closing orchestrator waits for Redis to take its last successes.
LAST_WRITE_GRACE = 10.0


class JobHandle:
    """A submitted job: await its result, or cancel it."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._done = anyio.Event()
        self._result: JobResult | None = None
        self._scope: anyio.CancelScope | None = None
        self._cancel_requested = False
        self._cancel_reason: str | None = None

    async def result(self) -> JobResult:
        """Wait for the job's one result. Cancelling this wait does not cancel the job."""
        await self._done.wait()
        assert self._result is not None
        return self._result

    def cancel(self, reason: str | None = None) -> None:
        """Stop the job (its process group is killed); it ends in a failed result
        that says it was cancelled, and ``reason`` when given."""
        self._cancel_requested = True
        self._cancel_reason = self._cancel_reason or reason
        if self._scope is not None:
            self._scope.cancel()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _finish(self, result: JobResult) -> None:
        if not self._done.is_set():
            self._result = result
            self._done.set()


_QueueItem = tuple[Job, JobHandle]


class Orchestrator:
    """Runs jobs concurrently against one configuration.

    Args:
        config: the loaded configuration.
        concurrency: jobs running at once.
        queue_size: jobs waiting before ``submit`` waits too (backpressure).
        settings: the attempt loop's knobs.
        state_file: where rotation state is kept across restarts; None keeps
            it in memory only. When another process owns the file, this one
            starts from its saved state but never writes it (see
            ``state_problems``).
        clock: wall-clock seconds for cooldowns.
        base_environment: what children inherit; defaults to ``os.environ``
            (read once, never written).
        sinks: telemetry sinks, each fed by its own subscription.
        redis_url: keep rotation state on Redis, shared with every worker
            using it, and publish events there too (``redis://HOST:PORT/DB``).
        redis_prefix: the prefix of every Redis key used.
    """

    def __init__(
        self,
        config: OrchestratorConfig,
        *,
        concurrency: int = 8,
        queue_size: int = 1024,
        settings: SupervisorSettings | None = None,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
        base_environment: Mapping[str, str] | None = None,
        sinks: Sequence[Sink] = (),
        redis_url: str | None = None,
        redis_prefix: str = "orchestrator",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if redis_url is not None and state_file is not None:
            raise ValueError("give a state file or a Redis URL, not both")
        if redis_url is not None:
            from .redis._connection import check_redis_url

            check_redis_url(redis_url)
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self._resources = AsyncExitStack()
        self.config = config
        self.bus = EventBus()
        self.state_file = state_file
        self._store = StateStore(state_file) if state_file else None
        self.state_problems: list[str] = []
        self.memory_state = MemoryRotationStore(config.new_rotations())
        if state_file is not None:
            restored = restore_rotations(
                state_file, self.memory_state.rotations, config.max_cooldowns()
            )
            self.state_problems, self.memory_state.last = restored.problems, restored.last
        self.supervisor = Supervisor(
            config,
            bus=self.bus,
            settings=settings or SupervisorSettings(),
            clock=clock,
            base_environment=base_environment,
            state=self.memory_state,
        )
        self._sinks = tuple(sinks)
        self._concurrency = concurrency
        self._queue_size = queue_size
        self._clock = clock
        self._group: TaskGroup | None = None
        self._send: MemoryObjectSendStream[_QueueItem] | None = None
        self._pending: set[JobHandle] = set()
        self._workers_left = 0
        self._workers_done: anyio.Event | None = None
        self._save_failing = False
        self._failed_sinks: set[int] = set()  # by id: a user's sink need not be hashable

    @classmethod
    def from_config_dir(cls, config_dir: Path | str | None = None, **options: Any) -> Orchestrator:
        """Load the config directory (see ``load_config``) and build an orchestrator.

        Raises:
            ConfigError: the configuration could not be loaded.
        """
        return cls(load_config(config_dir), **options)

    @property
    def concurrency(self) -> int:
        return self._concurrency

    async def __aenter__(self) -> Orchestrator:
        self._own_state()
        redis = await self._connect_redis()
        if self.supervisor.wants_sentinel:
            from ._sentinel import Sentinel

            self.supervisor.sentinel = await self._resources.enter_async_context(Sentinel())
        send, receive = anyio.create_memory_object_stream[_QueueItem](self._queue_size)
        self._send = send
        self._group = await anyio.create_task_group().__aenter__()
        for sink in self._sinks:
            await self._group.start(self._feed_sink, sink)
        if redis is not None:
            await self._group.start(self._publish_to_redis, redis)
        self._workers_left = self._concurrency
        self._workers_done = anyio.Event()  # made here: it belongs to the running loop
        for _ in range(self._concurrency):
            self._group.start_soon(self._worker, receive.clone())
        receive.close()
        self._group.start_soon(self._save_periodically)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        assert self._send is not None
        self._send.close()
        if exc is not None:
            self._group.cancel_scope.cancel()
        try:
            return await self._group.__aexit__(exc_type, exc, traceback)
        finally:
            for handle in list(self._pending):
                handle._finish(_cancelled_result(handle.job, handle._cancel_reason))
            self.bus.close()
            with anyio.CancelScope(shield=True):
                await self._keep_state()
                if is_subreaper():  # helpers of the last attempts, orphaned since the sweep
                    await Child.end_escaped()
            if self._store is not None:
                self._store.release()
            # Not inside the shield above: the client's own task group was
            # entered before it, so it must be left outside it.
            await self._resources.aclose()

    async def submit(self, job: Job) -> JobHandle:
        """Queue ``job`` and return its handle; waits while the queue is full."""
        if self._send is None:
            raise RuntimeError("use 'async with' before submitting jobs")
        handle = JobHandle(job)
        self._pending.add(handle)
        self.bus.publish(JobQueued(job_id=job.id, backend=job.backend, model=job.model))
        await self._send.send((job, handle))
        return handle

    async def run(self, job: Job) -> JobResult:
        """Submit ``job`` and wait for its result.

        Cancellation: cancelling the caller cancels the job too, and the
        cancellation propagates once the job's processes are gone.
        """
        handle = await self.submit(job)
        try:
            return await handle.result()
        except anyio.get_cancelled_exc_class():
            handle.cancel()
            with anyio.CancelScope(shield=True):
                await handle.result()
            raise

    def events(self, buffer: int = 1024) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to the event channel (``async with orch.events() as events:``)."""
        return self.bus.subscribe(buffer)

    async def status(self) -> OrchestratorStatus:
        """Providers in rotation order, current ones, cooldowns, counters, last used."""
        rotations, last = await self.supervisor.state.snapshot()
        return build_status(self.config, rotations, last, self._clock())

    async def _worker(self, receive: MemoryObjectReceiveStream[_QueueItem]) -> None:
        try:
            async with receive:
                async for job, handle in receive:
                    await self._run_one(job, handle)
        finally:
            self._workers_left -= 1
            if self._workers_left == 0 and self._workers_done is not None:
                self._workers_done.set()

    async def _run_one(self, job: Job, handle: JobHandle) -> None:
        result: JobResult | None = None
        started = anyio.current_time()
        try:
            with anyio.CancelScope() as scope:
                handle._scope = scope
                if handle._cancel_requested:
                    scope.cancel()
                result = await self.supervisor.run_job(job)
        finally:
            if result is None:
                result = _cancelled_result(job, handle._cancel_reason)
                self.bus.publish(  # the job's end, like any other's
                    JobFailed(
                        job_id=job.id,
                        duration=anyio.current_time() - started,
                        error=result.error or "",
                    )
                )
            elif result.status == "succeeded":
                with anyio.CancelScope(shield=True):
                    await self.supervisor.state.set_last(
                        (result.backend, result.provider, result.model)
                    )
            self._pending.discard(handle)
            handle._finish(result)

    async def _save_periodically(self) -> None:
        """Save the state now and then, and sweep for escaped CLI helpers (setsid) in a
        subreaper, until every job slot is done."""
        done = self._workers_done
        assert done is not None
        async with anyio.create_task_group() as aside:
            if is_subreaper():
                aside.start_soon(Child.end_escaped_forever)
            while not done.is_set():
                with anyio.move_on_after(STATE_SAVE_INTERVAL):
                    await done.wait()
                await self._keep_state()
            aside.cancel_scope.cancel()
        self.bus.close()  # lets the sinks drain their buffers and end

    async def _connect_redis(self) -> RedisClient | None:
        """With a Redis URL: connect, and keep rotation state there, shared."""
        if self.redis_url is None:
            return None
        from .redis._connection import connected
        from .redis._state import RedisRotationStore

        client = await self._resources.enter_async_context(connected(self.redis_url))
        self._redis_state: RedisRotationStore = RedisRotationStore(
            client, self.config, self.redis_prefix
        )
        self.supervisor.state = self._redis_state
        return client

    async def _publish_to_redis(
        self, client: RedisClient, *, task_status: TaskStatus[None]
    ) -> None:
        """Events to the stream, successes to the rotation state, until the bus closes."""
        from .redis._events import publish_events

        state = self._redis_state
        async with self.bus.subscribe(REDIS_EVENT_BUFFER) as events:
            task_status.started()
            async with anyio.create_task_group() as writing:
                writing.start_soon(state.write_behind)
                await publish_events(client, events, self.redis_prefix)
                writing.cancel_scope.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(LAST_WRITE_GRACE) as late:
            await state.flush()
        if late.cancelled_caught:
            logger.warning("redis unavailable: the last successes were not counted there")

    async def _feed_sink(self, sink: Sink, *, task_status: TaskStatus[None]) -> None:
        try:
            async with self.bus.subscribe() as events:
                task_status.started()
                async for event in events:
                    try:
                        sink(event)
                    except Exception as exc:  # a sink's fault never stops the jobs
                        self._sink_failed(sink, exc)
        finally:
            try:
                sink.close()
            except Exception as exc:
                self._sink_failed(sink, exc)

    def _sink_failed(self, sink: Sink, exc: Exception) -> None:
        """Log a sink's first failure (one line, not one per event); it keeps being called."""
        if id(sink) not in self._failed_sinks:  # sinks live as long as the orchestrator
            self._failed_sinks.add(id(sink))
            logger.error(
                "a telemetry sink failed; its later failures are not logged",
                sink=type(sink).__name__,
                error=str(exc),
            )

    def _own_state(self) -> None:
        """Own the state file if nobody else does; another owner, or a directory that
        cannot be written, is a problem to report, not a crash (the state is not saved)."""
        if self._store is None:
            return
        try:
            owned = self._store.try_own()
        except OSError as exc:
            self.state_problems.append(
                f"cannot write beside the state file {self._store.path}: "
                f"{exc.strerror or exc}; not saving changes"
            )
            self._store = None
            return
        if not owned:
            self.state_problems.append(
                f"state file {self._store.path} is in use by process "
                f"{self._store.owner_pid()}: starting from its saved state, not saving changes"
            )

    async def _keep_state(self) -> None:
        """Apply manual requests from the shell, then save if anything changed."""
        if self._store is None or not self._store.owned:
            return
        for request in self._store.take_requests():
            await self.apply_manual(request)
        memory = self.memory_state
        if memory.changed:
            memory.changed = False
            try:
                save_rotations(self._store.path, memory.rotations, memory.last)
            except OSError as exc:  # a full or read-only disk: jobs go on, saved later
                memory.changed = True
                if not self._save_failing:
                    logger.error(
                        "cannot save the state file; retrying",
                        path=str(self._store.path),
                        error=exc.strerror or str(exc),
                    )
                self._save_failing = True
                return
            if self._save_failing:
                logger.info("the state file is saved again", path=str(self._store.path))
                self._save_failing = False

    async def apply_manual(self, request: ManualRequest) -> bool:
        """Rotate or reset a backend by hand, publishing the change as an event."""
        state = self.supervisor.state
        if request.backend not in self.config.backends:
            return False
        now = self._clock()
        before = (await state.view(request.backend, now)).rotation.current(now)
        if request.action == "rotate" and request.past is None:
            request = dataclasses.replace(request, past=before)
        await state.apply(request)
        after = (await state.view(request.backend, now)).rotation.current(now)
        self.bus.publish(
            ProviderRotated(
                backend=request.backend,
                provider=after,
                from_provider=before,
                reason=f"manual {request.action}",
            )
        )
        return True


def _cancelled_result(job: Job, reason: str | None = None) -> JobResult:
    because = f" ({reason})" if reason else ""
    return JobResult(
        job_id=job.id,
        status="failed",
        error=f"Error: job '{job.id}' was cancelled{because}",
        metadata=job.metadata,
    )
