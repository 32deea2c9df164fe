"""Work carried across a limit, end to end through the supervisor with a fake session CLI:
resume on the next provider (shared or separate homes), hand-over to another backend."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from adapters.generic import CliAdapter
from orchestrator import Adapter, AttemptOutcome, Job, JobResult, load_adapter, load_config
from orchestrator._supervisor import Supervisor
from orchestrator.resume import HANDOVER_LIMIT, SessionStore

from ..conftest import WriteConfig

pytestmark = pytest.mark.anyio

SESSION_CLI = Path(__file__).parent.parent / "fakes" / "session_cli.py"
SECRET = "sk-resume-secret-0123456789"
#: The fake's layout: ``<FAKE_HOME or ~/.fake>/sessions/<id>.jsonl``.
SESSIONS = CliAdapter(
    name="sessions",
    binary=None,
    usage_markers=("rate limit",),
    session_flag="--session-id",
    resume_args=("--resume", "{session}"),
    session_store=SessionStore((("FAKE_HOME", ""),), ".fake", "sessions/{session}.jsonl"),
    progress=lambda stdout: '"type": "assistant"' in stdout,
)
#: Another kind of CLI, which cannot read those sessions: it gets a hand-over.
PLAIN = CliAdapter(name="plain", binary=None, usage_markers=("rate limit",))


def loader(name: str) -> Adapter:
    chosen = {"generic": SESSIONS, "codex": PLAIN}.get(name)
    return cast(Adapter, chosen) if chosen is not None else load_adapter(name)


def session_provider(name: str, mode: str, argv_log: Path, **env: str) -> str:
    settings = "".join(f'{key} = "{value}"\n' for key, value in env.items())
    return (
        f"[agent.{name}]\ncommand = {sys.executable!r}\nargs = [{str(SESSION_CLI)!r}]\n"
        f'FAKE_MODE = "{mode}"\nFAKE_NAME = "{name}"\nFAKE_ARGV_LOG = "{argv_log}"\n'
        f'API_KEY = "{SECRET}"\n{settings}'
    )


async def run(directory: Path, home: Path, job: Job) -> JobResult:
    config = load_config(directory, environ={})
    base = {"PATH": os.environ["PATH"], "HOME": str(home)}
    supervisor = Supervisor(config, base_environment=base, adapter_loader=loader)
    return await supervisor.run_job(job)


def argv_of(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


AGENT = '[backends.agent]\nbackend_type = "generic"\nproviders = ["first", "second"]\n'


@pytest.mark.parametrize("homes", ["shared", "separate"])
async def test_a_limit_after_work_resumes_the_session_on_the_next_provider(
    write_config: WriteConfig, tmp_path: Path, homes: str
) -> None:
    log = tmp_path / "argv.jsonl"
    first_home, second_home = tmp_path / "home-first", tmp_path / "home-second"
    separate = homes == "separate"
    directory = write_config(
        AGENT,
        session_provider(
            "first", "work_then_limit", log, **({"FAKE_HOME": str(first_home)} if separate else {})
        )
        + session_provider(
            "second", "answer", log, **({"FAKE_HOME": str(second_home)} if separate else {})
        ),
    )
    result = await run(directory, tmp_path / "home", Job(prompt="build the thing"))
    assert result.status == "succeeded", result.error
    first, second = result.attempts
    assert first.outcome is AttemptOutcome.USAGE_LIMIT
    assert first.session_id is not None
    assert (second.session_id, second.resumed_from) == (first.session_id, 1)
    assert result.session_id is None or result.session_id == first.session_id
    assert f"resumed {first.session_id} after 3 entries" in result.output  # prompt, step, call
    started, resumed = argv_of(log)
    assert started[-1] == "build the thing"
    assert resumed[:2] == ["--resume", first.session_id]
    assert resumed[-1].startswith("Your previous provider stopped you")
    if separate:
        carried = second_home / "sessions" / f"{first.session_id}.jsonl"
        assert carried.exists()  # carried into the second account's home, and only there
        assert stat.S_IMODE(carried.stat().st_mode) == 0o600
        assert not (tmp_path / "home" / ".fake").exists()


async def test_a_limit_before_any_work_starts_fresh(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    log = tmp_path / "argv.jsonl"
    directory = write_config(
        AGENT,
        session_provider("first", "limit", log) + session_provider("second", "answer", log),
    )
    result = await run(directory, tmp_path / "home", Job(prompt="build the thing"))
    assert result.status == "succeeded"
    assert result.attempts[1].resumed_from is None
    assert "--resume" not in argv_of(log)[1]
    assert argv_of(log)[1][-1] == "build the thing"


@pytest.mark.parametrize("where", ["backend", "job"])
async def test_resume_can_be_switched_off(
    write_config: WriteConfig, tmp_path: Path, where: str
) -> None:
    log = tmp_path / "argv.jsonl"
    backend = AGENT + ("resume = false\n" if where == "backend" else "")
    directory = write_config(
        backend,
        session_provider("first", "work_then_limit", log)
        + session_provider("second", "answer", log),
    )
    job = Job(prompt="build the thing", resume=False if where == "job" else None)
    result = await run(directory, tmp_path / "home", job)
    assert result.status == "succeeded"
    assert "--resume" not in argv_of(log)[1]
    assert result.attempts[1].resumed_from is None


async def test_a_custom_continuation_prompt(write_config: WriteConfig, tmp_path: Path) -> None:
    log = tmp_path / "argv.jsonl"
    directory = write_config(
        AGENT + 'resume_prompt = "carry on, please"\n',
        session_provider("first", "work_then_limit", log)
        + session_provider("second", "answer", log),
    )
    await run(directory, tmp_path / "home", Job(prompt="build the thing"))
    assert argv_of(log)[1][-1] == "carry on, please"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one file the agent half made (untracked)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "first.txt").write_text("half made\n")
    return repo


async def test_a_fallback_to_another_cli_gets_a_bounded_redacted_handover(
    write_config: WriteConfig, tmp_path: Path, repo: Path
) -> None:
    """The second backend's CLI cannot read the session: its prompt is the original one,
    the digest of the work (no secret in it) and the working tree's changes."""
    log, plain_log = tmp_path / "argv.jsonl", tmp_path / "plain.jsonl"
    directory = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["first"]\n'
        '[backends.other]\nbackend_type = "codex"\nproviders = ["plain"]\n'
        '[message_backend]\ndefault = "agent"\norder = ["agent", "other"]\n',
        session_provider("first", "work_then_limit", log)
        + f"[other.plain]\ncommand = {sys.executable!r}\n"
        f'args = [{str(SESSION_CLI)!r}, "--session-id", "x"]\n'
        f'FAKE_ARGV_LOG = "{plain_log}"\nFAKE_NAME = "plain"\n',
    )
    result = await run(directory, tmp_path / "home", Job(prompt="build the thing", cwd=repo))
    assert result.status == "succeeded", result.error
    assert (result.backend, result.attempts[1].handed_over_from) == ("other", 1)
    prompt = argv_of(plain_log)[0][-1]
    assert prompt.startswith("build the thing\n\n---\n\nHand-over: another coding agent (agent)")
    assert "step done by first" in prompt
    assert "tool call: write_file" in prompt
    assert "?? first.txt" in prompt  # git status of the job's working directory
    assert SECRET not in prompt
    assert len(prompt) < len("build the thing") + HANDOVER_LIMIT + 2000
