"""Results as people read them: who ended an attempt, and why."""

from __future__ import annotations

from orchestrator import Attempt, AttemptOutcome, JobResult
from orchestrator.cli._render import render_result


def failed_with(outcome: AttemptOutcome, exit_code: int) -> str:
    attempt = Attempt(
        backend="qwen",
        provider="openrouter",
        model=None,
        outcome=outcome,
        exit_code=exit_code,
        duration=2.0,
        message="429 rate limit",
    )
    result = JobResult(job_id="j", status="failed", attempts=(attempt,), error="Error: no")
    return render_result(result)


def test_a_limit_the_orchestrator_ended_says_so() -> None:
    text = failed_with(AttemptOutcome.USAGE_LIMIT, -15)
    assert "qwen/openrouter -> usage_limit, ended by the orchestrator (SIGTERM)" in text


def test_a_cli_killed_from_outside_says_so() -> None:
    text = failed_with(AttemptOutcome.FAILURE, -9)
    assert "killed by SIGKILL (not sent by the orchestrator)" in text


def test_an_exit_code_is_shown_as_such() -> None:
    assert "-> failure, exit 3, 2.0 s" in failed_with(AttemptOutcome.FAILURE, 3)


def test_the_chain_of_carried_work_is_shown() -> None:
    def attempt(**fields: object) -> Attempt:
        base = {"backend": "claude", "provider": "a", "model": None, "exit_code": 0}
        return Attempt.model_validate({**base, "outcome": "usage_limit", "duration": 1.0, **fields})

    result = JobResult(
        job_id="j",
        status="succeeded",
        backend="codex",
        provider="c",
        attempts=(
            attempt(session_id="s-1"),
            attempt(provider="b", session_id="s-1", resumed_from=1),
            attempt(backend="codex", provider="c", outcome="success", handed_over_from=2),
        ),
        output="done",
    )
    lines = render_result(result).splitlines()
    assert "claude/b (resumed attempt 1's session) -> usage_limit" in lines[2]
    assert "codex/c (handed attempt 2's work over) -> success" in lines[3]
