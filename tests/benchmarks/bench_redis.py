"""Benchmark: jobs per second through Redis with 1, 2 and 4 worker processes.

Not a test: it prints figures. Run it with

    .venv/bin/python -m tests.benchmarks.bench_redis [--jobs 2000] [--rounds 3]

It starts a private ``redis-server`` (loopback, a temporary directory, append-only
file synced every second as deployed), then for each count of worker processes
(``orchestrator worker --redis``, concurrency 8 each) submits the jobs with
``RedisQueue`` and waits for every result; the clock runs from the first
submit to the last result. Beside it, in the same run, the same trivial CLI
(``/bin/echo``) run bare with ``anyio.run_process`` at the same total
concurrency. Medians of the rounds, interleaved; the ratio is
orchestrated / bare. Each job through Redis costs a stream read, a claim, the
shared rotation state (a Lua script), events on the event stream, the result
and its acknowledgement: that, not the process, is what the figure measures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, aclosing
from pathlib import Path

import anyio

from orchestrator import Job
from orchestrator._redis_queue import RedisQueue

from ..redis_server import RedisServer
from .bench_core import bare

ECHO = "/bin/echo"
SLOTS_PER_WORKER = 8


def write_config(directory: Path) -> Path:
    (directory / "llm_config.toml").write_text(
        '[backends.plain]\nbackend_type = "generic"\nproviders = ["echo"]\n'
        '[message_backend]\ndefault = "plain"\norder = ["plain"]\n'
    )
    (directory / "provider_metadata.toml").write_text(f'[plain.echo]\ncommand = "{ECHO}"\n')
    return directory


def start_workers(
    count: int, url: str, config_dir: Path, logs: Path, stack: ExitStack
) -> list[subprocess.Popen[bytes]]:
    """``count`` worker processes, returned once every one says it is ready."""
    workers = []
    for index in range(count):
        log = stack.enter_context((logs / f"worker{index}.log").open("w+b"))
        argv = [sys.executable, "-m", "orchestrator", "worker", "--redis", url]
        argv += ["--config-dir", str(config_dir), "--concurrency", str(SLOTS_PER_WORKER)]
        worker = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
        stack.callback(stop, worker)
        workers.append((worker, logs / f"worker{index}.log"))
    deadline = time.monotonic() + 60
    for worker, log_path in workers:
        while b"worker ready" not in log_path.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text()}")
            time.sleep(0.02)
    return [worker for worker, _ in workers]


def stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        worker.wait(60)


async def through_redis(url: str, tag: str, jobs: int) -> float:
    """Jobs per second; ``tag`` keeps each round's job ids (and results) apart."""
    async with RedisQueue.connect(url) as queue:
        started = time.perf_counter()
        limiter = anyio.CapacityLimiter(32)

        async def submit(index: int) -> None:
            async with limiter:
                await queue.submit(Job(id=f"{tag}-{index}", prompt=f"job {index}"))

        async with anyio.create_task_group() as group:
            for index in range(jobs):
                group.start_soon(submit, index)
        async with aclosing(queue.results(f"{tag}-{index}" for index in range(jobs))) as results:
            async for result in results:
                assert result.status == "succeeded", result.error
        return jobs / (time.perf_counter() - started)


def main(jobs: int, rounds: int, counts: list[int]) -> None:
    print(f"{os.cpu_count()} CPUs; {jobs} jobs per round, {rounds} rounds, medians")
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        config_dir = write_config(root)
        server = RedisServer(root / "redis", fsync="everysec")
        server.start()
        try:
            for count in counts:
                redis_rates, bare_rates = [], []
                with ExitStack() as stack:
                    start_workers(count, server.url, config_dir, root, stack)
                    for round_ in range(rounds):
                        tag = f"w{count}r{round_}"
                        bare_rates.append(anyio.run(bare, jobs, count * SLOTS_PER_WORKER))
                        redis_rates.append(anyio.run(through_redis, server.url, tag, jobs))
                redis_median = statistics.median(redis_rates)
                bare_median = statistics.median(bare_rates)
                print(
                    f"{count} worker process(es) x {SLOTS_PER_WORKER} slots: "
                    f"redis {redis_median:7.0f} jobs/s, bare run_process {bare_median:7.0f} "
                    f"jobs/s, ratio {redis_median / bare_median:.2f}"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, action="append", help="default: 1, 2, 4")
    arguments = parser.parse_args()
    main(arguments.jobs, arguments.rounds, arguments.workers or [1, 2, 4])
