"""The long-lived worker: job files from a spool directory, through an orchestrator.

An intake task finds job files: the ones already waiting at start, then new
ones as they arrive (watchfiles reports them at once; a rescan whenever the
queue runs dry catches anything a watcher missed). One slot per unit of
concurrency claims a file, reads it, runs the job and files the result. Only
``concurrency`` files are read at a time, so a spool of 100,000 waiting files
costs their names, not their contents.

Stopping (``stop``): no new files are claimed; running jobs get until the
drain deadline to finish, then they are cancelled (their process groups are
killed) and their files go back to ``incoming/`` for the next worker.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._events import JobFailed
from ._job import JobResult
from ._jobfile import JobFileError, load_job_file
from ._orchestrator import Orchestrator
from ._spool import Claimed, Spool

logger = structlog.get_logger("orchestrator.worker")

#: Seconds between rescans of incoming/ while nothing is queued.
RESCAN_INTERVAL = 2.0


@dataclass
class WorkerCounts:
    """What a worker did, for its closing log line and for tests."""

    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    requeued: int = 0


class Worker:
    """Feeds the job files of one spool to one orchestrator until stopped.

    Args:
        orchestrator: not yet entered; the worker enters and leaves it.
        spool: the spool directory.
        watch: react to new files through file-system notifications; without
            it, new files are found by the rescan alone.
        rescan_interval: seconds between rescans while the queue is empty.
    """

    def __init__(
        self,
        orchestrator: Orchestrator,
        spool: Spool,
        *,
        watch: bool = True,
        rescan_interval: float = RESCAN_INTERVAL,
    ) -> None:
        self.orchestrator = orchestrator
        self.spool = spool
        self.counts = WorkerCounts()
        self._watch = watch
        self._rescan_interval = rescan_interval
        self._queued: set[str] = set()
        self._queue_empty: anyio.Event | None = None
        self._running: set[anyio.CancelScope] = set()
        self._stopping = False
        # Loop-bound objects are made in ``run``: a worker built in sync code
        # then runs under trio or asyncio.
        self._intake_scope: anyio.CancelScope | None = None
        self._watch_stop: anyio.Event | None = None
        self._group: TaskGroup | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Work until ``stop`` has been called and the last job has ended."""
        with self.spool.registered() as recovery:
            if recovery.requeued or recovery.finished:
                logger.info(
                    "recovered a dead worker's jobs",
                    requeued=len(recovery.requeued),
                    finished=len(recovery.finished),
                )
            self._watch_stop = anyio.Event()
            self._intake_scope = anyio.CancelScope()
            send, receive = anyio.create_memory_object_stream[str](math.inf)
            async with self.orchestrator, anyio.create_task_group() as group:
                self._group = group
                group.start_soon(self._intake, send)
                async with anyio.create_task_group() as slots:
                    for _ in range(self.orchestrator.concurrency):
                        slots.start_soon(self._slot, receive.clone())
                    receive.close()
                    task_status.started()
                group.cancel_scope.cancel()  # the intake and a pending drain timer
        logger.info("worker stopped", **vars(self.counts))

    def stop(self, drain_timeout: float) -> None:
        """Stop claiming files; cancel jobs still running after ``drain_timeout`` s.

        A second call cuts the drain short: running jobs are cancelled now.
        """
        if self._stopping:
            self._cancel_running()
            return
        self._stopping = True
        if self._intake_scope is not None:
            self._intake_scope.cancel()
        if self._watch_stop is not None:
            self._watch_stop.set()
        if self._group is not None:
            self._group.start_soon(self._drain_timer, drain_timeout)

    # -- intake ---------------------------------------------------------------

    async def _intake(self, send: MemoryObjectSendStream[str]) -> None:
        assert self._intake_scope is not None
        async with send:
            with self._intake_scope:
                async with anyio.create_task_group() as group:
                    if self._watch:
                        group.start_soon(self._watch_incoming, send)
                    await self._rescan_forever(send)

    async def _rescan_forever(self, send: MemoryObjectSendStream[str]) -> None:
        while True:
            self._enqueue(send, await anyio.to_thread.run_sync(self.spool.pending))
            if self._queued:
                self._queue_empty = anyio.Event()
                await self._queue_empty.wait()
            await anyio.sleep(self._rescan_interval)

    async def _watch_incoming(self, send: MemoryObjectSendStream[str]) -> None:
        from watchfiles import awatch  # imported here: a worker-only dependency

        incoming = self.spool.incoming
        changes = awatch(
            incoming,
            watch_filter=None,
            debounce=200,
            step=10,
            stop_event=self._watch_stop,
            recursive=False,
        )
        async with aclosing(changes):
            async for batch in changes:
                names = sorted({Path(path).name for _, path in batch})
                self._enqueue(send, (name for name in names if (incoming / name).exists()))

    def _enqueue(self, send: MemoryObjectSendStream[str], names: Iterable[str]) -> None:
        for name in names:
            if name not in self._queued and not name.startswith("."):
                try:
                    send.send_nowait(name)
                except anyio.BrokenResourceError:
                    return  # every slot has ended: the worker is shutting down
                self._queued.add(name)

    # -- jobs -----------------------------------------------------------------

    async def _slot(self, receive: MemoryObjectReceiveStream[str]) -> None:
        async with receive:
            async for name in receive:
                self._queued.discard(name)
                if not self._queued and self._queue_empty is not None:
                    self._queue_empty.set()
                if self._stopping:
                    return
                claimed = self.spool.claim(name)
                if claimed is not None:
                    await self._process(claimed)

    async def _process(self, claimed: Claimed) -> None:
        try:
            job = load_job_file(claimed.path, base_dir=self.spool.incoming)
        except JobFileError as exc:
            # The message names the file where it was dropped, not where it went.
            error = str(exc).replace(str(claimed.path), str(self.spool.incoming / claimed.name))
            self._reject(claimed, error)
            return
        result: JobResult | None = None
        try:
            with anyio.CancelScope() as scope:
                self._running.add(scope)
                result = await self.orchestrator.run(job)
        except anyio.get_cancelled_exc_class():
            self._requeue(claimed)
            raise
        finally:
            self._running.discard(scope)
        if result is None:  # cancelled at the drain deadline
            self._requeue(claimed)
            return
        self.spool.finish(claimed, result)
        if result.status == "succeeded":
            self.counts.succeeded += 1
        else:
            self.counts.failed += 1

    def _reject(self, claimed: Claimed, error: str) -> None:
        logger.warning("job file rejected", file=claimed.name, error=error)
        result = JobResult(job_id=claimed.name, status="failed", error=error)
        self.spool.finish(claimed, result)
        self.orchestrator.bus.publish(JobFailed(job_id=claimed.name, duration=0.0, error=error))
        self.counts.rejected += 1

    def _requeue(self, claimed: Claimed) -> None:
        self.spool.requeue(claimed)
        self.counts.requeued += 1
        logger.info("job returned to incoming", file=claimed.name)

    # -- stopping -------------------------------------------------------------

    async def _drain_timer(self, drain_timeout: float) -> None:
        await anyio.sleep(drain_timeout)
        self._cancel_running()

    def _cancel_running(self) -> None:
        for scope in list(self._running):
            scope.cancel()
