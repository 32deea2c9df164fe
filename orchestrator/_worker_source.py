"""Where a worker's jobs come from: one interface, a spool directory or Redis.

A source hands out deliveries (a job, or the reason some input cannot be
one), takes each one back exactly once, finished with its result or
requeued, and owns whatever runs beside it (a directory watcher, claim
renewals) while ``running`` is entered.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._job import Job, JobResult
from ._jobfile import JobFileError, is_prompt_file, load_job_file
from ._spool import Claimed, Recovery, Spool

logger = structlog.get_logger("orchestrator.worker")
#: Waits between tries to file a result (a full disk, say): doubling, capped.
FILING_RETRY_FIRST = 0.5
FILING_RETRY_MAX = 5.0

#: Seconds between rescans of incoming/ while nothing is queued.
RESCAN_INTERVAL = 2.0
#: Seconds between looks for dead workers' claims in processing/.
RECOVER_INTERVAL = 2.0


@dataclass(frozen=True)
class Delivery:
    """One unit of work handed to a worker slot.

    Attributes:
        label: how logs and messages name it (a file, a stream entry).
        job: the job; None when the input could not be read as one.
        rejection: why it could not (names the input and the field).
        token: the source's own handle on it (a claimed path, an entry id).
        raw: the input as the source holds it (to hand back on requeue).
        name: the result's name for a rejected input (the file name).
    """

    label: str
    job: Job | None
    rejection: str | None
    token: str = ""
    raw: str = ""
    name: str = ""


class JobSource(Protocol):
    """What the worker needs from a queue, whichever queue it is."""

    label: str

    def running(self) -> AbstractAsyncContextManager[None]:
        """Keep the source's own tasks going for the block (watching, renewing)."""
        ...

    async def take(self) -> Delivery | None:
        """The next delivery; None once ``stop_taking`` was called."""
        ...

    def stop_taking(self) -> None:
        """No more deliveries: blocked and later ``take`` calls return None."""
        ...

    async def finish(self, delivery: Delivery, result: JobResult) -> bool:
        """File the result; False if the delivery was no longer this worker's."""
        ...

    async def requeue(self, delivery: Delivery) -> None:
        """Give the delivery back, for this or another worker to run later."""
        ...


def _log_recovery(recovery: Recovery) -> None:
    if recovery.requeued or recovery.finished:
        logger.info(
            "recovered a dead worker's jobs",
            requeued=len(recovery.requeued),
            finished=len(recovery.finished),
        )


class SpoolSource:
    """Job files from a spool directory (see ``_spool``).

    An intake task finds the files waiting at start, then new ones as they
    arrive (watchfiles reports them at once; a rescan whenever the queue runs
    dry catches anything a watcher missed). Files are claimed and read one
    ``take`` at a time, so 100,000 waiting files cost their names only.
    """

    def __init__(
        self,
        spool: Spool,
        *,
        watch: bool = True,
        rescan_interval: float = RESCAN_INTERVAL,
        recover_interval: float = RECOVER_INTERVAL,
    ) -> None:
        self.spool = spool
        self.label = str(spool.incoming)
        self._watch = watch
        self._rescan_interval = rescan_interval
        self._recover_interval = recover_interval
        self._queued: set[str] = set()
        self._claims: dict[str, Claimed] = {}
        self._stopping = False
        # Loop-bound objects are made in ``running``: a source built in sync
        # code then runs under trio or asyncio.
        self._queue_empty: anyio.Event | None = None
        self._watch_stop: anyio.Event | None = None
        self._intake_scope: anyio.CancelScope | None = None
        self._receive: MemoryObjectReceiveStream[str] | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        with self.spool.registered() as recovery:
            _log_recovery(recovery)
            self._watch_stop = anyio.Event()
            self._intake_scope = anyio.CancelScope()
            send, self._receive = anyio.create_memory_object_stream[str](math.inf)
            async with anyio.create_task_group() as group:
                group.start_soon(self._intake, send)
                group.start_soon(self._recover_forever)
                try:
                    yield
                finally:
                    self.stop_taking()
                    self._receive.close()
                    group.cancel_scope.cancel()

    async def _recover_forever(self) -> None:
        """Take over the claims of workers that died while this one runs (their files
        go back to incoming/, where the intake finds them)."""
        while True:
            await anyio.sleep(self._recover_interval)
            try:
                recovery = await anyio.to_thread.run_sync(self.spool.recover)
            except OSError as exc:  # a full or failing disk: try again next time
                logger.error("cannot recover dead workers' claims", error=str(exc))
                continue
            _log_recovery(recovery)

    def stop_taking(self) -> None:
        self._stopping = True
        if self._intake_scope is not None:
            self._intake_scope.cancel()
        if self._watch_stop is not None:
            self._watch_stop.set()

    async def take(self) -> Delivery | None:
        assert self._receive is not None
        while True:
            try:
                name = await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return None
            self._queued.discard(name)
            if not self._queued and self._queue_empty is not None:
                self._queue_empty.set()
            if self._intake_scope is not None and self._intake_scope.cancel_called:
                return None
            claimed = self.spool.claim(name)
            if claimed is not None:
                return self._read(claimed)

    async def finish(self, delivery: Delivery, result: JobResult) -> bool:
        """File the result; a full disk or a write error is retried, never lost.

        While filing fails (the error is logged each time) the job file stays
        claimed in ``processing/``; a worker stopped meanwhile gives it back to
        ``incoming/`` (or, killed, leaves it for recovery), so it runs again.
        """
        claimed = self._claims[delivery.token]
        for attempt in range(1_000_000_000):
            try:
                self.spool.finish(claimed, result)
                break
            except OSError as exc:
                delay = min(FILING_RETRY_MAX, FILING_RETRY_FIRST * 2**attempt)
                logger.error(
                    "cannot file the result; retrying",
                    input=delivery.label,
                    error=exc.strerror or str(exc),
                    retry_in=delay,
                )
                if self._stopping:
                    logger.warning(
                        "job left in processing/ for the next start", input=delivery.label
                    )
                    return False
                await anyio.sleep(delay)
        del self._claims[delivery.token]
        return True

    async def requeue(self, delivery: Delivery) -> None:
        self.spool.requeue(self._claims.pop(delivery.token))

    def _read(self, claimed: Claimed) -> Delivery:
        self._claims[str(claimed.path)] = claimed
        label = str(self.spool.incoming / claimed.name)
        try:
            job = load_job_file(claimed.path, base_dir=self.spool.incoming)
        except JobFileError as exc:
            # The message names the file where it was dropped, not where it went.
            rejection = str(exc).replace(str(claimed.path), label)
            return Delivery(label, None, rejection, token=str(claimed.path), name=claimed.name)
        return Delivery(label, job, None, token=str(claimed.path), name=claimed.name)

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
        from watchfiles import awatch

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
            if name not in self._queued and not name.startswith(".") and not is_prompt_file(name):
                try:
                    send.send_nowait(name)
                except anyio.BrokenResourceError:
                    return  # nobody takes any more: the worker is shutting down
                self._queued.add(name)
