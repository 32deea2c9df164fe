"""Driving the real ``orchestrator`` command as a subprocess, with its state kept in tmp."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

#: A provider command that answers at once and logs each run: ``sh -c SCRIPT sh PROMPT``.
SHELL_AGENT = (
    'printf "%s\\n" "$1" >> "$RUN_LOG"; echo $$ >> "$RUN_LOG.pids"; '
    'sleep "$WORK_SECONDS"; echo "done: $1"'
)


def shell_provider(backend: str, name: str, run_log: Path, work_seconds: float = 0) -> str:
    """A provider table running ``SHELL_AGENT`` (fast: no Python start-up per job)."""
    return (
        f'[{backend}.{name}]\ncommand = "/bin/sh"\nargs = ["-c", {SHELL_AGENT!r}, "sh"]\n'
        f'RUN_LOG = "{run_log}"\nWORK_SECONDS = "{work_seconds}"\n'
    )


@dataclass
class Cli:
    """Runs ``python -m orchestrator`` with a private state file and config dir."""

    state_file: Path
    config_dir: Path | None = None

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "ORCHESTRATOR_STATE_FILE": str(self.state_file),
            "COLUMNS": "200",
            **(extra or {}),
        }

    def argv(self, *args: str) -> list[str]:
        config = ["--config-dir", str(self.config_dir)] if self.config_dir else []
        command = [sys.executable, "-m", "orchestrator", *args]
        needs_config = args and args[0] in {"run", "worker", "status", "providers", "dashboard"}
        return command + config if needs_config else command

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            env=self.env(env),
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(state_file=tmp_path / "state" / "state.json")


class RunningWorker:
    """``orchestrator worker`` in the background; its stderr goes to a file."""

    def __init__(self, cli: Cli, spool: Path | None, log: Path, *options: str) -> None:
        """``spool`` None: the options say where jobs come from (``--redis URL``)."""
        self.log = log
        self._stderr = log.open("w")
        where = ["--spool", str(spool)] if spool is not None else []
        self.process = subprocess.Popen(
            cli.argv("worker", *where, *options),
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=cli.env(),
        )

    def wait_ready(self, timeout: float = 30) -> None:
        wait_until(lambda: "worker ready" in self.log.read_text(), timeout, self.log)

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        self._stderr.close()
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait()


StartWorker = Callable[..., RunningWorker]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    workers: list[RunningWorker] = []

    def start(cli: Cli, spool: Path | None, *options: str) -> RunningWorker:
        worker = RunningWorker(cli, spool, tmp_path / f"worker{len(workers)}.log", *options)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 60, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = log.read_text() if log and log.exists() else ""
            raise AssertionError(f"condition not met within {timeout} s\n{detail}")
        time.sleep(0.02)


@contextmanager
def dashboard_process(
    cli: Cli, log: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``orchestrator ARGS`` serving the dashboard (``dashboard``, ``worker --http``):
    yields the process and the address it said it serves on; stopped after."""
    with log.open("w") as stderr:
        process = subprocess.Popen(
            cli.argv(*args), stdout=subprocess.DEVNULL, stderr=stderr, env=cli.env()
        )
    try:
        wait_until(lambda: "dashboard on http://" in log.read_text(), 30, log)
        found = re.search(r"dashboard on (http://\S+)", log.read_text())
        assert found is not None
        yield process, found.group(1)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
