"""The shared argv building and classification every adapter uses."""

from __future__ import annotations

import pytest

from adapters.generic import ADAPTER as GENERIC
from adapters.generic import LimitScanner
from adapters.qwen import ADAPTER as QWEN
from orchestrator import AttemptOutcome, UsageError

from .helpers import finished, request


def test_generic_runs_provider_command_with_prompt_last() -> None:
    """The generic adapter runs the provider's command + args + options, prompt last."""
    req = request(provider={"command": "tool", "args": ("--x",)}, options=("-v",))
    assert GENERIC.build(req).argv == ("tool", "--x", "-v", "say ping")


def test_generic_prompt_on_stdin() -> None:
    """`prompt_via = "stdin"` sends the prompt on stdin and keeps it out of argv."""
    req = request(provider={"command": "tool", "options": {"prompt_via": "stdin"}})
    invocation = GENERIC.build(req)
    assert invocation.argv == ("tool",)
    assert invocation.stdin == b"say ping"


def test_generic_without_command_is_a_usage_error() -> None:
    """The generic adapter has no binary of its own: a provider must name one."""
    with pytest.raises(UsageError, match="needs a command"):
        GENERIC.build(request(backend="generic"))


def test_dashed_prompt_is_not_a_flag() -> None:
    """A prompt starting with '-' stays one argv element that the CLI reads as text."""
    assert GENERIC.build(request("-rf /", provider={"command": "t"})).argv == ("t", "--", "-rf /")
    assert QWEN.build(request("--help")).argv[-1] == "--prompt=--help"


def test_noedit_mode_uses_noedit_options() -> None:
    """mode=noedit selects options_for_noedit instead of options."""
    req = request(mode="noedit", options=("-y",), options_for_noedit=("--plan",))
    assert "--plan" in QWEN.build(req).argv
    assert "-y" not in QWEN.build(req).argv


def test_job_model_overrides_backend_model() -> None:
    """The job's model wins over the backend's."""
    argv = QWEN.build(request(job_model="qwen-max", model="qwen3-coder-plus")).argv
    assert argv[argv.index("-m") + 1] == "qwen-max"
    argv = QWEN.build(request(model="qwen3-coder-plus")).argv
    assert argv[argv.index("-m") + 1] == "qwen3-coder-plus"
    assert "-m" not in QWEN.build(request()).argv


def test_success_is_judged_by_exit_and_structure_not_words() -> None:
    """An answer that mentions 'quota' with exit 0 is a success, not a limit."""
    verdict = GENERIC.classify(request(), finished(0, stdout="the quota is 429 per day"))
    assert verdict.outcome is AttemptOutcome.SUCCESS
    assert verdict.answer == "the quota is 429 per day"


@pytest.mark.parametrize(
    ("stderr", "outcome"),
    [
        ("Error: 429 rate limit exceeded, retry after 30s", AttemptOutcome.USAGE_LIMIT),
        ("Error: 401 Unauthorized", AttemptOutcome.AUTH_ERROR),
        ("Error: socket hang up", AttemptOutcome.TRANSIENT_ERROR),
        ("Error: something odd", AttemptOutcome.FAILURE),
    ],
)
def test_failed_exit_is_classified_from_error_text(stderr: str, outcome: AttemptOutcome) -> None:
    """A non-zero exit is a limit, auth, transient error or failure by its error text."""
    assert QWEN.classify(request(), finished(1, stderr=stderr)).outcome is outcome


def test_limit_carries_retry_after() -> None:
    """The announced wait reaches the verdict."""
    verdict = QWEN.classify(request(), finished(1, stderr="429: Retry-After: 42"))
    assert verdict.retry_after == 42


def test_backend_usage_markers_are_added() -> None:
    """The backend's usage_markers count as limits too."""
    req = request(usage_markers=("daily allowance spent",))
    verdict = QWEN.classify(req, finished(3, stderr="Daily allowance spent."))
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT


def test_timeout_and_launch_error() -> None:
    """An idle timeout with no limit text is a timeout; a failed spawn a launch error."""
    idle = QWEN.classify(request(), finished(-15, timed_out="idle"))
    assert idle.outcome is AttemptOutcome.TIMEOUT
    assert "idle" in idle.message
    limited = QWEN.classify(request(), finished(-15, stderr="429", timed_out="idle"))
    assert limited.outcome is AttemptOutcome.USAGE_LIMIT
    launch = QWEN.classify(request(), finished(None, launch_error="qwen: not found"))
    assert launch.outcome is AttemptOutcome.LAUNCH_ERROR


def test_failure_message_names_exit_code_and_last_line() -> None:
    """A failure says the exit code and the last error line."""
    verdict = GENERIC.classify(request(), finished(2, stderr="first\nlast words\n"))
    assert verdict.message == "exit code 2: last words"


def test_live_scanner_finds_marker_split_across_reads() -> None:
    """A marker split between two chunks of stderr is still found."""
    scanner = LimitScanner(stderr_markers=("rate limit",), stdout_markers=())
    assert scanner.feed("stderr", "error: rate li") is None
    verdict = scanner.feed("stderr", "mit hit")
    assert verdict is not None
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT


def test_live_scanner_ignores_answer_text() -> None:
    """stdout is only scanned for structured markers, never the answer's words."""
    scanner = QWEN.scanner(request())
    assert scanner.feed("stdout", "rate limit quota 429") is None
    assert scanner.feed("stderr", "HTTP 429") is not None
