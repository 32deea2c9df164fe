"""Soak: several Redis workers, one SIGKILLed and restarted every few seconds, Redis
restarted once: every job ends in exactly one result, and every job run twice was in
flight on a worker that died.

Not a test: it prints figures and exits 1 when a promise was broken. Run it with

    .venv/bin/python -m tests.soak.soak_redis [--jobs 10000] [--workers 4] [--every 3]

A real ``redis-server`` (append-only, fsync always) on a free loopback port; ``--workers``
real ``orchestrator worker --redis`` processes (concurrency 8, visibility timeout 5 s);
``--jobs`` jobs submitted through ``RedisQueue`` on a shell agent that appends
``<job> <its worker's pid>`` to a ledger and answers. Every ``--every`` seconds a random
worker is SIGKILLed and another started, from the first submission on; once every job
is submitted, Redis is stopped for a second and started again on its append-only file
(submitting is not retried across an outage: that submitter would get exit 3).

Checked, and printed:
- every job has a result, succeeded, with its own answer;
- the ledger: how many jobs ran more than once (execution is at least once), and that
  each of them first ran under a worker that was SIGKILLed, or was in flight while Redis
  was away (its claim could not be renewed, so another worker may take it over);
- the workers still alive at the end exit 0 on SIGTERM.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio

from orchestrator import Job
from orchestrator.redis import RedisQueue

from ..fakes.config_text import shell_agent_config
from ..redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
#: Jobs are submitted by this many tasks at once.
SUBMITTERS = 8
#: The agent: its job, its worker (the parent of this shell) and the time go to the ledger.
AGENT = (
    'printf "%s %s %s\\n" "$1" "$PPID" "$(date +%s.%N)" >> "$LEDGER"; '
    'sleep "0.0$(( $$ % 5 ))"; echo "done: $1"'
)
#: A job in flight while Redis was away may be taken over: its claim could not be renewed
#: (visibility timeout 5 s, plus the reconnection backoff, 2 s at most).
OUTAGE_MARGIN = 5.0 + 2.0


def write_config(directory: Path, ledger: Path) -> Path:
    return shell_agent_config(directory, AGENT, LEDGER=str(ledger))


def start_worker(url: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as stream:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "orchestrator", "worker", "--redis", url),
                *("--redis-prefix", "soak", "--concurrency", "8", "--drain-timeout", "1"),
                *("--visibility-timeout", "5", "--config-dir", str(config)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stream,
            cwd=ROOT,
        )


async def soak(jobs: int, workers: int, every: float) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        ledger = root / "ledger.txt"
        ledger.touch()
        config = write_config(root, ledger)
        server = RedisServer(root / "redis")
        server.start()
        log = root / "workers.log"
        running = [start_worker(server.url, config, log) for _ in range(workers)]
        killed: set[int] = set()
        kill_times: list[tuple[int, float]] = []
        started_at = time.time()
        started = time.monotonic()
        ids = [f"soak{number:05d}" for number in range(jobs)]
        restarted_redis = False
        outage = (0.0, 0.0)  # when Redis went down and came back (Unix time)
        submitted = 0.0
        results = {}
        try:
            async with (
                RedisQueue.connect(server.url, "soak") as queue,
                anyio.create_task_group() as group,
            ):

                async def chaos() -> None:
                    nonlocal restarted_redis, outage
                    while True:
                        await anyio.sleep(every)
                        victim = random.choice(running)
                        victim.send_signal(signal.SIGKILL)
                        await anyio.to_thread.run_sync(victim.wait)
                        killed.add(victim.pid)
                        kill_times.append((victim.pid, time.time()))
                        running.remove(victim)
                        running.append(start_worker(server.url, config, log))
                        if not restarted_redis and submitted and killed:
                            # Once every job is in: a submission is not retried across an
                            # outage (the submitter gets exit 3); workers ride it out.
                            down = time.time()
                            await anyio.to_thread.run_sync(server.restart, 1.0)
                            outage = (down, time.time())
                            restarted_redis = True

                async def submit(share: list[str]) -> None:
                    for job_id in share:
                        await queue.submit(Job(id=job_id, prompt=f"p{job_id[4:]}"))

                group.start_soon(chaos)  # killing from the start: while jobs are submitted too
                async with anyio.create_task_group() as submitters:
                    for lane in range(SUBMITTERS):
                        submitters.start_soon(submit, ids[lane::SUBMITTERS])
                submitted = time.monotonic() - started
                for job_id in ids:
                    with anyio.fail_after(600):
                        results[job_id] = await queue.result(job_id)
                group.cancel_scope.cancel()
            elapsed = time.monotonic() - started
        finally:
            exits = []
            for process in running:
                process.send_signal(signal.SIGTERM)
                exits.append(process.wait(30))
            server.stop()
        runs = [line.split() for line in ledger.read_text().splitlines() if line.strip()]
        times_run = Counter(prompt for prompt, _, _ in runs)
        first_run: dict[str, tuple[int, float]] = {}
        for prompt, worker, when in runs:
            first_run.setdefault(prompt, (int(worker), float(when)))
        twice = [prompt for prompt, count in times_run.items() if count > 1]
        # A run whose worker was SIGKILLed as it started shows parent 1 (the orphan's new one).
        on_killed = [prompt for prompt in twice if first_run[prompt][0] in killed | {1}]
        in_outage = [
            prompt
            for prompt in twice
            if prompt not in on_killed
            and outage[0] - OUTAGE_MARGIN <= first_run[prompt][1] <= outage[1] + OUTAGE_MARGIN
        ]
        unexplained = [p for p in twice if p not in on_killed and p not in in_outage]
        wrong = [
            job_id
            for job_id in ids
            if results[job_id].status != "succeeded"
            or results[job_id].output != f"done: p{job_id[4:]}"
        ]
        never = [f"p{job_id[4:]}" for job_id in ids if f"p{job_id[4:]}" not in times_run]
        redis = "Redis restarted once" if restarted_redis else "Redis NOT restarted (too short)"
        print(f"jobs {jobs}, workers {workers}, SIGKILLs {len(killed)}, {redis}")
        print(f"submitted in {submitted:.1f} s, all results in {elapsed:.1f} s")
        print(f"results: {len(results)} of {jobs}, wrong or failed {len(wrong)}")
        print(
            f"executions {len(runs)}: {len(twice)} jobs ran more than once: {len(on_killed)} "
            f"first ran on a worker later SIGKILLed, {len(in_outage)} were in flight while "
            f"Redis was away, {len(unexplained)} neither; never run {len(never)}"
        )
        print(f"worker exits after SIGTERM: {exits}")
        for prompt in unexplained[:5]:
            detail = [(w, round(float(when) - started_at, 2)) for p, w, when in runs if p == prompt]
            print(f"  {prompt} ran on (worker, seconds in): {detail}")
        if unexplained:
            kills = [(pid, round(when - started_at, 2)) for pid, when in kill_times]
            print(f"  kills (pid, seconds in): {kills}")
        broken = (
            wrong or unexplained or never or not restarted_redis or any(code != 0 for code in exits)
        )
        print("promises kept" if not broken else "PROMISE BROKEN")
        return 1 if broken else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between SIGKILLs")
    arguments = parser.parse_args()
    sys.exit(anyio.run(soak, arguments.jobs, arguments.workers, arguments.every))


if __name__ == "__main__":
    main()
