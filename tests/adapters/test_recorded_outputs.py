"""Outputs the real pinned CLIs printed (tests/fixtures/cli_output/), classified by the adapters.

Recorded on 2026-11-27 against loopback mocks: claude 2.1.197 with a
subscription token (``CLAUDE_CODE_OAUTH_TOKEN``) and the mock answering with
``anthropic-ratelimit-unified-*`` headers; codex 0.169.0 through a ``-c``
provider answering 429 ``usage_limit_reached``; gemini 0.61.0 answering 429
with a per-day and a per-minute ``QuotaFailure``.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.claude import ADAPTER as CLAUDE
from adapters.claude import judge_claude_line
from adapters.codex import ADAPTER as CODEX
from adapters.gemini import ADAPTER as GEMINI
from orchestrator import AttemptOutcome

from .helpers import finished, request

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cli_output"
#: When the fixtures were recorded (2026-11-27 03:05 UTC).
RECORDED_AT = datetime(2026, 11, 27, 3, 5, tzinfo=UTC).timestamp()
CLAUDE_LIMITS = (
    "claude-2.1.197-session-limit.jsonl",
    "claude-2.1.197-opus-limit.jsonl",
    "claude-2.1.197-weekly-limit.jsonl",
    "claude-2.1.197-weekly-limit-next-year.jsonl",
)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def announced_reset(stdout: str) -> int:
    event = next(json.loads(line) for line in stdout.splitlines() if '"rate_limit_event"' in line)
    resets_at: int = event["rate_limit_info"]["resetsAt"]
    return resets_at


@pytest.mark.usefixtures("at_recording_time")  # the recorded resets lie in the past now
@pytest.mark.parametrize("name", CLAUDE_LIMITS)
def test_claude_rate_limit_event_is_a_limit_until_its_reset(name: str) -> None:
    """A rejected rate_limit_event is a usage limit lasting exactly until resetsAt."""
    stdout = fixture(name)
    resets_at = announced_reset(stdout)
    verdict = CLAUDE.classify(request(backend="claude"), finished(1, stdout=stdout))
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT
    assert verdict.retry_after is not None
    assert abs(time.time() + verdict.retry_after - resets_at) < 5
    event = json.loads(next(line for line in stdout.splitlines() if "rate_limit_event" in line))
    exact = judge_claude_line(event, 1_795_748_700.0)
    assert exact is not None
    assert exact.retry_after == resets_at - 1_795_748_700.0


@pytest.mark.parametrize("name", CLAUDE_LIMITS)
def test_claude_limit_ends_the_attempt_as_soon_as_the_event_is_printed(name: str) -> None:
    """The live scanner judges the rate_limit_event line even when it arrives in pieces."""
    scanner = CLAUDE.scanner(request(backend="claude"))
    stdout = fixture(name)
    upto = stdout.index('"rate_limit_event"') + 200
    verdicts = [scanner.feed("stdout", stdout[i : i + 97]) for i in range(0, upto + 400, 97)]
    found = [v for v in verdicts if v is not None]
    assert found
    assert found[0].outcome is AttemptOutcome.USAGE_LIMIT
    assert "limit was reached" in found[0].message


@pytest.fixture
def at_recording_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapters' clock (``time.time``) reads the time the fixtures were recorded."""
    monkeypatch.setattr(time, "time", lambda: RECORDED_AT)


@pytest.mark.usefixtures("at_recording_time")
def test_claude_text_alone_still_gives_the_reset() -> None:
    """Without the event line, the result text "resets 7:03am (Europe/Paris)" is read."""
    stdout = "\n".join(
        line
        for line in fixture("claude-2.1.197-session-limit.jsonl").splitlines()
        if "rate_limit_event" not in line
    )
    verdict = CLAUDE.classify(request(backend="claude"), finished(1, stdout=stdout))
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT
    assert verdict.retry_after is not None
    reset = announced_reset(fixture("claude-2.1.197-session-limit.jsonl"))
    # The text names the minute (07:03 for 07:03:13); the instant is that minute's end.
    assert RECORDED_AT + verdict.retry_after == reset // 60 * 60 + 60


def test_claude_allowed_warning_is_an_answer() -> None:
    """Close to the limit (allowed_warning) the answer is still a success."""
    stdout = fixture("claude-2.1.197-allowed-warning.jsonl")
    scanner = CLAUDE.scanner(request(backend="claude"))
    assert scanner.feed("stdout", stdout) is None
    verdict = CLAUDE.classify(request(backend="claude"), finished(0, stdout=stdout))
    assert (verdict.outcome, verdict.answer) == (AttemptOutcome.SUCCESS, "PONG")


def test_claude_server_limiting_is_transient_not_a_usage_limit() -> None:
    """claude's "(not your usage limit)" 429 is a short-lived throttle, not a spent account."""
    result = {
        "type": "result",
        "is_error": True,
        "result": "API Error: Server is temporarily limiting requests (not your usage limit)",
    }
    verdict = CLAUDE.classify(request(backend="claude"), finished(1, stdout=json.dumps(result)))
    assert verdict.outcome is AttemptOutcome.TRANSIENT_ERROR


@pytest.mark.usefixtures("at_recording_time")
def test_codex_usage_limit_event_with_local_reset_time() -> None:
    """codex's "try again at 5:03 AM" (printed with TZ=UTC) is read in the child's zone."""
    stdout = fixture("codex-0.169.0-usage-limit.jsonl")
    req = replace(request(backend="codex"), time_zone="UTC")
    verdict = CODEX.classify(req, finished(1, stdout=stdout))
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT
    assert verdict.retry_after == datetime(2026, 11, 27, 5, 4, tzinfo=UTC).timestamp() - RECORDED_AT


def test_gemini_stream_answer_session_and_usage() -> None:
    """gemini's stream-json: the assistant's pieces joined, the session id, the token stats."""
    verdict = GEMINI.classify(
        request(backend="gemini"), finished(0, stdout=fixture("gemini-0.61.0-stream-answer.jsonl"))
    )
    assert (verdict.outcome, verdict.answer) == (AttemptOutcome.SUCCESS, "mock answer")
    assert verdict.session_id == "d865f681-fe94-4f66-b93f-6ac41b92d738"
    assert verdict.usage is not None
    assert (verdict.usage.input_tokens, verdict.usage.output_tokens) == (8, 7)


@pytest.mark.parametrize(
    ("name", "stream"),
    [
        ("gemini-0.61.0-stream-daily-quota.jsonl", "stdout"),
        ("gemini-0.61.0-daily-quota.stderr.txt", "stderr"),
    ],
)
@pytest.mark.usefixtures("at_recording_time")
def test_gemini_daily_quota_cools_until_midnight_pacific(name: str, stream: str) -> None:
    """The terminal daily quota is a limit lasting until the quota rolls over (08:00 UTC)."""
    text = fixture(name)
    output = finished(1, stdout=text) if stream == "stdout" else finished(173, stderr=text)
    verdict = GEMINI.classify(request(backend="gemini"), output)
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT
    midnight_pacific = datetime(2026, 11, 27, 8, 0, tzinfo=UTC).timestamp()
    assert verdict.retry_after == midnight_pacific - RECORDED_AT


def test_gemini_per_minute_quota_is_seen_live_with_its_wait() -> None:
    """A retried per-minute quota is caught on stderr at once, with its 26 s wait."""
    scanner = GEMINI.scanner(request(backend="gemini"))
    verdict = scanner.feed("stderr", fixture("gemini-0.61.0-per-minute-quota.stderr.txt"))
    assert verdict is not None
    assert (verdict.outcome, verdict.retry_after) == (AttemptOutcome.USAGE_LIMIT, 26)


def test_qwen_debug_log_lines_are_limits_with_the_upstream_words() -> None:
    """qwen 0.15.10's debug log: its retried 429 is a usage limit; stack lines are nothing."""
    from adapters.qwen import judge_debug_log_line

    verdicts = [
        judge_debug_log_line(line)
        for line in fixture("qwen-0.15.10-debug-log-429.txt").splitlines()
    ]
    found = [v for v in verdicts if v is not None]
    assert len(found) == 4  # two retries, each logged twice; "aborted" and stacks: nothing
    assert all(v.outcome is AttemptOutcome.USAGE_LIMIT for v in found)
    assert found[0].message.endswith("HTTP 429: Rate limit reached for requests")
    auth = judge_debug_log_line("[ERROR] [OPENAI_ERROR] OpenAI API Error: 401 Incorrect API key")
    assert auth is not None
    assert auth.outcome is AttemptOutcome.AUTH_ERROR


def test_qwen_debug_log_lives_in_the_childs_runtime_dir() -> None:
    """QWEN_RUNTIME_DIR, else QWEN_HOME, else ~/.qwen, of the child's environment."""
    from adapters.qwen import debug_log_path

    assert debug_log_path({"HOME": "/h"}, "s") == Path("/h/.qwen/debug/s.txt")
    assert debug_log_path({"HOME": "/h", "QWEN_HOME": "/q"}, "s") == Path("/q/debug/s.txt")
    both = {"HOME": "/h", "QWEN_HOME": "/q", "QWEN_RUNTIME_DIR": "/r"}
    assert debug_log_path(both, "s") == Path("/r/debug/s.txt")
    assert debug_log_path({"QWEN_HOME": "relative"}, "s") is None
    assert debug_log_path({}, "s") is None
