"""The four real-CLI adapters: argv as the CLIs expect it, and their output modes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from adapters.claude import ADAPTER as CLAUDE
from adapters.claude import AUTH_FAILED_EVENT, RATE_LIMIT_EVENT
from adapters.codex import ADAPTER as CODEX
from adapters.gemini import ADAPTER as GEMINI
from adapters.generic import CliAdapter
from adapters.qwen import ADAPTER as QWEN
from orchestrator import AttemptOutcome, TokenUsage, load_adapter

from .helpers import finished, request


def test_qwen_argv() -> None:
    """qwen: options, -m MODEL, -o stream-json, --session-id UUID, -p PROMPT."""
    req = request(model="qwen3-coder-plus", options=("-y",))
    invocation = QWEN.build(req)
    assert invocation.session_id is not None
    assert invocation.argv == (
        "qwen", "-y", "-m", "qwen3-coder-plus", "-o", "stream-json",
        "--session-id", invocation.session_id, "-p", "say ping",
    )  # fmt: skip
    assert QWEN.build(req).session_id != invocation.session_id  # one per attempt


def test_qwen_options_that_pick_a_session_keep_it() -> None:
    """A backend whose options resume or name a session gets no second session flag."""
    for options in (("--resume", "abc"), ("--session-id=abc",), ("-c",)):
        invocation = QWEN.build(request(options=options))
        assert invocation.session_id is None
        assert invocation.argv.count("--session-id") == 0
        assert invocation.watched_log is None


def test_provider_command_replaces_binary() -> None:
    """A provider's command + args launch the CLI instead of its own binary."""
    req = request(provider={"command": "uvx", "args": ("qwen-openai-proxy",)})
    assert QWEN.build(req).argv[:2] == ("uvx", "qwen-openai-proxy")


def test_gemini_argv() -> None:
    """gemini: -m MODEL -o stream-json --session-id UUID -p PROMPT."""
    req = request(backend="gemini", model="gemini-2.5-pro")
    invocation = GEMINI.build(req)
    assert invocation.session_id is not None
    assert invocation.argv == (
        "gemini", "-m", "gemini-2.5-pro", "-o", "stream-json",
        "--session-id", invocation.session_id, "-p", "say ping",
    )  # fmt: skip


def test_claude_argv() -> None:
    """claude: --model MODEL --output-format stream-json --verbose --session-id UUID -p
    PROMPT."""
    req = request(backend="claude", model="sonnet")
    invocation = CLAUDE.build(req)
    assert invocation.session_id is not None
    assert invocation.argv == (
        "claude", "--model", "sonnet", "--output-format", "stream-json", "--verbose",
        "--session-id", invocation.session_id, "-p", "say ping",
    )  # fmt: skip
    assert CLAUDE.build(request("-x", backend="claude")).argv[-3:] == ("-p", "--", "-x")


RESUMED = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


@pytest.mark.parametrize(
    ("adapter", "backend", "resume"),
    [
        (QWEN, "qwen", ("--resume", RESUMED)),
        (CLAUDE, "claude", ("--resume", RESUMED)),
        (GEMINI, "gemini", ("--resume", RESUMED)),
        (CODEX, "codex", ("resume", RESUMED)),  # codex exec resume ID
    ],
)
def test_a_resumed_attempt_continues_its_session_with_the_continuation(
    adapter: CliAdapter, backend: str, resume: tuple[str, ...]
) -> None:
    """The forms each pinned CLI resumed with against mocks (2026-11-27): the session
    resumed right after the subcommand, no new session id, the continuation as prompt."""
    req = replace(
        request(backend=backend, options=("--opt",)),
        resume_session=RESUMED,
        prompt_override="go on",
    )
    invocation = adapter.build(req)
    argv = invocation.argv
    start = 2 if backend == "codex" else 1
    assert argv[start : start + 2] == resume
    assert "--opt" in argv
    assert "--session-id" not in argv
    assert "go on" in argv
    assert "say ping" not in argv
    assert invocation.session_id == RESUMED


def test_options_for_resume_replace_options_and_may_name_the_session() -> None:
    """auto-coder's options_for_resume with [sessionId]: used as they are, no flag added."""
    req = replace(
        request(
            backend="claude",
            options=("--new-only",),
            options_for_resume=("-r", "[sessionId]", "--fork-session"),
        ),
        resume_session=RESUMED,
    )
    argv = CLAUDE.build(req).argv
    assert argv[1:4] == ("-r", RESUMED, "--fork-session")
    assert "--new-only" not in argv
    assert "--resume" not in argv
    plain = replace(
        request(backend="claude", options_for_resume=("--verbose-x",)), resume_session=RESUMED
    )
    assert CLAUDE.build(plain).argv[1:4] == ("--resume", RESUMED, "--verbose-x")


def test_codex_argv() -> None:
    """codex: the exec subcommand, never the interactive UI."""
    req = request(backend="codex", model="gpt-5-codex")
    assert CODEX.build(req).argv == (
        "codex", "exec", "-m", "gpt-5-codex", "--json", "--skip-git-repo-check", "say ping",
    )  # fmt: skip


QWEN_JSON = json.dumps(
    [
        {"type": "system", "subtype": "init", "session_id": "s-1", "model": "qwen3"},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": "pong"}]}},
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": "pong",
            "session_id": "s-1",
            "usage": {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12},
        },
    ]
)


def test_qwen_json_output() -> None:
    """qwen's JSON array: the final result gives answer, session id and usage."""
    verdict = QWEN.classify(request(), finished(0, stdout=QWEN_JSON))
    assert verdict.outcome is AttemptOutcome.SUCCESS
    assert verdict.answer == "pong"
    assert verdict.session_id == "s-1"
    assert verdict.usage == TokenUsage(input_tokens=10, output_tokens=2, total_tokens=12)


def test_claude_json_error_result_is_a_limit() -> None:
    """A claude result with is_error and a limit text is a usage limit even on exit 0."""
    stdout = json.dumps(
        {
            "type": "result",
            "subtype": "success",
            "is_error": True,
            "result": "Claude AI usage limit: 5-hour limit reached, resets in 2h",
            "session_id": "c-9",
        }
    )
    verdict = CLAUDE.classify(request(backend="claude"), finished(0, stdout=stdout))
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT
    assert verdict.retry_after == 7200
    assert verdict.session_id == "c-9"


def api_retry(error: str, status: int) -> str:
    """A retry line as Claude Code 2.1.197 prints it in stream-json mode."""
    return json.dumps(
        {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10,
         "retry_delay_ms": 1100.5, "error_status": status, "error": error, "session_id": "s"},
        separators=(",", ":"),
    ) + "\n"  # fmt: skip


def test_claude_live_retry_lines_end_the_attempt() -> None:
    """A retried 429 is a usage limit and a retried 401 an auth error, while claude runs."""
    scanner = CLAUDE.scanner(request(backend="claude"))
    init = '{"type":"system","subtype":"init","session_id":"s","tools":[]}\n'
    assert scanner.feed("stdout", init) is None
    limit = scanner.feed("stdout", api_retry("rate_limit", 429))
    assert limit is not None
    assert limit.outcome is AttemptOutcome.USAGE_LIMIT
    fresh = CLAUDE.scanner(request(backend="claude"))
    auth = fresh.feed("stdout", api_retry("authentication_failed", 401))
    assert auth is not None
    assert auth.outcome is AttemptOutcome.AUTH_ERROR
    assert RATE_LIMIT_EVENT in api_retry("rate_limit", 429)
    assert AUTH_FAILED_EVENT in api_retry("authentication_failed", 401)


def test_claude_answer_text_is_not_scanned() -> None:
    """An answer that quotes the marker is not a limit: answers are not api_retry lines."""
    scanner = CLAUDE.scanner(request(backend="claude"))
    answer = json.dumps({"type": "assistant", "message": {"content": [{"type": "text",
              "text": 'the "error":"rate_limit" field'}]}})  # fmt: skip
    assert scanner.feed("stdout", answer + "\n") is None


def test_claude_stream_json_result() -> None:
    """The last result line of the stream is the answer, with session and usage."""
    lines = [
        '{"type":"system","subtype":"init","session_id":"c-1"}',
        '{"type":"assistant","message":{"content":[{"type":"text","text":"pong"}]}}',
        json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "pong",
                    "session_id": "c-1", "usage": {"input_tokens": 3, "output_tokens": 1}}),
    ]  # fmt: skip
    verdict = CLAUDE.classify(request(backend="claude"), finished(0, stdout="\n".join(lines)))
    assert verdict.outcome is AttemptOutcome.SUCCESS
    assert (verdict.answer, verdict.session_id) == ("pong", "c-1")
    assert verdict.usage == TokenUsage(input_tokens=3, output_tokens=1, total_tokens=4)


def test_gemini_json_output() -> None:
    """gemini's object: response, and token counts summed across models."""
    stdout = json.dumps(
        {
            "response": "pong",
            "stats": {
                "models": {"gemini-2.5-pro": {"tokens": {"prompt": 7, "candidates": 1, "total": 8}}}
            },
        }
    )
    verdict = GEMINI.classify(request(backend="gemini"), finished(0, stdout=stdout))
    assert verdict.answer == "pong"
    assert verdict.usage == TokenUsage(input_tokens=7, output_tokens=1, total_tokens=8)


def test_gemini_json_error_is_classified() -> None:
    """gemini's error object is judged by its message."""
    stdout = json.dumps({"error": {"type": "ApiError", "message": "RESOURCE_EXHAUSTED: quota"}})
    verdict = GEMINI.classify(request(backend="gemini"), finished(1, stdout=stdout))
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT


def test_codex_json_lines() -> None:
    """codex's events: thread id, last agent message, usage."""
    lines = [
        {"type": "thread.started", "thread_id": "t-1"},
        {"type": "item.completed", "item": {"type": "reasoning", "text": "hmm"}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "pong"}},
        {"type": "turn.completed", "usage": {"input_tokens": 5, "output_tokens": 1}},
    ]
    stdout = "\n".join(json.dumps(line) for line in lines)
    verdict = CODEX.classify(request(backend="codex"), finished(0, stdout=stdout))
    assert (verdict.answer, verdict.session_id) == ("pong", "t-1")
    assert verdict.usage == TokenUsage(input_tokens=5, output_tokens=1, total_tokens=6)


def test_codex_turn_failed_limit() -> None:
    """codex's turn.failed with a usage-limit message is a limit."""
    stdout = json.dumps(
        {"type": "turn.failed", "error": {"message": "You've hit your usage limit"}}
    )
    verdict = CODEX.classify(request(backend="codex"), finished(1, stdout=stdout))
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT


@pytest.mark.parametrize("adapter", [QWEN, CLAUDE, GEMINI, CODEX])
def test_text_mode_output_is_the_answer(adapter: object) -> None:
    """When options switch the CLI to text output, stdout is the answer."""
    verdict = adapter.classify(request(), finished(0, stdout="pong\n"))  # type: ignore[attr-defined]
    assert verdict.answer == "pong"


def test_qwen_api_error_result_is_not_an_answer() -> None:
    """qwen exits 0 with "[API Error: ...]" as its result when the API failed."""
    stdout = json.dumps(
        [
            {"type": "system", "subtype": "init", "session_id": "q-1"},
            {"type": "result", "subtype": "success", "is_error": False, "session_id": "q-1",
             "result": "[API Error: Connection error. (cause: fetch failed)]"},
        ]
    )  # fmt: skip
    verdict = QWEN.classify(request(), finished(0, stdout=stdout))
    assert verdict.outcome is AttemptOutcome.TRANSIENT_ERROR
    assert verdict.answer == ""
    limited = stdout.replace("Connection error. (cause: fetch failed)", "429 Rate limit exceeded")
    assert QWEN.classify(request(), finished(0, stdout=limited)).outcome is (
        AttemptOutcome.USAGE_LIMIT
    )


@pytest.mark.parametrize("backend", ["qwen", "claude", "gemini", "codex", "generic"])
def test_a_job_can_never_put_a_flag_where_the_model_goes(backend: str) -> None:
    """Every adapter: a dashed model cannot even become a job, so it never reaches argv;
    the model the argv gets is the job's value right after the model flag."""
    import pydantic

    from orchestrator import Job

    with pytest.raises(pydantic.ValidationError, match="must not start with '-'"):
        Job(prompt="x", model="--yolo")
    req = request(backend=backend, job_model="m-1", provider={"command": "cli"})
    argv = load_adapter(backend).build(req).argv
    assert not any(arg.startswith("-") and "m-1" in arg for arg in argv)
    if backend != "generic":
        assert argv[argv.index("m-1") - 1] in ("-m", "--model")
