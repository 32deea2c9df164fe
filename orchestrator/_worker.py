"""The long-lived worker: deliveries from a job source, through an orchestrator.

One slot per unit of concurrency takes a delivery from the source (a spool
directory or a Redis stream, see ``_worker_source``), runs its job and hands
the result back; input that cannot be a job is answered with a failed result
naming the problem. The worker never knows which source it has.

Stopping (``stop``): nothing new is taken; running jobs get until the drain
deadline to finish, then they are cancelled (their process groups are
killed) and handed back to the source for the next worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from ._events import JobFailed
from ._job import JobResult
from ._orchestrator import Orchestrator
from ._worker_source import Delivery, JobSource

logger = structlog.get_logger("orchestrator.worker")


@dataclass
class WorkerCounts:
    """What a worker did, for its closing log line and for tests."""

    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    requeued: int = 0


class Worker:
    """Feeds the deliveries of one source to one orchestrator until stopped.

    Args:
        orchestrator: not yet entered; the worker enters and leaves it.
        source: where jobs come from and results go.
    """

    def __init__(self, orchestrator: Orchestrator, source: JobSource) -> None:
        self.orchestrator = orchestrator
        self.source = source
        self.counts = WorkerCounts()
        self._running: set[anyio.CancelScope] = set()
        self._stopping = False
        self._group: TaskGroup | None = None
        self._starting: anyio.CancelScope | None = None

    @property
    def stopping(self) -> bool:
        """``stop`` has been called: nothing new is taken."""
        return self._stopping

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Work until ``stop`` has been called and the last job has ended.

        Starting may wait (for Redis to come up, say); ``stop`` during that
        wait ends it, and ``task_status`` is then reported started anyway so
        that the caller's ``start`` returns.
        """
        with anyio.CancelScope() as self._starting:
            async with self.source.running(), self.orchestrator, anyio.create_task_group() as group:
                self._starting = None  # from here on, stop() drains
                self._group = group
                async with anyio.create_task_group() as slots:
                    for _ in range(self.orchestrator.concurrency):
                        slots.start_soon(self._slot)
                    task_status.started()
                group.cancel_scope.cancel()  # a pending drain timer
                logger.info("worker stopped", **vars(self.counts))
                return
        task_status.started()
        logger.info("worker stopped before it started")

    def stop(self, drain_timeout: float) -> None:
        """Take nothing new; cancel jobs still running after ``drain_timeout`` s.

        A second call cuts the drain short: running jobs are cancelled now.
        """
        if self._stopping:
            self._cancel_running()
            return
        self._stopping = True
        if self._starting is not None:
            self._starting.cancel()
        self.source.stop_taking()
        if self._group is not None:
            self._group.start_soon(self._drain_timer, drain_timeout)

    async def _slot(self) -> None:
        while not self._stopping:
            delivery = await self.source.take()
            if delivery is None:
                return
            if self._stopping:  # it arrived as the worker stopped: for another worker
                with anyio.CancelScope(shield=True):
                    await self.source.requeue(delivery)
                return
            if delivery.job is None:
                await self._reject(delivery)
            else:
                await self._process(delivery)

    async def _process(self, delivery: Delivery) -> None:
        assert delivery.job is not None
        result: JobResult | None = None
        try:
            with anyio.CancelScope() as scope:
                self._running.add(scope)
                result = await self.orchestrator.run(delivery.job)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._requeue(delivery)
            raise
        finally:
            self._running.discard(scope)
        if result is None:  # cancelled at the drain deadline
            await self._requeue(delivery)
            return
        with anyio.CancelScope(shield=True):  # a finished job's result is never dropped
            await self.source.finish(delivery, result)
        if result.status == "succeeded":
            self.counts.succeeded += 1
        else:
            self.counts.failed += 1
        _log_finished(delivery, result)

    async def _reject(self, delivery: Delivery) -> None:
        error = delivery.rejection or f"Error: {delivery.label} is not a job"
        logger.warning("input rejected", input=delivery.label, error=error)
        result = JobResult(job_id=delivery.name, status="failed", error=error)
        await self.source.finish(delivery, result)
        self.orchestrator.bus.publish(JobFailed(job_id=delivery.name, duration=0.0, error=error))
        self.counts.rejected += 1

    async def _requeue(self, delivery: Delivery) -> None:
        await self.source.requeue(delivery)
        self.counts.requeued += 1
        logger.info("job returned to the queue", input=delivery.label)

    async def _drain_timer(self, drain_timeout: float) -> None:
        await anyio.sleep(drain_timeout)
        self._cancel_running()

    def _cancel_running(self) -> None:
        for scope in list(self._running):
            scope.cancel()


def _log_finished(delivery: Delivery, result: JobResult) -> None:
    """One line per finished job: what an operator greps for first."""
    attempts = result.attempts
    fields = {
        "job": result.job_id,
        "input": delivery.label,
        "backend": result.backend,
        "provider": result.provider,
        "attempts": len(attempts),
        "seconds": round(sum(attempt.duration for attempt in attempts), 2),
    }
    if result.status == "succeeded":
        logger.info("job succeeded", **fields)
    else:
        logger.warning("job failed", **fields, error=result.error)
