"""Qwen Code (``qwen``): ``qwen -m MODEL -o stream-json -p PROMPT``.

Given HTTP 429, qwen retries silently for minutes (see shared/cli-notes.md):
the limit texts below only appear once it gives up. The sentinel, on by
default for providers that set ``OPENAI_BASE_URL``, sees the 429 itself.
When qwen does give up, or cannot reach its API at all, qwen 0.15 still exits
0 with a "successful" result whose text is ``[API Error: ...]``: that is an
error, never an answer.

stream-json rather than json: one line per message as the agent works, so
an idle timeout measures silence, not the length of the task.

Without the sentinel (``sentinel = false``), qwen's debug log is the earliest
sign: each attempt names its session (``--session-id UUID``), and qwen
0.15.10 writes ``<runtime dir>/debug/<UUID>.txt`` even without ``--debug``
(runtime dir: ``$QWEN_RUNTIME_DIR``, else ``$QWEN_HOME``, else
``~/.qwen``), with ``[WARN] [RETRY] Attempt 1 failed with status 429. ...``
about 3 s after the start (recorded in tests/fixtures/cli_output/).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from orchestrator import AttemptOutcome, Classification, WatchedLog, parse_retry_after
from orchestrator.resume import SessionStore

from ._json import assistant_spoke, result_message
from .generic import YARGS_FLAG_ALIASES, CliAdapter, ParsedOutput

API_ERROR_PREFIX = "[API Error"
#: ``<QWEN_RUNTIME_DIR or QWEN_HOME or ~/.qwen>/projects/<cwd, non-alphanumerics as ->/chats/
#: <session>.jsonl`` (qwen 0.15.10, ``Storage.getProjectDir``).
QWEN_SESSIONS = SessionStore(
    (("QWEN_RUNTIME_DIR", ""), ("QWEN_HOME", "")), ".qwen", "projects/*/chats/{session}.jsonl"
)
#: A retried (or final) API error in qwen's debug log, with the HTTP status.
_DEBUG_LOG_ERROR = re.compile(
    r"\[(?:RETRY|OPENAI_ERROR)\] (?:Attempt \d+ failed with status |OpenAI API Error: )(\d{3})\b"
    r"(?P<rest>.*)"
)


def judge_debug_log_line(line: str) -> Classification | None:
    """A 429 (or quota) retry line is a usage limit; a 401/403 an auth error."""
    found = _DEBUG_LOG_ERROR.search(line)
    if found is None:
        return None
    status, rest = int(found.group(1)), found.group("rest")
    # Whole: the supervisor redacts the message, then shortens it.
    upstream = rest.split("Error:", 1)[-1].strip()
    if status == 429 or "quota" in rest.lower():
        return Classification(
            AttemptOutcome.USAGE_LIMIT,
            f"usage limit: qwen's debug log shows HTTP {status}: {upstream}",
            retry_after=parse_retry_after(rest, 0.0),
        )
    if status in (401, 403):
        return Classification(
            AttemptOutcome.AUTH_ERROR, f"auth error: qwen's debug log shows HTTP {status}"
        )
    return None


def debug_log_path(environment: Mapping[str, str], session_id: str) -> Path | None:
    """``<runtime dir>/debug/<session>.txt`` for the child's environment (qwen 0.15.10)."""
    for variable, inner in (("QWEN_RUNTIME_DIR", ""), ("QWEN_HOME", ""), ("HOME", ".qwen")):
        value = environment.get(variable)
        if value:
            base = Path(value).expanduser() / inner
            return base / "debug" / f"{session_id}.txt" if base.is_absolute() else None
    return None


def debug_log_disabled(settings: Mapping[str, str]) -> bool:
    """``QWEN_DEBUG_LOG_FILE=0`` (or false, off, no) turns qwen's debug log off."""
    value = settings.get("QWEN_DEBUG_LOG_FILE", "").strip().lower()
    return value in ("0", "false", "off", "no")


def qwen_debug_log(session_id: str) -> WatchedLog:
    return WatchedLog(
        path=lambda environment: debug_log_path(environment, session_id),
        judge=judge_debug_log_line,
    )


def parse_qwen(stdout: str) -> ParsedOutput:
    """The result message, with qwen's ``[API Error: ...]`` answers turned into errors."""
    parsed = result_message(stdout)
    if parsed.answer.lstrip().startswith(API_ERROR_PREFIX):
        return replace(parsed, answer="", is_error=True, error_text=parsed.answer.strip())
    return parsed


ADAPTER = CliAdapter(
    name="qwen",
    binary="qwen",
    model_flag="-m",
    output_args=("-o", "stream-json"),
    prompt_style="option",
    usage_markers=("rate limit", "quota", "429"),
    parse=parse_qwen,
    base_url_env="OPENAI_BASE_URL",
    key_env=("OPENAI_API_KEY",),
    session_flag="--session-id",
    watched_log=qwen_debug_log,
    default_idle_timeout=900.0,
    limit_signal="its debug log (<runtime dir>/debug/<session>.txt): the retried 429, in ~3 s",
    silent_on_limits=debug_log_disabled,
    resume_args=("--resume", "{session}"),
    session_store=QWEN_SESSIONS,
    progress=assistant_spoke,
    flag_aliases=YARGS_FLAG_ALIASES,
    output_modes=("stream-json", "json"),
)
