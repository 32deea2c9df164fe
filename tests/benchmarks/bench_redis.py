"""Benchmark: jobs per second through Redis with 1, 2 and 4 worker processes.

Not a test: it prints figures. Run it with

    .venv/bin/python -m tests.benchmarks.bench_redis [--jobs 2000] [--rounds 3]

It starts a private ``redis-server`` (loopback, a temporary directory, append-only
file synced every second as deployed), then for each count of worker processes
(``orchestrator worker --redis``, concurrency 8 each) submits the jobs with
``RedisQueue`` and waits for every result; the clock runs from the first
submit to the last result. Beside it, in the same run, the same trivial CLI
(``/bin/echo``) run bare with ``anyio.run_process`` at the same total
concurrency. Medians of the rounds, interleaved; the ratio is orchestrated / bare.
While one contender runs, every other one's worker processes are stopped
(SIGSTOP), so that none pays for another's idle polling. What a job through Redis
costs beyond the process (its read, its result, its share of the events and of
the shared rotation state) is what the figure measures.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, aclosing, contextmanager
from pathlib import Path

import anyio

from orchestrator import Job
from orchestrator.redis._queue import RedisQueue

from ..redis_server import RedisServer
from . import rivals
from .bench_core import bare

ECHO = "/bin/echo"
SLOTS_PER_WORKER = 8


def write_config(directory: Path, command: str = ECHO) -> Path:
    """One generic backend, ``plain``, whose one provider runs ``command`` (prompt as
    its argument); the provider is named after the command."""
    name = Path(command).name
    (directory / "llm_config.toml").write_text(
        f'[backends.plain]\nbackend_type = "generic"\nproviders = ["{name}"]\n'
        '[message_backend]\ndefault = "plain"\norder = ["plain"]\n'
    )
    (directory / "provider_metadata.toml").write_text(f'[plain.{name}]\ncommand = "{command}"\n')
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


def start_rivals(
    count: int, url: str, logs: Path, stack: ExitStack
) -> dict[str, tuple[Callable[[str, int], Awaitable[float]], list[subprocess.Popen[bytes]]]]:
    """``count`` arq and ``count`` streaQ worker processes, when both are installed;
    per rival the function that measures it (ready once a first small round has run)
    and its worker processes."""
    try:
        import arq  # noqa: F401
        import streaq  # noqa: F401
    except ImportError:
        print("arq or streaQ not installed: pip install -e '.[test]' to compare them")
        return {}
    measures: dict[str, Callable[[str, int], Awaitable[float]]] = {
        "arq": rivals.through_arq,
        "streaq": rivals.through_streaq,
    }
    started = {}
    for kind, measure in measures.items():
        processes = []
        for index in range(count):
            log = stack.enter_context((logs / f"{kind}{index}.log").open("w+b"))
            argv = [sys.executable, "-m", "tests.benchmarks.rivals", kind, url]
            rival = subprocess.Popen(argv, stdout=log, stderr=log)
            stack.callback(stop, rival)
            processes.append(rival)
        anyio.run(measure, url, 2 * SLOTS_PER_WORKER)  # waits for the workers to be up
        started[kind] = (measure, processes)
    return started


@contextmanager
def alone(
    running: list[subprocess.Popen[bytes]], every: list[subprocess.Popen[bytes]]
) -> Iterator[None]:
    """Every worker process but ``running`` stopped (SIGSTOP) meanwhile: an idle
    worker polling Redis (arq every 5 ms) would take CPU from the one measured."""
    paused = [process for process in every if process not in running]
    for process in paused:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in paused:
            process.send_signal(signal.SIGCONT)


def main(jobs: int, rounds: int, counts: list[int]) -> None:
    print(f"{os.cpu_count()} CPUs; {jobs} jobs per round, {rounds} rounds, medians")
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        config_dir = write_config(root)
        server = RedisServer(root / "redis", fsync="everysec")
        server.start()
        try:
            for count in counts:
                rates: dict[str, list[float]] = collections.defaultdict(list)
                with ExitStack() as stack:
                    ours = start_workers(count, server.url, config_dir, root, stack)
                    others = start_rivals(count, server.url, root, stack)
                    every = ours + [p for _, processes in others.values() for p in processes]
                    for round_ in range(rounds):
                        tag = f"w{count}r{round_}"
                        with alone([], every):
                            rates["bare"].append(anyio.run(bare, jobs, count * SLOTS_PER_WORKER))
                        with alone(ours, every):
                            rates["ours"].append(anyio.run(through_redis, server.url, tag, jobs))
                        for name, (measure, processes) in others.items():
                            with alone(processes, every):
                                rates[name].append(anyio.run(measure, server.url, jobs))
                medians = {name: statistics.median(values) for name, values in rates.items()}
                line = f"{count} worker process(es) x {SLOTS_PER_WORKER} slots:"
                for name, rate in medians.items():
                    line += f" {name} {rate:.0f}/s ({rate / medians['bare']:.2f} of bare),"
                for name in others:
                    line += f" ours/{name} {medians['ours'] / medians[name]:.2f},"
                print(line.rstrip(","))
                rounds_line = "; ".join(
                    f"{name} " + " ".join(f"{rate:.0f}" for rate in values)
                    for name, values in rates.items()
                )
                print(f"  rounds: {rounds_line}")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, action="append", help="default: 1, 2, 4")
    arguments = parser.parse_args()
    main(arguments.jobs, arguments.rounds, arguments.workers or [1, 2, 4])
