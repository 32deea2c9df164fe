"""The Redis job stream seen by the dashboard: queued, running and dead entries, and
retries of failed (text kept by the worker's finish) and dead-lettered jobs."""

from __future__ import annotations

import anyio
import pytest

from orchestrator import Job, Orchestrator, load_config
from orchestrator._worker import Worker
from orchestrator.dashboard._queue_view import RetryError
from orchestrator.dashboard._redis_jobs import redis_queue_view, retry_on_redis
from orchestrator.redis import RedisKeys, RedisQueue
from orchestrator.redis._connection import connected
from orchestrator.redis._source import RedisJobSource

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from ..redis_server import RedisServer

pytestmark = pytest.mark.anyio

KEYS = RedisKeys("d")


async def test_a_failed_job_keeps_its_text_and_is_retried_under_a_new_id(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """A real worker's finish keeps a failed job's text (not a succeeded one's); the
    retry queues it again under a new id and drops the kept text."""
    directory = write_config(
        backend("good", ["a"]) + backend("bad", ["b"]),
        provider("good", "a") + provider("bad", "b", "reject"),  # rejected: no fallback
    )
    orchestrator = Orchestrator(load_config(directory, environ={}), redis_url=redis_server.url)
    worker = Worker(orchestrator, RedisJobSource(redis_server.url, KEYS))
    async with connected(redis_server.url) as client:
        queue = RedisQueue(client, KEYS)
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            ok = await queue.submit(Job(id="ok-1", prompt="p", backend="good"))
            bad = await queue.submit(Job(id="bad-1", prompt="p", backend="bad"))
            with anyio.fail_after(20):
                results = [await queue.result(job_id) for job_id in (ok, bad)]
            worker.stop(drain_timeout=5)
        assert [r.status for r in results] == ["succeeded", "failed"]
        view = await redis_queue_view(client, KEYS, ["ok-1", "bad-1"])
        assert view.retryable == {"bad-1"}
        new_id = await retry_on_redis(client, KEYS, "bad-1")
        assert new_id.startswith("bad-1-")
        after = await redis_queue_view(client, KEYS, ["bad-1"])
        with pytest.raises(RetryError, match="neither dead-lettered nor"):
            await retry_on_redis(client, KEYS, "ok-1")
    assert [queued.name for queued in after.queued] == [new_id]
    assert after.retryable == set()


async def test_running_and_dead_lettered_entries(redis_server: RedisServer) -> None:
    """A delivered entry is running; a dead letter is listed, and its retry removes it."""
    async with connected(redis_server.url) as client:
        queue = RedisQueue(client, KEYS)
        await queue.submit(Job(id="taken", prompt="p"))
        await queue.submit(Job(id="waiting", prompt="p"))
        taker = RedisJobSource(redis_server.url, KEYS)
        async with taker.running():
            delivery = await taker.take()
            assert delivery is not None
            await client.xadd(KEYS.dead, {"job": Job(id="dead-1", prompt="p").model_dump_json()})
            view = await redis_queue_view(client, KEYS, [])
            assert (view.running, [q.name for q in view.queued]) == (["taken"], ["waiting"])
            assert view.dead == view.retryable == {"dead-1"}
            assert (await retry_on_redis(client, KEYS, "dead-1")).startswith("dead-1")
            assert await client.xlen(KEYS.dead) == 0


async def test_no_stream_yet_is_an_empty_view(redis_server: RedisServer) -> None:
    """Before any worker or submitter: nothing queued, nothing running, no error."""
    async with connected(redis_server.url) as client:
        view = await redis_queue_view(client, KEYS, ["x"])
    assert (view.queued, view.running, view.retryable, view.queued_total) == ([], [], set(), 0)
