"""`orchestrator worker` as a real process: volume, crashes, draining, two workers, bad files."""

from __future__ import annotations

import collections
import json
import signal
from pathlib import Path

import pytest

from ..conftest import WriteConfig
from .conftest import Cli, StartWorker, shell_provider, start_worker, wait_until

__all__ = ["start_worker"]  # the fixture, imported for the tests below


def drop_jobs(incoming: Path, count: int, prefix: str = "job") -> list[str]:
    names = []
    for index in range(count):
        name = f"{prefix}{index:04d}"
        temporary = incoming / f".{name}.toml"
        temporary.write_text(f'prompt = "{name}"\n')
        temporary.rename(incoming / f"{name}.toml")  # the documented way to drop a file
        names.append(name)
    return names


def finished(spool: Path) -> dict[str, str]:
    """job id -> 'done' or 'failed', from the result files."""
    outcome = {}
    for state in ("done", "failed"):
        for path in (spool / state).glob("*.result.json"):
            outcome[json.loads(path.read_text())["job_id"]] = state
    return outcome


def run_counts(run_log: Path) -> collections.Counter[str]:
    return (
        collections.Counter(run_log.read_text().split())
        if run_log.exists()
        else (collections.Counter())
    )


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    directory = tmp_path / "spool"
    (directory / "incoming").mkdir(parents=True)
    return directory


def configure(cli: Cli, write_config: WriteConfig, run_log: Path, work: float = 0) -> Cli:
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n',
        shell_provider("agent", "sh", run_log, work),
    )
    return cli


def test_500_job_files(
    cli: Cli, write_config: WriteConfig, spool: Path, tmp_path: Path, start_worker: StartWorker
) -> None:
    run_log = tmp_path / "runs.log"
    configure(cli, write_config, run_log)
    names = drop_jobs(spool / "incoming", 250, "early")
    worker = start_worker(cli, spool, "--concurrency", "8")
    names += drop_jobs(spool / "incoming", 250, "late")
    wait_until(lambda: len(finished(spool)) == 500, 120, worker.log)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert finished(spool) == dict.fromkeys(names, "done")
    assert run_counts(run_log) == collections.Counter(names)
    assert len(list((spool / "done").glob("*.toml"))) == 500
    assert list((spool / "processing").iterdir()) == []


def test_sigkill_mid_job_then_restart_loses_nothing(
    cli: Cli, write_config: WriteConfig, spool: Path, tmp_path: Path, start_worker: StartWorker
) -> None:
    run_log = tmp_path / "runs.log"
    configure(cli, write_config, run_log, work=0.2)
    names = drop_jobs(spool / "incoming", 40)
    first = start_worker(cli, spool, "--concurrency", "4")
    wait_until(lambda: len(finished(spool)) >= 8, 60, first.log)
    first.signal(signal.SIGKILL)
    first.wait()
    assert any((spool / "processing").iterdir())  # it died holding claims
    second = start_worker(cli, spool, "--concurrency", "4")
    wait_until(lambda: len(finished(spool)) == 40, 60, second.log)
    second.signal(signal.SIGTERM)
    assert second.wait() == 0
    assert finished(spool) == dict.fromkeys(names, "done")
    assert sorted(p.stem for p in (spool / "done").glob("*.toml")) == names  # once each
    assert list((spool / "incoming").iterdir()) == []
    assert list((spool / "processing").iterdir()) == []
    # Only jobs the killed worker was running may have started twice.
    assert sum(count - 1 for count in run_counts(run_log).values()) <= 4


def test_sigterm_lets_running_jobs_finish(
    cli: Cli, write_config: WriteConfig, spool: Path, tmp_path: Path, start_worker: StartWorker
) -> None:
    configure(cli, write_config, tmp_path / "runs.log", work=1.0)
    drop_jobs(spool / "incoming", 2)
    worker = start_worker(cli, spool, "--concurrency", "2", "--drain-timeout", "20")
    wait_until(lambda: not list((spool / "incoming").iterdir()), 30, worker.log)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert finished(spool) == {"job0000": "done", "job0001": "done"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_returns_jobs_that_outlive_the_drain(
    cli: Cli,
    write_config: WriteConfig,
    spool: Path,
    tmp_path: Path,
    start_worker: StartWorker,
    signum: signal.Signals,
) -> None:
    """SIGTERM or SIGHUP: the jobs go back to incoming/, their groups are killed, and
    nothing of the worker is left in processing/."""
    configure(cli, write_config, tmp_path / "runs.log", work=60)
    drop_jobs(spool / "incoming", 2)
    worker = start_worker(cli, spool, "--concurrency", "2", "--drain-timeout", "0.5")
    wait_until(lambda: run_counts(tmp_path / "runs.log").total() == 2, 30, worker.log)
    worker.signal(signum)
    assert worker.wait(timeout=30) == 0
    assert list((spool / "processing").iterdir()) == []
    assert sorted(p.name for p in (spool / "incoming").iterdir()) == [
        "job0000.toml",
        "job0001.toml",
    ]
    assert finished(spool) == {}
    assert "job returned to the queue" in worker.log.read_text()
    pids = [int(pid) for pid in Path(f"{tmp_path / 'runs.log'}.pids").read_text().split()]
    assert len(pids) == 2
    for pid in pids:  # the agents' process groups were killed, and reaped
        assert not Path(f"/proc/{pid}").exists()


def test_two_workers_never_run_a_job_twice(
    cli: Cli, write_config: WriteConfig, spool: Path, tmp_path: Path, start_worker: StartWorker
) -> None:
    run_log = tmp_path / "runs.log"
    configure(cli, write_config, run_log)
    first = start_worker(cli, spool, "--concurrency", "4")
    second = start_worker(cli, spool, "--concurrency", "4")
    names = drop_jobs(spool / "incoming", 300)
    wait_until(lambda: len(finished(spool)) == 300, 120, first.log)
    for worker in (first, second):
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    assert run_counts(run_log) == collections.Counter(names)
    assert "in use by process" in second.log.read_text()  # one owns the state file


def test_bad_files_are_rejected_and_the_worker_goes_on(
    cli: Cli, write_config: WriteConfig, spool: Path, tmp_path: Path, start_worker: StartWorker
) -> None:
    configure(cli, write_config, tmp_path / "runs.log")
    worker = start_worker(cli, spool)
    incoming = spool / "incoming"
    (incoming / "malformed.toml").write_text('prompt = "unterminated\n')
    (incoming / "oversized.json").write_text(json.dumps({"prompt": "x" * 2_000_000}))
    (incoming / "wrong-field.toml").write_text('prompt = "x"\nretries = 3\n')
    (incoming / "notes.yaml").write_text("not a job\n")
    (incoming / "task.md").write_text("a prompt, for a job that names it\n")
    (incoming / "uses-task.toml").write_text('prompt_file = "task.md"\n')
    drop_jobs(incoming, 1, "good")
    wait_until(lambda: len(finished(spool)) == 6, 30, worker.log)
    outcome = finished(spool)
    assert outcome.pop("good0000") == "done"
    assert outcome.pop("uses-task") == "done"  # its prompt file was no job of its own
    assert outcome == dict.fromkeys(
        ["malformed.toml", "oversized.json", "wrong-field.toml", "notes.yaml"], "failed"
    )
    assert (incoming / "task.md").exists()
    error = json.loads((spool / "failed" / "wrong-field.toml.result.json").read_text())["error"]
    assert error == (
        f"Error: job file '{incoming / 'wrong-field.toml'}', field 'retries': unknown field"
    )
    assert "larger than" in (spool / "failed" / "oversized.json.result.json").read_text()
    assert worker.process.poll() is None


def test_with_everything_limited_a_workers_job_waits_for_the_first_reset(
    cli: Cli, write_config: WriteConfig, spool: Path, start_worker: StartWorker
) -> None:
    """Every provider of every backend limited for 10 s: the job waits, then succeeds on the
    first to recover, instead of failing."""
    import time

    from ..fakes.config_text import backend, provider

    recovers_at = time.time() + 10
    cli.config_dir = write_config(
        backend("first", ["a"], throttle_wait_seconds="0")
        + backend("second", ["b"], throttle_wait_seconds="0")
        + '[message_backend]\ndefault = "first"\norder = ["first", "second"]\n',
        provider("first", "a", "limit", FAKE_RETRY_AFTER="10", FAKE_LIMITED_UNTIL=str(recovers_at))
        + provider("second", "b", "limit", FAKE_RETRY_AFTER="600"),
    )
    worker = start_worker(cli, spool)
    drop_jobs(spool / "incoming", 1, "patient")
    wait_until(lambda: finished(spool) == {"patient0000": "done"}, 60, worker.log)
    assert time.time() >= recovers_at
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    result = json.loads((spool / "done" / "patient0000.result.json").read_text())
    assert [(a["provider"], a["outcome"]) for a in result["attempts"]] == [
        ("a", "usage_limit"),
        ("b", "usage_limit"),
        ("a", "success"),
    ]


def test_a_job_may_only_work_inside_the_workers_cwd_root(
    cli: Cli, write_config: WriteConfig, spool: Path, tmp_path: Path, start_worker: StartWorker
) -> None:
    """--cwd-root fences submitted jobs: a job asking to work in / ends in a failed result."""
    run_log = tmp_path / "runs.log"
    configure(cli, write_config, run_log)
    root = tmp_path / "projects"
    (root / "app").mkdir(parents=True)
    worker = start_worker(cli, spool, "--cwd-root", str(root))
    (spool / "incoming" / "inside.toml").write_text(f'prompt = "in"\ncwd = "{root / "app"}"\n')
    (spool / "incoming" / "outside.toml").write_text('prompt = "out"\ncwd = "/"\n')
    wait_until(lambda: len(finished(spool)) == 2, 60, worker.log)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert finished(spool) == {"inside": "done", "outside": "failed"}
    refused = json.loads((spool / "failed" / "outside.result.json").read_text())
    assert "outside the allowed root" in refused["error"]
    assert run_counts(run_log) == collections.Counter(["in"])


def test_a_descendant_that_left_its_group_ends_with_the_worker(
    cli: Cli, write_config: WriteConfig, spool: Path, tmp_path: Path, start_worker: StartWorker
) -> None:
    """A CLI's helper that called setsid escapes killpg; the worker (a child subreaper)
    still ends it when its job is cancelled at the stop."""
    escaped = tmp_path / "escaped.pid"
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n',
        f'[agent.sh]\ncommand = "/bin/sh"\nargs = ["-c", {json.dumps(ESCAPING_AGENT)}]\n'
        f'ESCAPED_PID = "{escaped}"\n',
    )
    drop_jobs(spool / "incoming", 1)
    worker = start_worker(cli, spool, "--drain-timeout", "0")
    wait_until(lambda: escaped.exists() and escaped.read_text().strip() != "", 30, worker.log)
    helper = Path(f"/proc/{escaped.read_text().strip()}")
    assert helper.exists()
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    wait_until(lambda: not helper.exists(), 10)


#: A CLI whose helper moves to a session of its own (setsid) and lingers.
ESCAPING_AGENT = "setsid sh -c 'echo $$ > \"$ESCAPED_PID\"; exec sleep 60' & sleep 60"


def test_json_logs_are_pure_json_with_a_line_per_finished_job(
    cli: Cli, write_config: WriteConfig, spool: Path, tmp_path: Path, start_worker: StartWorker
) -> None:
    configure(cli, write_config, tmp_path / "runs.log")
    worker = start_worker(cli, spool, "--json-logs")
    drop_jobs(spool / "incoming", 2)
    (spool / "incoming" / "broken.toml").write_text('prompt = "unterminated\n')
    wait_until(lambda: len(finished(spool)) == 3, 30, worker.log)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    lines = [json.loads(line) for line in worker.log.read_text().splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    assert any(event.startswith("worker ready") for event in events)
    assert events.count("job succeeded") == 2
    assert "input rejected" in events
    assert any(event.startswith("SIGTERM: stopping") for event in events)
    succeeded = next(line for line in lines if line["event"] == "job succeeded")
    assert (succeeded["backend"], succeeded["provider"], succeeded["attempts"]) == (
        "agent",
        "sh",
        1,
    )
