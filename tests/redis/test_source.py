"""The workers' side of the Redis queue: one reader and one filer per process."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import anyio
import pytest

from orchestrator import Job, JobResult, Orchestrator, load_config
from orchestrator._worker import Worker
from orchestrator.redis import RedisKeys, RedisQueue
from orchestrator.redis._source import RedisJobSource

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from ..redis_server import RedisServer

pytestmark = pytest.mark.anyio

KEYS = RedisKeys("s")


def succeeded(job_id: str) -> JobResult:
    return JobResult(job_id=job_id, status="succeeded", output="done")


async def test_the_next_entry_rides_back_with_a_result(redis_server: RedisServer) -> None:
    """Filing a result reads the entry for the slot it frees, in the same script call:
    the slot's next take needs no read of its own."""
    source = RedisJobSource(redis_server.url, KEYS, block=0.05)
    async with RedisQueue.connect(redis_server.url, "s") as queue, source.running():
        ids = [await queue.submit(Job(prompt=f"job {n}")) for n in range(3)]
        first = await source.take()
        assert first is not None
        assert first.job is not None
        assert await source.finish(first, succeeded(first.job.id))
        assert [d.name for d in source._ready] == [ids[1]]  # read with the result
        second = await source.take()
        assert second is not None
        assert second.name == ids[1]
        with anyio.fail_after(5):
            assert (await queue.result(ids[0])).output == "done"
        source.stop_taking()


async def test_entries_are_read_only_for_free_slots(redis_server: RedisServer) -> None:
    """A worker whose slots are busy leaves new entries to a worker with free slots,
    however long its own jobs run."""
    busy = RedisJobSource(redis_server.url, KEYS, block=0.05)
    idle = RedisJobSource(redis_server.url, KEYS, block=0.05)
    async with RedisQueue.connect(redis_server.url, "s") as queue, busy.running():
        running = await queue.submit(Job(prompt="long"))
        taken = await busy.take()
        assert taken is not None
        assert taken.name == running
        later = [await queue.submit(Job(prompt=f"later {n}")) for n in range(2)]
        await anyio.sleep(0.2)  # the busy worker's reader has had every chance
        async with idle.running():
            with anyio.fail_after(5):
                names = [(await idle.take()).name for _ in later]  # type: ignore[union-attr]
            idle.stop_taking()
        assert names == later
        assert not busy._ready
        busy.stop_taking()


async def test_entries_read_for_slots_that_stopped_go_back(redis_server: RedisServer) -> None:
    """An entry that came back with a result just as the worker stopped (no slot takes
    it any more) is handed back to the stream when the source closes, not left to the
    visibility timeout."""
    leaving = RedisJobSource(redis_server.url, KEYS, visibility_timeout=600, block=0.05)
    async with RedisQueue.connect(redis_server.url, "s") as queue:
        ids = [await queue.submit(Job(prompt=f"job {n}")) for n in range(2)]
        async with leaving.running():
            first = await leaving.take()
            assert first is not None
            await leaving.finish(first, succeeded(ids[0]))
            assert len(leaving._ready) == 1  # read for a slot that now stops
        staying = RedisJobSource(redis_server.url, KEYS, block=0.05)
        async with staying.running():
            with anyio.fail_after(5):
                again = await staying.take()
            staying.stop_taking()
    assert again is not None
    assert again.job is not None
    assert again.job.id == ids[1]


async def test_results_finishing_together_go_out_in_one_call(
    redis_server: RedisServer,
) -> None:
    """Five slots finishing at once: their results (and the reads for the five slots
    they free) go to Redis in at most two script calls, not five."""
    source = RedisJobSource(redis_server.url, KEYS, block=0.05)
    async with RedisQueue.connect(redis_server.url, "s") as queue, source.running():
        ids = [await queue.submit(Job(prompt=f"job {n}")) for n in range(10)]
        taken = [await source.take() for _ in range(5)]
        calls: list[int] = []
        file = source._file

        async def counted(batch: list[Any], reads: int) -> object:
            calls.append(len(batch))
            return await file(batch, reads)

        source._file = counted  # type: ignore[method-assign]
        async with anyio.create_task_group() as group:
            for delivery in taken:
                assert delivery is not None
                group.start_soon(source.finish, delivery, succeeded(delivery.name))
        assert sum(calls) == 5
        assert len(calls) <= 2
        assert sorted(d.name for d in source._ready) == sorted(ids[5:])
        with anyio.fail_after(5):
            async with aclosing(queue.results(ids[:5])) as landing:
                assert [r.output async for r in landing] == ["done"] * 5
        source.stop_taking()


async def test_a_busy_worker_runs_every_job_once(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """Many jobs submitted at once through a worker with eight slots: every result
    arrives, each job ran once, and the submissions shared script calls."""
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    orchestrator = Orchestrator(
        load_config(directory, environ={}), concurrency=8, redis_url=redis_server.url
    )
    worker = Worker(orchestrator, RedisJobSource(redis_server.url, KEYS))
    jobs = 60
    async with RedisQueue.connect(redis_server.url, "s") as queue:
        submit_calls: list[int] = []
        submit_many = queue._submit_many

        async def counted(submissions: list[Any]) -> list[str]:
            submit_calls.append(len(submissions))
            return await submit_many(submissions)

        queue._submissions.send = counted
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            ids = [f"many-{n}" for n in range(jobs)]
            async with anyio.create_task_group() as submitting:
                for n, job_id in enumerate(ids):
                    submitting.start_soon(queue.submit, Job(id=job_id, prompt=f"p{n}"))
            with anyio.fail_after(60):
                async with aclosing(queue.results(ids)) as landing:
                    outputs = {result.job_id: result.output async for result in landing}
            worker.stop(drain_timeout=5)
    assert outputs == {f"many-{n}": f"a: p{n}" for n in range(jobs)}
    assert worker.counts.succeeded == jobs
    assert len(submit_calls) <= 3  # the first, then all that queued behind it
