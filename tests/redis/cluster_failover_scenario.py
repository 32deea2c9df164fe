"""The failover scenario of ``test_cluster.py``, run by it as a pytest session of
its own (not collected with the suite: see that test's docstring)."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import anyio
import pytest

from orchestrator import Job, JobResult
from orchestrator.redis import RedisQueue

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from ..redis_cluster import RedisClusterNodes
from ..redis_server import RedisServer
from .test_cluster import PREFIX, a_key, another_node, worker_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def wait_for_file(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


async def failover_during_a_job(
    cluster: RedisClusterNodes, directory: Path, prefix: str, runs: Path
) -> tuple[JobResult, int, RedisServer]:
    """Kill the master holding ``prefix``'s keys while a job runs; the job's result, the
    worker's count of successes, and the killed node. Its own frame: the clients it
    made are garbage once it returns."""
    url = another_node(cluster, prefix)
    worker = worker_for(directory, url, prefix)
    async with RedisQueue.connect(url, prefix) as queue, anyio.create_task_group() as group:
        await group.start(worker.run)
        job_id = await queue.submit(Job(prompt="survive a failover"))
        with anyio.fail_after(20):
            await anyio.to_thread.run_sync(wait_for_file, runs)  # the CLI has started
        holder = cluster.master_of(a_key(prefix))
        holder.kill()
        await anyio.to_thread.run_sync(cluster.wait_for_new_master, a_key(prefix), holder)
        with anyio.fail_after(60):
            result = await queue.result(job_id)
        worker.stop(drain_timeout=5)
    return result, worker.counts.succeeded, holder


async def test_a_result_lands_while_the_master_fails_over(
    redis_cluster: RedisClusterNodes, write_config: WriteConfig, tmp_path: Path, anyio_backend: str
) -> None:
    """The master holding the keys is SIGKILLed while the job runs: its replica takes
    over, the worker's result goes there, the submitter gets it, the job ran once.
    (The killed node then rejoins, as a replica, for the next test.)"""
    runs = tmp_path / "runs.log"
    directory = write_config(
        backend("agent", ["slow"]),
        provider("agent", "slow", FAKE_SLEEP="3", FAKE_RUN_LOG=str(runs)),
    )
    prefix = f"{PREFIX}-failover-{anyio_backend}"
    result, succeeded, holder = await failover_during_a_job(redis_cluster, directory, prefix, runs)
    gc.collect()
    await anyio.to_thread.run_sync(redis_cluster.rejoin, holder)
    assert result.status == "succeeded", result.error
    assert runs.read_text().splitlines() == ["survive a failover"]
    assert succeeded == 1
