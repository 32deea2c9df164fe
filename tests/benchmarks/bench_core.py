"""Benchmark: jobs through the orchestrator vs bare ``anyio.run_process``, in one run.

Not a test: it prints figures. Run it with

    .venv/bin/python -m tests.benchmarks.bench_core [--jobs 2000] [--rounds 5] [--backend B]

It reports, for each event loop (asyncio and trio unless one is chosen), at
concurrency 1 and 32, the throughput of the same trivial CLI (``/bin/echo``)
run bare and as orchestrator jobs (median of the rounds, interleaved) and
their ratio; then the time a failover adds beyond the processes' own
lifetimes (medians of 200; on a noisy machine it can come out below zero).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from orchestrator import Job, Orchestrator, load_config

ECHO = "/bin/echo"
LIMITED = ["/bin/sh", "-c", "echo 'Error: 429 rate limit' >&2; exit 1"]


def write_config(directory: Path) -> Path:
    (directory / "llm_config.toml").write_text(
        '[backends.plain]\nbackend_type = "generic"\nproviders = ["echo"]\n'
        '[backends.failover]\nbackend_type = "generic"\nproviders = ["limited", "echo"]\n'
        'usage_markers = ["rate limit"]\n'
        '[message_backend]\ndefault = "plain"\norder = ["plain"]\n'
    )
    (directory / "provider_metadata.toml").write_text(
        f'[plain.echo]\ncommand = "{ECHO}"\n'
        f'[failover.echo]\ncommand = "{ECHO}"\n'
        f'[failover.limited]\ncommand = "{LIMITED[0]}"\nargs = {LIMITED[1:]!r}\n'
    )
    return directory


async def bare(jobs: int, concurrency: int) -> float:
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(index: int) -> None:
        async with limiter:
            await anyio.run_process([ECHO, f"job {index}"])

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index in range(jobs):
            group.start_soon(one, index)
    return jobs / (time.perf_counter() - started)


async def orchestrated(config_dir: Path, jobs: int, concurrency: int) -> float:
    config = load_config(config_dir)
    started = time.perf_counter()
    async with Orchestrator(config, concurrency=concurrency, queue_size=jobs) as orch:
        handles = [await orch.submit(Job(prompt=f"job {index}")) for index in range(jobs)]
        results = [await handle.result() for handle in handles]
    elapsed = time.perf_counter() - started
    assert all(result.status == "succeeded" for result in results)
    return jobs / elapsed


async def failover_overhead(config_dir: Path, samples: int) -> float:
    """Median extra seconds of a failover job beyond bare failing + succeeding runs."""
    config = load_config(config_dir)
    bare_times, job_times = [], []
    async with Orchestrator(config, concurrency=1) as orch:
        for _ in range(samples):
            started = time.perf_counter()
            await anyio.run_process(LIMITED, check=False)
            await anyio.run_process([ECHO, "x"])
            bare_times.append(time.perf_counter() - started)
            # A fresh rotation each time, so the limited provider is tried first.
            orch.memory_state.rotations["failover"].reset()
            started = time.perf_counter()
            result = await orch.run(Job(prompt="x", backend="failover"))
            job_times.append(time.perf_counter() - started)
            assert [a.outcome.value for a in result.attempts] == ["usage_limit", "success"]
    return statistics.median(job_times) - statistics.median(bare_times)


async def main(jobs: int, rounds: int, backend: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        config_dir = write_config(Path(directory))
        for concurrency in (1, 32):
            bare_rates, orch_rates = [], []
            for _ in range(rounds):
                bare_rates.append(await bare(jobs, concurrency))
                orch_rates.append(await orchestrated(config_dir, jobs, concurrency))
            bare_median = statistics.median(bare_rates)
            orch_median = statistics.median(orch_rates)
            print(
                f"{backend:>7} concurrency {concurrency:>2}: bare {bare_median:8.0f} jobs/s, "
                f"orchestrator {orch_median:8.0f} jobs/s, ratio {orch_median / bare_median:.2f}"
            )
        overhead = await failover_overhead(config_dir, samples=200)
        print(f"{backend:>7} failover adds {overhead * 1000:.2f} ms (median) beyond the processes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=["asyncio", "trio"], action="append")
    arguments = parser.parse_args()
    for backend in arguments.backend or ["asyncio", "trio"]:
        anyio.run(main, arguments.jobs, arguments.rounds, backend, backend=backend)
