"""Several `orchestrator worker --redis` processes on one real redis-server."""

from __future__ import annotations

import collections
import signal
from pathlib import Path

import anyio
import pytest

from orchestrator import Job, JobResult
from orchestrator.redis._queue import RedisQueue

from ..conftest import WriteConfig
from ..redis_server import RedisServer
from .conftest import Cli, RunningWorker, StartWorker, shell_provider, start_worker, wait_until

__all__ = ["start_worker"]

LIMITED_AGENT = 'echo x >> "$RUN_LOG"; echo "Error: 429 rate limit exceeded" >&2; exit 1'


def submit(url: str, jobs: list[Job]) -> list[str]:
    async def go() -> list[str]:
        async with RedisQueue.connect(url) as queue:
            return [await queue.submit(job) for job in jobs]

    return anyio.run(go)


def stored_results(url: str, job_ids: list[str]) -> dict[str, JobResult]:
    async def go() -> dict[str, JobResult]:
        async with RedisQueue.connect(url) as queue:
            found = {}
            for job_id in job_ids:
                stored = await queue._client.get(queue.keys.result(job_id))
                if stored is not None:
                    found[job_id] = JobResult.model_validate_json(stored)
            return found

    return anyio.run(go)


def queue_is_empty(url: str) -> bool:
    async def go() -> bool:
        async with RedisQueue.connect(url) as queue:
            length = await queue._client.xlen(queue.keys.jobs)
            pending = await queue._client.xpending(queue.keys.jobs, "workers")
            return length == 0 and pending.pending == 0  # type: ignore[union-attr]

    return anyio.run(go)


def runs(run_log: Path) -> collections.Counter[str]:
    return (
        collections.Counter(run_log.read_text().split())
        if run_log.exists()
        else (collections.Counter())
    )


def configure(cli: Cli, write_config: WriteConfig, run_log: Path, work: float = 0) -> Cli:
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n',
        shell_provider("agent", "sh", run_log, work),
    )
    return cli


def jobs(count: int, prefix: str = "job") -> list[Job]:
    return [Job(id=f"{prefix}{index:05d}", prompt=f"{prefix}{index:05d}") for index in range(count)]


def test_three_workers_drain_1500_jobs_once_each(
    cli: Cli,
    write_config: WriteConfig,
    redis_server: RedisServer,
    tmp_path: Path,
    start_worker: StartWorker,
) -> None:
    run_log = tmp_path / "runs.log"
    configure(cli, write_config, run_log)
    workers = [
        start_worker(cli, None, "--redis", redis_server.url, "--concurrency", "8") for _ in range(3)
    ]
    ids = submit(redis_server.url, jobs(1500))  # enough for all three to take part
    wait_until(lambda: runs(run_log).total() >= 1500, 180, workers[0].log)
    wait_until(lambda: queue_is_empty(redis_server.url), 60, workers[0].log)
    for worker in workers:
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    results = stored_results(redis_server.url, ids)
    assert len(results) == 1500
    assert all(result.status == "succeeded" for result in results.values())
    assert runs(run_log) == collections.Counter(ids)
    shares = [w.log.read_text().count("job succeeded") for w in workers]
    assert all(shares), shares  # every worker ran some (one log line per finished job)
    assert sum(shares) == 1500


def test_a_killed_workers_jobs_are_finished_by_another(
    cli: Cli,
    write_config: WriteConfig,
    redis_server: RedisServer,
    tmp_path: Path,
    start_worker: StartWorker,
) -> None:
    run_log = tmp_path / "runs.log"
    configure(cli, write_config, run_log, work=1.0)
    options = ("--redis", redis_server.url, "--concurrency", "2", "--visibility-timeout", "2")
    doomed = start_worker(cli, None, *options)
    ids = submit(redis_server.url, jobs(4))
    wait_until(lambda: runs(run_log).total() >= 2, 30, doomed.log)  # it holds two jobs
    doomed.signal(signal.SIGKILL)
    doomed.wait()
    survivor = start_worker(cli, None, *options)
    wait_until(lambda: len(stored_results(redis_server.url, ids)) == 4, 60, survivor.log)
    survivor.signal(signal.SIGTERM)
    assert survivor.wait() == 0
    results = stored_results(redis_server.url, ids)
    assert all(result.status == "succeeded" for result in results.values())
    assert "took over a silent worker's job" in survivor.log.read_text()
    assert queue_is_empty(redis_server.url)


def test_a_limit_seen_by_one_worker_is_skipped_by_all(
    cli: Cli,
    write_config: WriteConfig,
    redis_server: RedisServer,
    tmp_path: Path,
    start_worker: StartWorker,
) -> None:
    limited_log, spare_log = tmp_path / "limited.log", tmp_path / "spare.log"
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["limited", "spare"]\n'
        'usage_markers = ["rate limit"]\n',
        f'[agent.limited]\ncommand = "/bin/sh"\nargs = ["-c", {LIMITED_AGENT!r}]\n'
        f'RUN_LOG = "{limited_log}"\n' + shell_provider("agent", "spare", spare_log),
    )
    workers = [start_worker(cli, None, "--redis", redis_server.url) for _ in range(3)]
    first = submit(redis_server.url, jobs(1, "first"))
    wait_until(lambda: len(stored_results(redis_server.url, first)) == 1, 30, workers[0].log)
    rest = submit(redis_server.url, jobs(30, "rest"))
    wait_until(lambda: len(stored_results(redis_server.url, rest)) == 30, 60, workers[0].log)
    assert runs(limited_log).total() == 1  # only the very first job tried it
    assert runs(spare_log).total() == 31
    status = cli("status", "--json", "--redis", redis_server.url)
    assert status.returncode == 0, status.stderr
    assert '"cooldown_left": ' in status.stdout
    for worker in workers:
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0


def test_workers_ride_out_a_redis_restart(
    cli: Cli,
    write_config: WriteConfig,
    redis_server: RedisServer,
    tmp_path: Path,
    start_worker: StartWorker,
) -> None:
    run_log = tmp_path / "runs.log"
    configure(cli, write_config, run_log, work=0.02)
    workers = [
        start_worker(cli, None, "--redis", redis_server.url, "--concurrency", "4") for _ in range(2)
    ]
    ids = submit(redis_server.url, jobs(400))
    wait_until(lambda: runs(run_log).total() >= 100, 60, workers[0].log)
    redis_server.restart(down_for=1.0)
    wait_until(lambda: len(stored_results(redis_server.url, ids)) == 400, 120, workers[0].log)
    for worker in workers:
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    assert queue_is_empty(redis_server.url)
    assert runs(run_log) == collections.Counter(ids)


@pytest.mark.parametrize("command", [("run", "--prompt", "via redis"), ("events", "-n", "3")])
def test_run_and_events_through_redis(
    cli: Cli,
    write_config: WriteConfig,
    redis_server: RedisServer,
    tmp_path: Path,
    start_worker: StartWorker,
    command: tuple[str, ...],
) -> None:
    configure(cli, write_config, tmp_path / "runs.log")
    worker = start_worker(cli, None, "--redis", redis_server.url)
    result = cli("run", "--json", "--prompt", "via redis", "--redis", redis_server.url)
    assert result.returncode == 0, result.stderr
    assert '"output":"done: via redis"' in result.stdout
    if command[0] == "events":
        events = cli(*command, "--redis", redis_server.url)
        assert events.returncode == 0, events.stderr
        assert len(events.stdout.splitlines()) == 3
        assert "job_succeeded" in events.stdout.splitlines()[-1]
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_a_worker_started_before_redis_waits_for_it(
    cli: Cli, write_config: WriteConfig, tmp_path: Path
) -> None:
    run_log = tmp_path / "runs.log"
    configure(cli, write_config, run_log)
    server = RedisServer(tmp_path / "late-redis")  # not started yet
    worker = RunningWorker(cli, None, tmp_path / "worker.log", "--redis", server.url)
    try:
        wait_until(lambda: "redis unavailable, retrying" in worker.log.read_text(), 30)
        server.start()
        worker.wait_ready()
        ids = submit(server.url, jobs(3))
        wait_until(lambda: len(stored_results(server.url, ids)) == 3, 30, worker.log)
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()
        server.stop()


def test_a_worker_waiting_for_redis_stops_on_sigterm(
    cli: Cli, write_config: WriteConfig, tmp_path: Path
) -> None:
    configure(cli, write_config, tmp_path / "runs.log")
    url = RedisServer(tmp_path / "never").url
    worker = RunningWorker(cli, None, tmp_path / "worker.log", "--redis", url)
    try:
        wait_until(lambda: "redis unavailable, retrying" in worker.log.read_text(), 30)
        worker.signal(signal.SIGTERM)
        assert worker.wait(20) == 0
        assert "worker stopped before it started" in worker.log.read_text()
    finally:
        worker.stop()


@pytest.mark.parametrize(
    "command", [("status",), ("events",), ("run", "--prompt", "x"), ("providers", "reset", "agent")]
)
def test_commands_say_when_redis_is_unreachable(
    cli: Cli, write_config: WriteConfig, tmp_path: Path, command: tuple[str, ...]
) -> None:
    configure(cli, write_config, tmp_path / "runs.log")
    port = RedisServer(tmp_path / "never").port
    result = cli(*command, "--redis", f"redis://user:s3cret@127.0.0.1:{port}/2")
    assert result.returncode == 3, result.stderr
    assert f"Error: cannot reach Redis at 127.0.0.1:{port}/2" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_url_that_is_not_redis_is_a_usage_error(cli: Cli) -> None:
    result = cli("status", "--redis", "http://127.0.0.1:6379")
    assert result.returncode == 2
    assert "the Redis URL must start with redis://" in result.stderr


@pytest.mark.parametrize("command", [("status",), ("run", "--prompt", "x"), ("worker",)])
def test_a_refused_redis_login_is_one_line_and_exit_2(
    cli: Cli,
    write_config: WriteConfig,
    tmp_path: Path,
    redis_server: RedisServer,
    command: tuple[str, ...],
) -> None:
    import subprocess

    configure(cli, write_config, tmp_path / "runs.log")
    subprocess.run(
        ["redis-cli", "-p", str(redis_server.port), "ACL", "SETUSER", "alice", "on", ">right"],
        check=True,
        capture_output=True,
    )
    url = f"redis://alice:wrong-s3cret@127.0.0.1:{redis_server.port}/0"
    result = cli(*command, "--redis", url, timeout=60)
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"Error: Redis at 127.0.0.1:{redis_server.port}/0 refused the login: ")
    )
    assert "wrong-s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
