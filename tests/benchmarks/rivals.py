"""arq and streaQ doing the Redis benchmark's job, for ``bench_redis`` to run beside ours.

Each runs the same trivial CLI (``/bin/echo``) with ``anyio.run_process``, 8 at a time
per worker process, on the same redis-server. Their own defaults are kept except
where a default would measure a pause rather than the queue: arq polls its queue
every 0.5 s by default, and is given 5 ms here (its best case).

A worker process: ``python -m tests.benchmarks.rivals {arq|streaq} REDIS_URL``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import anyio

ECHO = "/bin/echo"
SLOTS_PER_WORKER = 8
ARQ_POLL_DELAY = 0.005
QUEUE = "bench"


async def arq_echo(ctx: dict[str, Any], index: int) -> bytes:
    """The job, as an arq function."""
    return (await anyio.run_process([ECHO, f"job {index}"])).stdout


def run_arq_worker(url: str) -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker

    Worker(
        functions=[arq_echo],
        redis_settings=RedisSettings.from_dsn(url),
        queue_name=QUEUE,
        max_jobs=SLOTS_PER_WORKER,
        poll_delay=ARQ_POLL_DELAY,
        keep_result=600,
    ).run()


async def through_arq(url: str, jobs: int) -> float:
    """Jobs per second through arq, from the first enqueue to the last result."""
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=QUEUE)
    try:
        started = time.perf_counter()
        limiter = anyio.CapacityLimiter(32)
        queued: list[Any] = [None] * jobs

        async def enqueue(index: int) -> None:
            async with limiter:
                queued[index] = await pool.enqueue_job("arq_echo", index)

        async with anyio.create_task_group() as group:
            for index in range(jobs):
                group.start_soon(enqueue, index)
        for job in queued:  # in enqueue order: most are done when asked
            await job.result(timeout=300, poll_delay=ARQ_POLL_DELAY)
        return jobs / (time.perf_counter() - started)
    finally:
        await pool.aclose()


def streaq_app(url: str) -> tuple[Any, Any]:
    """The streaQ worker object and its task, built the same in both processes."""
    from streaq import Worker

    worker = Worker(redis_url=url, concurrency=SLOTS_PER_WORKER, queue_name=QUEUE)

    @worker.task
    async def echo(index: int) -> bytes:
        return (await anyio.run_process([ECHO, f"job {index}"])).stdout

    return worker, echo


def run_streaq_worker(url: str) -> None:
    worker, _ = streaq_app(url)
    worker.run_sync()


async def through_streaq(url: str, jobs: int) -> float:
    """Jobs per second through streaQ, from the first enqueue to the last result."""
    from streaq.task import TaskStatus

    worker, echo = streaq_app(url)
    async with worker:
        started = time.perf_counter()
        tasks = [echo.enqueue(index) for index in range(jobs)]
        await worker.enqueue_many(tasks)
        # In enqueue order: most are done when asked. A wait for a result subscribes to
        # the task's channel, which costs streaQ about 0.1 s, and many at a time run out
        # of connections: a task found done is not waited for.
        for task in tasks:
            if await task.status() != TaskStatus.DONE:
                result = await task.result(timeout=300)
                assert result.success, result
        return jobs / (time.perf_counter() - started)


if __name__ == "__main__":
    kind, redis_url = sys.argv[1], sys.argv[2]
    {"arq": run_arq_worker, "streaq": run_streaq_worker}[kind](redis_url)
