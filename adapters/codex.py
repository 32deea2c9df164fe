"""Codex CLI (``codex``): ``codex exec -m MODEL --json --skip-git-repo-check PROMPT``.

``--json`` prints one event per line: ``thread.started`` (the session id),
``item.completed`` items of type ``agent_message`` (the answer),
``turn.completed`` (token usage), ``turn.failed`` and ``error`` (failures).

codex 0.169 takes its base URL from its config (``-c model_providers...``),
not from ``OPENAI_BASE_URL``, so it has no ``base_url_env``: the sentinel
cannot be put in front of it through the environment.

Sessions: codex names its thread itself (``thread.started``); a later attempt
continues it with ``codex exec resume THREAD_ID``.
"""

from __future__ import annotations

from typing import Any

from orchestrator.resume import SessionStore

from ._json import json_events, loads_or_none, token_usage
from .generic import AUTH_MARKERS, CliAdapter, ParsedOutput, plain_text


def parse_codex(stdout: str) -> ParsedOutput:
    """Answer, session, usage and errors from codex's JSON-lines events."""
    events = [loads_or_none(line) for line in stdout.splitlines() if line.strip()]
    events = [event for event in events if isinstance(event, dict) and "type" in event]
    if not events:
        return plain_text(stdout)
    answers: list[str] = []
    errors: list[str] = []
    session_id: str | None = None
    usage = None
    for event in events:
        kind = event["type"]
        if kind == "thread.started" and isinstance(event.get("thread_id"), str):
            session_id = event["thread_id"]
        elif kind == "item.completed":
            answers.extend(_agent_text(event.get("item")))
        elif kind == "turn.completed":
            usage = token_usage(event.get("usage")) or usage
        elif kind in ("turn.failed", "error"):
            errors.append(_error_text(event))
    return ParsedOutput(
        answer=answers[-1] if answers else "",
        is_error=bool(errors),
        error_text="\n".join(errors),
        session_id=session_id,
        usage=usage,
    )


def _agent_text(item: Any) -> list[str]:
    if isinstance(item, dict) and item.get("type") == "agent_message":
        text = item.get("text")
        return [text] if isinstance(text, str) else []
    return []


def _error_text(event: dict[str, Any]) -> str:
    error = event.get("error")
    if isinstance(error, dict):
        return str(error.get("message", "error"))
    return str(event.get("message") or error or "error")


#: ``<CODEX_HOME or ~/.codex>/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl``
#: (codex 0.169.0; ``exec resume ID`` finds it there, no index needed).
CODEX_SESSIONS = SessionStore(
    (("CODEX_HOME", ""),), ".codex", "sessions/*/*/*/rollout-*-{session}.jsonl"
)


def codex_progress(stdout: str) -> bool:
    """A completed item (a message, a command, a tool call) that is not an error."""
    for event in json_events(stdout):
        item = event.get("item")
        if event.get("type") != "item.completed" or not isinstance(item, dict):
            continue
        if item.get("type") != "error":
            return True
    return False


ADAPTER = CliAdapter(
    name="codex",
    binary="codex",
    subcommand=("exec",),
    model_flag="-m",
    output_args=("--json", "--skip-git-repo-check"),
    prompt_style="positional",
    # codex 0.169.0 with a ChatGPT plan (or a 429 usage_limit_reached body):
    # "You\u2019ve hit your usage limit. ... try again at 5:03 AM." in local time.
    usage_markers=(
        "rate limit",
        "usage limit",
        "upgrade to pro",
        "too many requests",
        "out of credits",
    ),
    # A ChatGPT plan without Codex: no wait helps ("usage_not_included").
    auth_markers=(*AUTH_MARKERS, "to use codex with your chatgpt plan"),
    parse=parse_codex,
    default_idle_timeout=900.0,
    limit_signal="its error events (usage-limit text with the reset time) when it gives up",
    resume_args=("resume", "{session}"),
    session_store=CODEX_SESSIONS,
    progress=codex_progress,
    flag_aliases=(frozenset({"-m", "--model"}),),
)
