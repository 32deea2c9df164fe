"""Claude Code: ``claude --model MODEL --output-format stream-json --verbose -p PROMPT``.

Stream-json (which needs ``--verbose`` with ``-p``) rather than json, because
only the stream says what happens while it happens (claude 2.1.197 against
mock APIs, recorded in tests/fixtures/cli_output/):

- API keys: claude retries a 429 or a 401 on its own for minutes, printing one
  ``{"type":"system","subtype":"api_retry",...,"error":"rate_limit"}`` line
  per retry; the first one ends the attempt.
- Subscriptions (``CLAUDE_CODE_OAUTH_TOKEN`` or a login): a 429 is not
  retried. A ``{"type":"rate_limit_event","rate_limit_info":{"status":
  "rejected","resetsAt":<unix s>,"rateLimitType":"five_hour",...}}`` line
  comes first, then a ``result`` with ``is_error: true`` and the text
  ``You've hit your session limit · resets 7:03am (Europe/Paris)``, exit 1.
  The event gives the exact reset; the text is the fallback.

The final ``{"type":"result"}`` line is the answer.

Sessions: ``--session-id UUID`` names each attempt's session up front;
``--resume UUID`` continues it on another provider (the transcript carried to
its ``CLAUDE_CONFIG_DIR`` when that differs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator import AttemptOutcome, Classification, Headroom
from orchestrator.resume import SessionStore

from ._json import assistant_spoke, result_message
from .generic import TRANSIENT_MARKERS, CliAdapter

#: An ``api_retry`` line for a 429 (and the older assistant-message form).
RATE_LIMIT_EVENT = '"error":"rate_limit"'
#: An ``api_retry`` line for a 401 or 403.
AUTH_FAILED_EVENT = '"error":"authentication_failed"'
#: ``<CLAUDE_CONFIG_DIR or ~/.claude>/projects/<cwd, non-alphanumerics as ->/<session>.jsonl``
#: (claude 2.1.197; ``--resume`` looks in the project of the cwd only).
CLAUDE_SESSIONS = SessionStore(
    (("CLAUDE_CONFIG_DIR", ""),), ".claude", "projects/*/{session}.jsonl"
)
#: Claude Code's own Bash tool may run 10 minutes without a word.
IDLE_TIMEOUT = 660.0


def judge_claude_line(event: dict[str, Any], now: float) -> Classification | None:
    """A usage limit from a ``rate_limit_event`` whose status is ``rejected``."""
    info = _rate_limit_info(event)
    if info is None or info.get("status") != "rejected":
        return None
    kind = info.get("rateLimitType")
    which = f"{kind} " if isinstance(kind, str) and kind.isidentifier() else ""
    resets = _resets_at(info)
    if resets is not None:
        when = datetime.fromtimestamp(resets, UTC).isoformat(timespec="seconds")
        return Classification(
            AttemptOutcome.USAGE_LIMIT,
            f"usage limit: claude's {which}limit was reached; it resets at {when}",
            retry_after=max(0.0, resets - now),
        )
    return Classification(
        AttemptOutcome.USAGE_LIMIT, f"usage limit: claude's {which}limit was reached"
    )


def claude_headroom(event: dict[str, Any], now: float) -> Headroom | None:
    """A ``rate_limit_event`` reading: ``allowed_warning`` with its utilization and reset."""
    info = _rate_limit_info(event)
    if info is None or info.get("status") not in ("allowed", "allowed_warning"):
        return None
    utilization = _number(info.get("utilization"))
    if utilization is None:
        # A warning without a figure is still a warning: as near as it gets.
        utilization = 1.0 if info["status"] == "allowed_warning" else 0.0
    return Headroom(min(1.0, max(0.0, utilization)), _resets_at(info), now)


def _rate_limit_info(event: dict[str, Any]) -> dict[str, Any] | None:
    if event.get("type") != "rate_limit_event":
        return None
    info = event.get("rate_limit_info")
    return info if isinstance(info, dict) else None


def _resets_at(info: dict[str, Any]) -> float | None:
    resets = _number(info.get("resetsAt"))
    return resets if resets is not None and resets > 0 else None


def _number(value: Any) -> float | None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number else None


ADAPTER = CliAdapter(
    name="claude",
    binary="claude",
    model_flag="--model",
    output_args=("--output-format", "stream-json", "--verbose"),
    prompt_style="print_flag",
    usage_markers=(
        "rate_limit_error",
        "5-hour limit reached",
        "you've hit your",  # session, weekly, Opus, Sonnet, monthly spend limits
        "out of usage credits",
        "usage credit cap is reached",
        RATE_LIMIT_EVENT,
    ),
    # A subscriber's 429 without the usage headers: "API Error: Server is
    # temporarily limiting requests (not your usage limit)".
    transient_markers=(*TRANSIENT_MARKERS, "temporarily limiting requests"),
    live_stdout_markers=(RATE_LIMIT_EVENT,),
    live_stdout_auth_markers=(AUTH_FAILED_EVENT,),
    parse=result_message,
    base_url_env="ANTHROPIC_BASE_URL",
    key_env=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    line_judge=judge_claude_line,
    line_headroom=claude_headroom,
    default_idle_timeout=IDLE_TIMEOUT,
    limit_signal="stream-json events on stdout (rate_limit_event, api_retry), at the first 429",
    session_flag="--session-id",
    resume_args=("--resume", "{session}"),
    session_store=CLAUDE_SESSIONS,
    progress=assistant_spoke,
    flag_aliases=(
        frozenset({"--model"}),
        frozenset({"--output-format"}),
        frozenset({"-p", "--print"}),
    ),
    output_modes=("stream-json", "json"),
)
