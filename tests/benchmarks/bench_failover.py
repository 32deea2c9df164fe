"""Benchmark: how fast each real CLI's limit is seen and the job moves to the next provider.

Not a test: it prints figures. Run it with

    .venv/bin/python -m tests.benchmarks.bench_failover [--runs 5] [--no-sentinel]

For each CLI (the pinned versions in tests/e2e/), a job on examples/mock-apis
whose first provider's mock answers HTTP 429 without Retry-After, with the
config as the spec writes it (no ``sentinel`` key, no timeouts). Measured per
run: from the limited mock receiving its first model request to the
``attempt_started`` event of the second provider (the next CLI's launch), and
the whole job. Medians of the runs. ``--no-sentinel`` adds ``sentinel = false`` to
every provider: each CLI's own signal then (qwen: its debug log).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import structlog

from orchestrator import AttemptStarted, Job, Orchestrator, load_config

from ..e2e.conftest import CLI_BIN, CLIS, CONFIG_DIR, PROTOCOL, cli_environment
from ..e2e.mock_api import MockApi


def without_sentinel(directory: Path) -> Path:
    """A copy of examples/mock-apis with ``sentinel = false`` in every provider table."""
    shutil.copytree(CONFIG_DIR, directory)
    metadata = directory / "provider_metadata.toml"
    text = re.sub(
        r"^(\[[a-z]+\.[a-z]+\]\n)", r"\1sentinel = false\n", metadata.read_text(), flags=re.M
    )
    metadata.write_text(text)
    return directory


async def one_run(backend: str, home: Path, config_dir: Path) -> tuple[float, float]:
    """(first 429 -> next provider's launch, whole job) in seconds."""
    with (
        MockApi(PROTOCOL[backend], "rate-limit-bare") as limited,
        MockApi(PROTOCOL[backend], "answer", "PONG") as answering,
    ):
        urls = {
            f"MOCK_{backend.upper()}_LIMITED": limited.origin,
            f"MOCK_{backend.upper()}_ANSWERING": answering.origin,
        }
        environment = cli_environment(home, urls)
        config = load_config(config_dir, environ=environment)
        async with (
            Orchestrator(config, base_environment=environment, concurrency=1) as orch,
            orch.events() as events,
        ):
            started = time.monotonic()
            with anyio.fail_after(120):
                result = await orch.run(Job(prompt="say ping", backend=backend))
            whole = time.monotonic() - started
            seen = events.waiting(10_000)
    if result.status != "succeeded" or result.provider != "answering":
        raise SystemExit(f"{backend}: the job did not fail over: {result.error}")
    second = next(
        e for e in seen if isinstance(e, AttemptStarted) and e.provider == "answering"
    ).timestamp
    first_429 = limited.first_model_request_at
    assert first_429 is not None
    return second - first_429, whole


async def main(runs: int, sentinel: bool) -> None:
    if not all((CLI_BIN / name).exists() for name in CLIS):
        raise SystemExit("install the CLIs first: npm ci --prefix tests/e2e")
    print(f"{'CLI':8} {'429 -> next launch (median)':>28} {'whole job (median)':>20}  runs")
    for backend in CLIS:
        detections, wholes = [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as scratch:
                config_dir = CONFIG_DIR if sentinel else without_sentinel(Path(scratch) / "c")
                detection, whole = await one_run(backend, Path(scratch) / "home", config_dir)
            detections.append(detection)
            wholes.append(whole)
        print(
            f"{backend:8} {statistics.median(detections):>26.2f} s "
            f"{statistics.median(wholes):>18.2f} s  {runs}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-sentinel", dest="sentinel", action="store_false")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    arguments = parser.parse_args()
    anyio.run(main, arguments.runs, arguments.sentinel, backend="trio")
