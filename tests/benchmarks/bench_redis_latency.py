"""Benchmark: from submit to the child running, through an idle Redis worker.

Not a test: it prints figures. Run it with

    .venv/bin/python -m tests.benchmarks.bench_redis_latency [--samples 200]

The job's CLI is ``/bin/date +%s%N``: it prints the time it ran, so a sample is
that time minus the time just before ``RedisQueue.submit`` (one machine, one
clock). Samples are 20 ms apart, so the worker (``orchestrator worker --redis``,
8 slots) is idle when each job arrives. Beside it, in the same run and
interleaved: the same job in-process (``Orchestrator.run``) and bare
``anyio.run_process``. Medians and 90th percentiles, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import anyio

from orchestrator import Job, Orchestrator, load_config
from orchestrator.redis._queue import RedisQueue

from ..redis_server import RedisServer
from .bench_redis import start_workers, write_config

DATE = "/bin/date"
NOW = "+%s%N"  # date's format: nanoseconds since the epoch
PAUSE = 0.02


def since(before_ns: int, printed: str | None) -> float:
    """Milliseconds from ``before_ns`` to the time the child printed."""
    return (int((printed or "").strip()) - before_ns) / 1e6


async def through_redis(url: str, tag: str, samples: int) -> list[float]:
    latencies = []
    async with RedisQueue.connect(url) as queue:
        for index in range(samples):
            await anyio.sleep(PAUSE)
            before = time.time_ns()
            job_id = await queue.submit(Job(id=f"{tag}-{index}", prompt=NOW))
            result = await queue.result(job_id)
            latencies.append(since(before, result.output))
    return latencies


async def in_process(config_dir: Path, samples: int) -> list[float]:
    latencies = []
    async with Orchestrator(load_config(config_dir), concurrency=8) as orch:
        for _ in range(samples):
            await anyio.sleep(PAUSE)
            before = time.time_ns()
            result = await orch.run(Job(prompt=NOW))
            latencies.append(since(before, result.output))
    return latencies


async def bare(samples: int) -> list[float]:
    latencies = []
    for _ in range(samples):
        await anyio.sleep(PAUSE)
        before = time.time_ns()
        done = await anyio.run_process([DATE, NOW])
        latencies.append(since(before, done.stdout.decode()))
    return latencies


def summary(name: str, latencies: list[float]) -> str:
    ninetieth = statistics.quantiles(latencies, n=10)[-1]
    return f"{name:>10}: p50 {statistics.median(latencies):5.2f} ms, p90 {ninetieth:5.2f} ms"


def main(samples: int, rounds: int) -> None:
    print(f"{samples} samples per round, {rounds} rounds, {PAUSE * 1000:.0f} ms apart")
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        config_dir = write_config(root, DATE)
        server = RedisServer(root / "redis", fsync="everysec")
        server.start()
        collected: dict[str, list[float]] = {"bare": [], "in-process": [], "redis": []}
        try:
            with ExitStack() as stack:
                start_workers(1, server.url, config_dir, root, stack)
                anyio.run(through_redis, server.url, "warm", 10)
                for round_ in range(rounds):
                    collected["bare"] += anyio.run(bare, samples)
                    collected["in-process"] += anyio.run(in_process, config_dir, samples)
                    collected["redis"] += anyio.run(
                        through_redis, server.url, f"r{round_}", samples
                    )
        finally:
            server.stop()
    for name, latencies in collected.items():
        print(summary(name, latencies))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    main(arguments.samples, arguments.rounds)
