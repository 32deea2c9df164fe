"""Benchmark: a worker started on a spool already holding 100,000 small job files.

Not a test: it prints figures. Run it with

    .venv/bin/python -m tests.benchmarks.bench_spool [--files 100000] [--seconds 10]

It starts the real ``orchestrator worker`` command (concurrency 8, a provider
that is a one-line shell script) and reports the time from launching the
command to the first job started (the provider's first run), the jobs done
in the first ``--seconds`` seconds, and the worker's peak resident memory
(VmHWM) over that time. Targets: under 2 s to the first job, under 150 MB.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..fakes.config_text import shell_agent_config

AGENT = 'date +%s.%N >> "$STARTS"; echo "done: $1"'


def write_config(directory: Path, starts: Path) -> Path:
    return shell_agent_config(directory, AGENT, STARTS=str(starts))


def fill_spool(incoming: Path, files: int) -> None:
    incoming.mkdir(parents=True)
    for index in range(files):
        (incoming / f"job{index:06d}.toml").write_text(f'prompt = "small job {index}"\n')


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(files: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        starts = directory / "starts.log"
        config = write_config(directory, starts)
        spool = directory / "spool"
        print(f"writing {files:,} job files ...", flush=True)
        fill_spool(spool / "incoming", files)
        environment = {**os.environ, "ORCHESTRATOR_STATE_FILE": str(directory / "state.json")}
        command = [sys.executable, "-m", "orchestrator", "worker", "--spool", str(spool)]
        command += ["--concurrency", "8", "--config-dir", str(config)]
        launched = time.time()
        worker = subprocess.Popen(command, env=environment, stderr=subprocess.DEVNULL)
        try:
            while not starts.exists() or not starts.read_text().strip():
                if time.time() - launched > 60:
                    raise SystemExit("no job started within 60 s")
                time.sleep(0.005)
            first = float(starts.read_text().split()[0])
            time.sleep(max(0.0, launched + seconds - time.time()))
            peak = peak_rss_mb(worker.pid)
            done = len(list((spool / "done").glob("*.result.json")))
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        print(f"files waiting at start: {files:,}")
        print(f"launch to first job started: {first - launched:.2f} s (target < 2 s)")
        print(f"jobs done in the first {seconds:.0f} s: {done:,}")
        print(f"worker peak resident memory: {peak:.0f} MB (target < 150 MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    main(arguments.files, arguments.seconds)
