"""Soak: a spool worker fed good jobs and hostile files, stopped and restarted, never lost.

Not a test: it prints figures and exits 1 when a promise was broken. Run it with

    .venv/bin/python -m tests.soak.soak_spool [--good 1000] [--restarts 5]

It starts the real ``orchestrator worker`` (concurrency 8, drain 1 s) on a spool that
holds ``--good`` job files and ``--hostile`` generated hostile files of every kind the
issue names (NUL and lone surrogates in each field, FIFOs, directories, symlinks,
oversized and malformed files, flags as models, paths outside the fences), then
SIGTERMs and restarts it ``--restarts`` times at random moments, and finally lets it
drain. Each agent run leaves a helper behind that escapes its process group (setsid).

Checked, and printed:
- every good job has exactly one result, succeeded, under ``done/``;
- every hostile file has exactly one failed result, and none is left in ``incoming/``;
- the worker never exits before it is signalled, and exits 0 after each stop;
- no agent process, and no escaped helper, outlives its worker's stop by more than
  the kill grace (5 s);
- nothing of any worker is left in ``processing/``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ..fakes.config_text import shell_agent_config

ROOT = Path(__file__).resolve().parents[2]
#: The agent: logs its prompt and pid, starts a helper that escapes its group, answers.
AGENT = (
    'echo "$$" >> "$PIDS"; printf "%s\\n" "$1" >> "$RUNS"; '
    "setsid sh -c 'echo $$ >> \"$PIDS\"; exec sleep 30' > /dev/null 2>&1 & "
    'sleep "0.0$(( $$ % 9 ))"; echo "done: $1"'
)
KILL_GRACE = 5.0


def write_config(directory: Path, runs: Path, pids: Path) -> Path:
    return shell_agent_config(directory, AGENT, RUNS=str(runs), PIDS=str(pids))


def hostile_files(incoming: Path, outside: Path, count: int) -> list[str]:
    """``count`` hostile inputs, cycling through every kind; returns their file names."""
    secret = outside / "secret.txt"
    secret.write_text("never send this\n")
    kinds = [
        ("json", '{"prompt": "x", "model": "m\\u0000"}'),
        ("json", '{"prompt": "x\\ud800"}'),
        ("json", '{"prompt": "x", "metadata": {"k": "\\udfff"}}'),
        ("json", '{"prompt": "x", "backend": "agent\\ud800"}'),
        ("json", '{"prompt": "x", "model": "--openai-base-url=http://evil"}'),
        ("json", '{"prompt": "x", "cwd": "/"}'),
        ("json", '{"prompt": "x", "backend": "nope"}'),
        ("json", '{"prompt": '),
        ("json", json.dumps({"prompt": "x" * 2_000_000})),
        ("toml", 'prompt = "unterminated\n'),
        ("toml", 'prompt = "x"\nretries = 3\n'),
        ("toml", 'prompt_file = "../secret.txt"\n'),
        ("toml", b"\xff\xfe\x00garbage"),
        ("fifo", None),
        ("dir", None),
        ("link", None),
    ]
    names = []
    for number in range(count):
        kind, content = kinds[number % len(kinds)]
        suffix = "toml" if kind in {"toml", "fifo", "dir", "link"} else "json"
        name = f"hostile{number:04d}.{suffix}"
        path = incoming / f".{name}"
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "dir":
            path.mkdir()
        elif kind == "link":
            path.symlink_to(secret)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content))
        path.rename(incoming / name)
        names.append(name)
    return names


def good_files(incoming: Path, count: int) -> list[str]:
    names = []
    for number in range(count):
        name = f"good{number:05d}"
        temporary = incoming / f".{name}.toml"
        temporary.write_text(f'prompt = "{name}"\n')
        temporary.rename(incoming / f"{name}.toml")
        names.append(name)
    return names


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


class Worker:
    def __init__(self, spool: Path, config: Path, state: Path, log: Path) -> None:
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "orchestrator", "worker", "--spool", str(spool)),
                *("--concurrency", "8", "--drain-timeout", "1", "--config-dir", str(config)),
                *("--state-file", str(state)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            cwd=ROOT,
        )

    def wait_ready(self, starts: int) -> None:
        """Until the log says "worker ready" ``starts`` times (a signal before that is
        not yet the worker's to handle: it is still importing)."""
        path = Path(self.log.name)
        deadline = time.monotonic() + 60
        while path.read_text().count("worker ready") < starts and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the stop took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(120)
        self.log.close()
        return code, time.monotonic() - started


def results(spool: Path) -> tuple[Counter[str], Counter[str]]:
    """Result counts by job id (or rejected file name), under done/ and failed/."""
    counts: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    for counter, folder in zip(counts, ("done", "failed"), strict=True):
        for path in (spool / folder).glob("*.result.json"):
            counter[path.name.removesuffix(".result.json")] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--good", type=int, default=1000)
    parser.add_argument("--hostile", type=int, default=200)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    random.seed(options.seed)
    broken: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        spool, outside = base / "spool", base / "outside"
        (spool / "incoming").mkdir(parents=True)
        outside.mkdir()
        runs, pids = base / "runs.log", base / "pids.log"
        config = write_config(base, runs, pids)
        hostile = hostile_files(spool / "incoming", outside, options.hostile)
        good = good_files(spool / "incoming", options.good)
        started = time.monotonic()
        stops: list[float] = []
        for round_number in range(options.restarts + 1):
            worker = Worker(spool, config, base / "state.json", base / "worker.log")
            worker.wait_ready(round_number + 1)
            last = round_number == options.restarts
            deadline = time.monotonic() + (600 if last else random.uniform(2.0, 4.0))
            while time.monotonic() < deadline:
                if worker.process.poll() is not None:
                    broken.append(f"round {round_number}: the worker exited on its own")
                    break
                done, failed = results(spool)
                if last and len(done) + len(failed) >= len(good) + len(hostile):
                    break
                time.sleep(0.1)
            code, took = worker.stop()
            stops.append(took)
            if code != 0:
                broken.append(f"round {round_number}: exit {code} after SIGTERM")
            time.sleep(KILL_GRACE)
            survivors = [p for p in map(int, pids.read_text().split()) if alive(p)]
            if survivors:
                broken.append(f"round {round_number}: {len(survivors)} agent processes outlived it")
        elapsed = time.monotonic() - started
        done, failed = results(spool)
        ran = Counter(runs.read_text().split())
        broken += [f"good job {n}: {done[n]} results in done/" for n in good if done[n] != 1]
        broken += [f"good job {n} has a failed result" for n in good if failed[n]]
        # A rejected file's result is named after the file; a job that parsed but may
        # not run (an unknown backend, a cwd outside the root), after its id (the stem).
        for name in hostile:
            count = failed[name] + failed[name.rsplit(".", 1)[0]]
            if count != 1:
                broken.append(f"hostile {name}: {count} failed results")
        leftovers = sorted(os.listdir(spool / "incoming"))
        if leftovers:
            broken.append(f"left in incoming/: {leftovers[:5]}")
        if os.listdir(spool / "processing"):
            broken.append(f"left in processing/: {os.listdir(spool / 'processing')}")
        reruns = sum(count - 1 for count in ran.values() if count > 1)
        print(f"good jobs: {len(good)}, hostile files: {len(hostile)}, stops: {len(stops)}")
        print(f"wall time: {elapsed:.1f} s, including {len(stops)} x {KILL_GRACE:.0f} s checks")
        print(f"stop took: median {sorted(stops)[len(stops) // 2]:.2f} s, max {max(stops):.2f} s")
        print(f"jobs run again after a stop: {reruns} (each ended in one result)")
    for problem in broken:
        print(f"BROKEN: {problem}")
    print("all promises held" if not broken else f"{len(broken)} promise(s) broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
