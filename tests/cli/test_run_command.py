"""`orchestrator run`: text and JSON results, exit codes 0/1/2, no secrets, no stray bar."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from pathlib import Path

import pytest

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from .conftest import Cli, shell_provider, wait_until

SECRET = "sk-run-secret-0123456789"


@pytest.fixture
def configured(cli: Cli, write_config: WriteConfig) -> Cli:
    cli.config_dir = write_config(
        backend("agent", ["busy", "spare"])
        + backend("broken", ["bad"])
        + '[message_backend]\ndefault = "agent"\norder = ["agent"]\n',
        provider("agent", "busy", "limit", API_KEY=SECRET)
        + provider("agent", "spare", API_KEY=SECRET)
        + provider("broken", "bad", "reject", FAKE_ECHO=f"key was {SECRET}"),
    )
    return cli


def test_prompt_prints_the_answer_and_the_rotation(configured: Cli) -> None:
    result = configured("run", "--prompt", "hello there")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "succeeded on agent/spare" in lines[0]
    assert "agent/busy -> usage_limit" in result.stdout
    assert lines[-1] == "spare: hello there"
    assert SECRET not in result.stdout + result.stderr


def test_job_files_with_json_output_and_a_failure_exit_1(configured: Cli, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('prompt = "fine"\n')
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"prompt": "doomed", "backend": "broken"}))
    result = configured("run", "--json", str(good), str(bad))
    assert result.returncode == 1, result.stderr
    results = {item["job_id"]: item for item in map(json.loads, result.stdout.splitlines())}
    assert results["good"]["status"] == "succeeded"
    assert results["good"]["output"] == "spare: fine"
    assert [a["provider"] for a in results["good"]["attempts"]] == ["busy", "spare"]
    assert results["bad"]["status"] == "failed"
    assert "unknown option" in results["bad"]["error"]
    assert SECRET not in result.stdout + result.stderr
    assert "\r" not in result.stdout  # no progress bar when stdout is not a terminal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give job files or --prompt"),
        (("--prompt", "x", "JOB"), "give job files or --prompt"),
        (("--prompt", "x", "--backend", "nope"), "Unknown backend 'nope'"),
        (("--prompt", "   "), "--prompt: "),
        (("JOB",), "field 'timeout'"),
    ],
)
def test_usage_and_job_file_errors_exit_2_before_running(
    configured: Cli, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    job = tmp_path / "job.toml"
    job.write_text('prompt = "x"\ntimeout = "soon"\n')
    result = configured("run", *(str(job) if arg == "JOB" else arg for arg in args))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_config_errors_exit_2(cli: Cli, write_config: WriteConfig) -> None:
    cli.config_dir = write_config('[backends.qwen]\nproviders = ["missing"]\n')
    result = cli("run", "--prompt", "x")
    assert result.returncode == 2
    assert "missing" in result.stderr


def test_state_carries_over_between_runs(configured: Cli) -> None:
    """The limited provider cools down: the next run goes straight to the spare."""
    assert configured("run", "--prompt", "one").returncode == 0
    result = configured("run", "--json", "--prompt", "two")
    attempts = json.loads(result.stdout)["attempts"]
    assert [a["provider"] for a in attempts] == ["spare"]


def test_progress_bar_on_a_terminal(configured: Cli, tmp_path: Path) -> None:
    """With several jobs and a terminal on stdout: a live bar, and every result."""
    jobs = []
    for index in range(3):
        job = tmp_path / f"job{index}.toml"
        job.write_text(f'prompt = "task {index}"\n')
        jobs.append(str(job))
    primary, secondary = pty.openpty()
    with subprocess.Popen(
        configured.argv("run", *jobs),
        stdout=secondary,
        stderr=subprocess.PIPE,
        env=configured.env(),
    ) as process:
        os.close(secondary)
        output = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal closed
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=60) == 0
    os.close(primary)
    text = output.decode(errors="replace")
    for index in range(3):
        assert f"spare: task {index}" in text
    assert "\x1b[" in text  # the bar was drawn (and cleared)
    assert " running" in text  # with the count of running jobs


@pytest.mark.parametrize("how", ["prompt", "job file"])
def test_a_dashed_model_is_a_usage_error_naming_the_option(
    configured: Cli, tmp_path: Path, how: str
) -> None:
    """--model --yolo (or one that would redirect the key) never reaches a CLI: exit 2."""
    run_log = tmp_path / "runs.log"
    job = tmp_path / "job.toml"
    job.write_text('prompt = "hi"\n')
    target = ["--prompt", "hi"] if how == "prompt" else [str(job)]
    result = configured(
        "run", *target, "--model=--openai-base-url=http://127.0.0.1:9/v1",
        env={"FAKE_RUN_LOG": str(run_log)},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--model: must not start with '-'" in result.stderr
    assert not run_log.exists()


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)]
)
def test_a_signal_cancels_every_job_and_leaves_no_cli_behind(
    cli: Cli, write_config: WriteConfig, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    """run stopped by SIGTERM or SIGINT: both running jobs end in printed cancelled results,
    their CLIs are gone, and the exit code is 128 + the signal."""
    run_log = tmp_path / "runs.log"
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n',
        shell_provider("agent", "sh", run_log, work_seconds=60),
    )
    jobs = []
    for name in ("one", "two"):
        jobs.append(tmp_path / f"{name}.toml")
        jobs[-1].write_text(f'prompt = "{name}"\n')
    process = subprocess.Popen(
        cli.argv("run", "--json", *map(str, jobs)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env(),
    )
    pids = Path(f"{run_log}.pids")
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, 30)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == code, stderr
    results = [json.loads(line) for line in stdout.splitlines()]
    assert sorted(r["job_id"] for r in results) == ["one", "two"]
    for result in results:
        assert result["status"] == "failed"
        assert f"was cancelled (orchestrator run received {signum.name})" in result["error"]
    assert f"{signum.name}: stopping; cancelling 2 unfinished job(s)" in stderr
    cli_processes = [Path(f"/proc/{pid}") for pid in pids.read_text().split()]
    wait_until(lambda: not any(path.exists() for path in cli_processes), 10)  # none orphaned
    events = [json.loads(line) for line in cli("events", "--json").stdout.splitlines()]
    kinds = [event["kind"] for event in events]
    assert kinds.count("attempt_started") == kinds.count("attempt_finished") == 2
    ends = [e for e in events if e["kind"] == "attempt_finished"]
    assert {e["outcome"] for e in ends} == {"cancelled"}
    failed = sorted(e["job_id"] for e in events if e["kind"] == "job_failed")
    assert failed == ["one", "two"]


#: A CLI whose helper moves to a session of its own (setsid, out of the process group)
#: and lingers; the CLI itself then waits (``sleep``) or ends at once (``true``).
def escaping_agent(then: str) -> str:
    return f"setsid sh -c 'echo $$ > \"$ESCAPED_PID\"; exec sleep 60' & {then}"


@pytest.mark.parametrize(
    ("then", "options", "status"),
    [("sleep 60", ["--timeout", "1"], "failed"), ("echo answer", [], "succeeded")],
    ids=["timed-out", "answered"],
)
def test_a_descendant_that_left_the_process_group_is_ended_with_its_attempt(
    cli: Cli, write_config: WriteConfig, tmp_path: Path, then: str, options: list[str], status: str
) -> None:
    escaped = tmp_path / "escaped.pid"
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n',
        f'[agent.sh]\ncommand = "/bin/sh"\nargs = ["-c", {json.dumps(escaping_agent(then))}]\n'
        f'ESCAPED_PID = "{escaped}"\n',
    )
    result = cli("run", "--json", "--prompt", "x", *options, timeout=60)
    assert json.loads(result.stdout)["status"] == status, result.stderr
    wait_until(lambda: escaped.exists() and escaped.read_text().strip() != "", 10)
    helper = Path(f"/proc/{escaped.read_text().strip()}")
    wait_until(lambda: not helper.exists(), 10)


def test_a_second_signal_kills_at_once_a_cli_that_ignores_sigterm(
    cli: Cli, write_config: WriteConfig, tmp_path: Path
) -> None:
    """The first SIGTERM starts the 5 s grace; a second one SIGKILLs the group now."""
    import time

    pids = tmp_path / "pids"
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n',
        f'[agent.sh]\ncommand = "/bin/sh"\nargs = ["-c", {json.dumps(STUBBORN_AGENT)}]\n'
        f'PIDS = "{pids}"\n',
    )
    process = subprocess.Popen(
        cli.argv("run", "--json", "--prompt", "x"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env(),
    )
    wait_until(lambda: pids.exists() and pids.read_text().strip() != "", 30)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    second = time.monotonic()
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - second < 4.0, stderr  # the grace alone is 5 s
    assert process.returncode == 143
    assert "SIGTERM again: killing 1 process group(s) now" in stderr
    assert json.loads(stdout)["status"] == "failed"
    assert not Path(f"/proc/{pids.read_text().strip()}").exists()


#: A CLI that ignores SIGTERM (and so does its sleep): only SIGKILL ends it.
STUBBORN_AGENT = "trap '' TERM; echo $$ > \"$PIDS\"; sleep 60"


def test_version(cli: Cli) -> None:
    from importlib.metadata import version

    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"provider-orchestrator {version('provider-orchestrator')}"


def test_idle_timeout_ends_a_silent_attempt_and_the_next_provider_answers(
    cli: Cli, write_config: WriteConfig
) -> None:
    cli.config_dir = write_config(
        backend("agent", ["silent", "spare"]),
        provider("agent", "silent", "hang") + provider("agent", "spare"),
    )
    result = cli("run", "--json", "--prompt", "hi", "--idle-timeout", "1")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert [a["outcome"] for a in answer["attempts"]] == ["timeout", "success"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("worker", "--spool", "/proc/nope"),
            "Error: cannot use /proc/nope as the spool directory: No such file or directory",
        ),
        (
            ("run", "--prompt", "x", "--state-file", "/proc/nope/state.json"),
            "Error: cannot write the state directory /proc/nope: No such file or directory "
            "(choose another with --state-file or $ORCHESTRATOR_STATE_FILE)",
        ),
    ],
    ids=["spool", "state-file"],
)
def test_a_bad_path_is_one_line_and_exit_2(
    configured: Cli, args: tuple[str, ...], message: str
) -> None:
    result = configured(*args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in result.stderr
