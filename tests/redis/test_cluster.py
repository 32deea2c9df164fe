"""A real 3-master Redis Cluster (each master with a replica): the queue, shared
cooldowns, events and the dashboard's view work on it from the URL of any node, and a
job's result lands while the master holding the orchestrator's keys fails over."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from orchestrator import Job, Orchestrator, load_config
from orchestrator._worker import Worker
from orchestrator.dashboard import RedisSource
from orchestrator.redis import RedisKeys, RedisQueue
from orchestrator.redis._connection import connected
from orchestrator.redis._events import read_events
from orchestrator.redis._lane import open_lane
from orchestrator.redis._source import RedisJobSource

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from ..redis_cluster import RedisClusterNodes

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

PREFIX = "cl"


def a_key(prefix: str) -> str:
    """A key of ``prefix``: every other one hashes as it does (they share its tag)."""
    return f"{{{prefix}}}:jobs"


def another_node(cluster: RedisClusterNodes, prefix: str) -> str:
    """The URL of a node that does not hold the keys: every command is redirected."""
    holder = cluster.master_of(a_key(prefix))
    return next(node.url for node in cluster.nodes if node is not holder)


def worker_for(directory: Path, url: str, prefix: str) -> Worker:
    orchestrator = Orchestrator(
        load_config(directory, environ={}), redis_url=url, redis_prefix=prefix
    )
    return Worker(orchestrator, RedisJobSource(url, RedisKeys(prefix)))


async def test_queue_cooldowns_events_and_status_on_a_cluster(
    redis_cluster: RedisClusterNodes, write_config: WriteConfig, anyio_backend: str
) -> None:
    """Jobs submitted through one node are worked and awaited; a limit seen on one job is
    skipped by the next; the events and the dashboard's status come from the cluster."""
    prefix = f"{PREFIX}-{anyio_backend}"
    directory = write_config(
        backend("agent", ["a", "b"]),
        provider("agent", "a", "limit", FAKE_RETRY_AFTER="600") + provider("agent", "b"),
    )
    url = another_node(redis_cluster, prefix)
    worker = worker_for(directory, url, prefix)
    async with RedisQueue.connect(url, prefix) as queue:
        assert queue.keys.prefix == f"{{{prefix}}}"  # one hash tag: one slot per script
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            first = await queue.submit(Job(prompt="one"))
            with anyio.fail_after(30):
                one = await queue.result(first)
            again = await queue.submit(Job(prompt="two"), idempotency_key="k")
            same = await queue.submit(Job(prompt="two again"), idempotency_key="k")
            with anyio.fail_after(30):
                two = await queue.result(again)
            worker.stop(drain_timeout=5)
    async with connected(url) as client:
        kinds = [text async for text in read_events(client, prefix, last=None, follow=False)]
        async with open_lane(client) as lane:
            assert lane is None  # a cluster's calls follow its redirects, through coredis
    source = RedisSource(load_config(directory, environ={}), url, prefix)
    async with source.opened():
        status = await source.status()
    assert same == again
    assert [a.provider for a in one.attempts] == ["a", "b"]
    assert [a.provider for a in two.attempts] == ["b"]  # a's cooldown reached the next job
    assert any('"provider_cooled_down"' in text for text in kinds)
    cooling = {p.name for p in status.backends[0].providers if p.cooldown_until is not None}
    assert cooling == {"a"}


#: The failover scenario, run as a pytest session of its own (see the test below).
SCENARIO = Path(__file__).with_name("cluster_failover_scenario.py")


def test_a_result_lands_while_the_master_fails_over() -> None:
    """The master holding the keys is SIGKILLed while a job runs; its replica takes over
    and the result lands there (on trio and asyncio: ``cluster_failover_scenario.py``).

    Run in a pytest process of its own: after a failover coredis 6 leaves the memory
    streams of its connections to the dead master unclosed, and they are collected
    only at interpreter exit, where this session would count them as errors.
    """
    quiet = ["-q", "--no-cov", "-p", "no:cacheprovider"]
    leaks_allowed = ["-W", "ignore::pytest.PytestUnraisableExceptionWarning"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *quiet, *leaks_allowed, str(SCENARIO)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=SCENARIO.parents[2],
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
