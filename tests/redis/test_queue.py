"""The job queue on Redis Streams: submit, work, results, takeover, dead letters."""

from __future__ import annotations

from pathlib import Path
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

KEYS = RedisKeys("q")


def make_worker(directory: Path, url: str, **options: float) -> Worker:
    orchestrator = Orchestrator(load_config(directory, environ={}), concurrency=4, redis_url=url)
    return Worker(orchestrator, RedisJobSource(url, KEYS, **options))  # type: ignore[arg-type]


async def test_submitted_jobs_are_worked_and_awaited(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    async with RedisQueue.connect(redis_server.url, "q") as queue:
        early = await queue.submit(Job(prompt="before any worker"))
        worker = make_worker(directory, redis_server.url)
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            late = await queue.submit(Job(id="late-1", prompt="later"), idempotency_key="k1")
            again = await queue.submit(Job(prompt="repeat"), idempotency_key="k1")
            with anyio.fail_after(20):
                results = [await queue.result(job_id) for job_id in (early, late)]
            worker.stop(drain_timeout=5)
    assert again == "late-1"  # the idempotency key returned the first job's id
    assert [r.output for r in results] == ["a: before any worker", "a: later"]
    assert worker.counts.succeeded == 2


async def test_an_entry_that_is_not_a_job_gets_a_failed_result(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    async with RedisQueue.connect(redis_server.url, "q") as queue:
        await queue._client.xadd(KEYS.jobs, {"job": '{"prompt": "x", "timeout": -1}'})
        worker = make_worker(directory, redis_server.url)
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            with anyio.fail_after(20):
                while worker.counts.rejected == 0:  # noqa: ASYNC110 - polling a counter
                    await anyio.sleep(0.01)
            worker.stop(drain_timeout=5)
        assert await queue._client.xlen(KEYS.jobs) == 0


async def test_a_silent_workers_job_is_taken_over_then_dead_lettered(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """Deliveries past max_deliveries end in the dead-letter stream with a failed result."""
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    async with RedisQueue.connect(redis_server.url, "q") as queue:
        job_id = await queue.submit(Job(prompt="poison"))
        # Two workers take it and go silent (no claim renewal, no result).
        for _ in range(2):
            abandoned = RedisJobSource(
                redis_server.url, KEYS, visibility_timeout=0.2, max_deliveries=2
            )
            async with abandoned.running():
                delivery = await abandoned.take()
                assert delivery is not None
                assert delivery.job is not None
                assert delivery.job.id == job_id
            await anyio.sleep(0.3)
        worker = make_worker(directory, redis_server.url, visibility_timeout=0.2, max_deliveries=2)
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            with anyio.fail_after(20):
                result = await queue.result(job_id)
            worker.stop(drain_timeout=5)
        dead = await queue.dead_letters()
    assert result.status == "failed"
    assert "delivered 3 times" in (result.error or "")
    assert [(letter.job_id, letter.deliveries) for letter in dead] == [(job_id, 3)]
    assert dead[0].error == result.error
    assert Job.model_validate_json(dead[0].job).prompt == "poison"
    assert worker.counts.succeeded == 0


async def test_a_drained_job_goes_back_to_the_stream(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    directory = write_config(backend("agent", ["s"]), provider("agent", "s", "hang"))
    async with RedisQueue.connect(redis_server.url, "q") as queue:
        job_id = await queue.submit(Job(prompt="hangs"))
        worker = make_worker(directory, redis_server.url)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                await group.start(worker.run)
                while not worker._running:  # noqa: ASYNC110 - until the job runs
                    await anyio.sleep(0.01)
                worker.stop(drain_timeout=0.2)
        entries = await queue._client.xrange(KEYS.jobs)
        pending = await queue._client.xpending(KEYS.jobs, "workers")
    assert worker.counts.requeued == 1
    assert [Job.model_validate_json(e.field_values["job"]).id for e in entries] == [job_id]
    assert pending.pending == 0  # type: ignore[union-attr]


async def test_concurrent_submits_with_one_idempotency_key_queue_one_job(
    redis_server: RedisServer,
) -> None:
    ids: list[str] = []
    async with RedisQueue.connect(redis_server.url, "q") as queue:

        async def submit(number: int) -> None:
            ids.append(await queue.submit(Job(id=f"try-{number}", prompt="x"), idempotency_key="k"))

        async with anyio.create_task_group() as group:
            for number in range(20):
                group.start_soon(submit, number)
        length = await queue._client.xlen(KEYS.jobs)
    assert length == 1
    assert len(set(ids)) == 1
    assert ids[0].startswith("try-")


async def test_a_delivery_cut_off_with_the_connection_runs_at_once(
    redis_server: RedisServer,
) -> None:
    """Redis delivered an entry to this worker but the reply was lost (the read failed):
    the worker finds it among its own pending entries, not after the visibility timeout."""
    source = RedisJobSource(redis_server.url, KEYS, visibility_timeout=60)
    async with RedisQueue.connect(redis_server.url, "q") as queue, source.running():
        job_id = await queue.submit(Job(prompt="lost in transit"))
        # What the failed read did on the server: delivered to this consumer.
        await queue._client.xreadgroup(
            "workers", source.consumer, streams={KEYS.jobs: ">"}, count=1
        )
        source._check_own_pending = True  # what take() sets when a read fails
        with anyio.fail_after(5):
            delivery = await source.take()
        assert delivery is not None
        assert delivery.job is not None
        assert delivery.job.id == job_id
        assert source._check_own_pending  # one found; checked again next time
        source.stop_taking()


async def test_a_worker_rides_out_redis_losing_all_its_data(
    write_config: WriteConfig, redis_server: RedisServer, tmp_path: Path
) -> None:
    """FLUSHALL (as a restart without persistence would) under a busy worker: coredis'
    real StreamConsumerGroupError, the group is made again, later jobs run, and the job
    that was running still files its result."""
    run_log = tmp_path / "runs.log"
    directory = write_config(
        backend("agent", ["a"]),
        provider("agent", "a", FAKE_SLEEP="1.5", FAKE_RUN_LOG=str(run_log)),
    )
    async with RedisQueue.connect(redis_server.url, "q") as queue:
        worker = make_worker(directory, redis_server.url)
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            first = await queue.submit(Job(prompt="before"))
            with anyio.fail_after(20):
                while not run_log.exists():  # noqa: ASYNC110 - polling the file system
                    await anyio.sleep(0.01)
            await queue._client.flushall()  # the running job's entry and the group are gone
            with anyio.fail_after(30):
                after = await queue.submit(Job(prompt="after the loss"))
                result = await queue.result(after)
                earlier = await queue.result(first)  # filed although its entry is gone
            worker.stop(drain_timeout=5)
    assert result.output == "a: after the loss"
    assert earlier.output == "a: before"


async def test_re_reading_own_pending_entries_is_no_delivery(redis_server: RedisServer) -> None:
    """After a cut-off read, looking for lost deliveries leaves the delivery count of the
    jobs already running at 1: a later takeover must not dead-letter them early."""
    source = RedisJobSource(redis_server.url, KEYS, visibility_timeout=60, block=0.05)
    async with RedisQueue.connect(redis_server.url, "q") as queue, source.running():
        await queue.submit(Job(prompt="running"))
        running = await source.take()
        assert running is not None
        for _ in range(8):  # eight idle slots, each after a reconnect
            source._check_own_pending = True
            with anyio.move_on_after(0.2):
                await source.take()
        pending: Any = await queue._client.xpending(KEYS.jobs, "workers", "-", "+", 10)
        source.stop_taking()
    assert [(str(p.identifier), p.delivered) for p in pending] == [(running.token, 1)]


async def test_a_dead_workers_entries_are_all_taken_over_before_new_reads(
    redis_server: RedisServer,
) -> None:
    """Once the visibility timeout has passed, every take reclaims another of the silent
    worker's entries (not one per third of the timeout); new entries come after."""
    silent = RedisJobSource(redis_server.url, KEYS, visibility_timeout=0.2, block=0.05)
    taker = RedisJobSource(redis_server.url, KEYS, visibility_timeout=0.2, block=0.05)
    async with RedisQueue.connect(redis_server.url, "q") as queue:
        abandoned = [await queue.submit(Job(prompt=f"old {n}")) for n in range(6)]
        async with silent.running():
            for _ in abandoned:
                assert await silent.take() is not None
        fresh = await queue.submit(Job(prompt="new"))
        await anyio.sleep(0.3)
        async with taker.running():
            with anyio.fail_after(10):
                taken = [await taker.take() for _ in range(7)]
            taker.stop_taking()
    ids = [delivery.job.id for delivery in taken if delivery is not None and delivery.job]
    assert ids == [*abandoned, fresh]


async def test_a_slow_read_and_a_cut_off_check_never_run_one_entry_twice(
    redis_server: RedisServer,
) -> None:
    """One slot's read returns an entry late (Redis restarting) after another slot found it
    among the worker's pending entries, or after it was even finished: it is let be."""
    from orchestrator import JobResult

    source = RedisJobSource(redis_server.url, KEYS, visibility_timeout=60, block=0.05)
    async with RedisQueue.connect(redis_server.url, "q") as queue, source.running():
        await queue.submit(Job(prompt="once"))
        # The server delivered the entry to this consumer; the reply is still on its way.
        reply = await queue._client.xreadgroup(
            "workers", source.consumer, streams={KEYS.jobs: ">"}, count=1
        )
        late = reply[KEYS.jobs][0]  # type: ignore[index]
        source._check_own_pending = True  # another slot's read failed meanwhile
        found = await source.take()
        assert found is not None
        assert found.token == str(late.identifier)
        assert source._known(found.token)
        await source.finish(found, JobResult(job_id="once", status="succeeded"))
        assert source._known(found.token)  # finished here: a late reply is still let be
        source._check_own_pending = True
        with anyio.move_on_after(0.3):
            again = await source.take()
            raise AssertionError(f"delivered twice: {again}")
        source.stop_taking()


async def test_a_job_id_used_before_gets_its_own_result_never_the_old_one(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """`run --redis same.toml`, edit the prompt, run it again: the second run gets its own
    answer (under a suffixed id), not the first one's stored result."""
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    worker = make_worker(directory, redis_server.url)
    async with RedisQueue.connect(redis_server.url, "q") as queue, anyio.create_task_group() as g:
        await g.start(worker.run)
        first_id = await queue.submit(Job(id="same", prompt="first"))
        with anyio.fail_after(20):
            first = await queue.result(first_id)
        second_id = await queue.submit(Job(id="same", prompt="second"))
        together = [await queue.submit(Job(id="twin", prompt=p)) for p in ("x", "y")]
        with anyio.fail_after(20):
            second = await queue.result(second_id)
            twins = [await queue.result(job_id) for job_id in together]
        worker.stop(drain_timeout=5)
    assert (first_id, first.output) == ("same", "a: first")
    assert second_id.startswith("same-")
    assert (second.job_id, second.output) == (second_id, "a: second")
    assert together[0] == "twin"
    assert together[1] != "twin"
    assert [t.output for t in twins] == ["a: x", "a: y"]


async def test_a_second_wait_for_results_does_not_queue_behind_the_first(
    redis_server: RedisServer,
) -> None:
    """The queue's wait lane carries one blocking wait; a second one at the same time
    goes through the client, so its result is seen as soon as it lands."""
    async with RedisQueue.connect(redis_server.url, "q") as queue:
        slow, quick = await queue.submit(Job(prompt="slow")), await queue.submit(Job(prompt="q"))
        landed: list[str] = []
        first_landed = anyio.Event()

        async def wait_for(job_id: str) -> None:
            landed.append((await queue.result(job_id)).job_id)
            first_landed.set()

        async with anyio.create_task_group() as group:
            group.start_soon(wait_for, slow)
            await anyio.sleep(0.2)  # its blocking wait holds the lane
            group.start_soon(wait_for, quick)
            await anyio.sleep(0.2)
            await store_result(queue, quick)
            with anyio.fail_after(2):  # well within the 5 s block of the first wait
                await first_landed.wait()
            assert landed == [quick]
            await store_result(queue, slow)
    assert landed == [quick, slow]


async def store_result(queue: RedisQueue, job_id: str) -> None:
    """What a worker does with a result: store it, then push to its done list."""
    result = JobResult(job_id=job_id, status="succeeded")
    client = queue._client
    await client.set(queue.keys.result(job_id), result.model_dump_json())
    await client.rpush(queue.keys.done(job_id), ["1"])
