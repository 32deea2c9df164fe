"""Gemini CLI (``gemini``): ``gemini -m MODEL -o stream-json -p PROMPT``.

stream-json prints one event per line as the agent works (gemini 0.61.0,
recorded in tests/fixtures/cli_output/): ``init`` (the session id),
``message`` (``role`` user or assistant; assistant text comes in ``delta``
pieces), ``tool_use`` / ``tool_result``, and a final ``result`` with
``status`` ``success`` or ``error`` (``error.message``) and token ``stats``.
The older ``-o json`` object (``response``, ``error``, ``stats.models``) is
still read, for a backend whose options choose it.

Limits: a retried 429 is logged on stderr at once (``Attempt 1 failed with
status 429``, or ``Attempt 1 failed: You exceeded your current quota ...
Suggested retry after 26s.``); a per-day quota fails at once with ``You have
exhausted your daily quota on this model.``, which cools the provider until
the quota rolls over at midnight Pacific time.
"""

from __future__ import annotations

from typing import Any

from orchestrator import TokenUsage
from orchestrator.resume import SessionStore

from ._json import json_events, loads_or_none, token_usage
from .generic import YARGS_FLAG_ALIASES, CliAdapter, ParsedOutput, plain_text


def parse_gemini(stdout: str) -> ParsedOutput:
    """Answer, error, session and token counts from stream-json lines or the json object."""
    value = loads_or_none(stdout)
    if isinstance(value, dict) and ({"response", "error"} & set(value)):
        return _parse_json_object(value)
    events = [loads_or_none(line) for line in stdout.splitlines() if line.startswith("{")]
    events = [event for event in events if isinstance(event, dict) and "type" in event]
    if not events:
        return plain_text(stdout)
    return _parse_stream(events)


def _parse_stream(events: list[dict[str, Any]]) -> ParsedOutput:
    answer: list[str] = []
    session_id: str | None = None
    error_text = ""
    finished = False
    usage = None
    for event in events:
        kind = event["type"]
        if kind == "init" and isinstance(event.get("session_id"), str):
            session_id = event["session_id"]
        elif kind == "message" and event.get("role") == "assistant":
            content = event.get("content")
            answer.append(content if isinstance(content, str) else "")
        elif kind in ("tool_use", "tool_result"):
            answer.clear()  # the answer is what the agent said after its last tool
        elif kind == "result":
            finished = event.get("status") == "success"
            error_text = "" if finished else _error_text(event.get("error")) or "error"
            stats = event.get("stats")
            usage = token_usage(stats) if isinstance(stats, dict) else None
    return ParsedOutput(
        answer="".join(answer).strip() if finished else "",
        is_error=not finished,
        error_text=error_text,
        session_id=session_id,
        usage=usage,
    )


def _parse_json_object(value: dict[str, Any]) -> ParsedOutput:
    error_text = _error_text(value.get("error"))
    response = value.get("response")
    session_id = value.get("session_id") or value.get("sessionId")
    return ParsedOutput(
        answer=response if isinstance(response, str) else "",
        is_error=bool(error_text),
        error_text=error_text,
        session_id=session_id if isinstance(session_id, str) else None,
        usage=_usage(value.get("stats")),
    )


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "error")
    return str(error) if error else ""


def _usage(stats: Any) -> TokenUsage | None:
    models = stats.get("models") if isinstance(stats, dict) else None
    if not isinstance(models, dict):
        return None
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    names = {"prompt": "input_tokens", "candidates": "output_tokens", "total": "total_tokens"}
    for model in models.values():
        tokens = model.get("tokens") if isinstance(model, dict) else None
        for source, target in names.items():
            count = tokens.get(source) if isinstance(tokens, dict) else None
            if isinstance(count, int):
                totals[target] += count
    return TokenUsage(**totals) if any(totals.values()) else None


#: ``<GEMINI_CLI_HOME or HOME>/.gemini/tmp/<project>/chats/session-<time>-<id[:8]>.jsonl``
#: (gemini 0.61.0; ``<project>`` is the cwd's name, mapped in ``projects.json``).
GEMINI_SESSIONS = SessionStore(
    (("GEMINI_CLI_HOME", ".gemini"),),
    ".gemini",
    "tmp/*/chats/session-*-{short}.jsonl",
    needs_id_inside=True,
)


def gemini_progress(stdout: str) -> bool:
    """A tool call, or words from the assistant, in the stream-json events."""
    for event in json_events(stdout):
        kind = event.get("type")
        if kind == "tool_use":
            return True
        if kind == "message" and event.get("role") == "assistant" and event.get("content"):
            return True
    return False


ADAPTER = CliAdapter(
    name="gemini",
    binary="gemini",
    model_flag="-m",
    output_args=("-o", "stream-json"),
    prompt_style="option",
    usage_markers=(
        "rate limit",
        "resource_exhausted",
        "too many requests",
        "you have exhausted your capacity on this model",
        "exhausted your daily quota",
        "exceeded your current quota",
        "failed with status 429",
    ),
    parse=parse_gemini,
    base_url_env="GOOGLE_GEMINI_BASE_URL",
    key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    default_idle_timeout=900.0,
    limit_signal="its retry lines on stderr (Attempt 1 failed ... 429), at the first 429",
    session_flag="--session-id",
    resume_args=("--resume", "{session}"),
    session_store=GEMINI_SESSIONS,
    progress=gemini_progress,
    flag_aliases=YARGS_FLAG_ALIASES,
    output_modes=("stream-json", "json"),
)
