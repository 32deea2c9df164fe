"""The hand-over a job carries to another backend: what the previous agent did.

Another CLI cannot read the previous one's session, so the new agent gets the
original prompt and a digest: the messages and tool calls from the
transcript, most recent last, and the working tree's changes when ``cwd`` is
a git repository. The whole digest is bounded and redacted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .._process import RunLimits, run_process
from .._redaction import shorten

#: The digest's size bound, in characters (the prompt itself comes on top).
HANDOVER_LIMIT = 6000
#: What is read of a transcript: its end, where the latest work is.
TRANSCRIPT_READ_LIMIT = 4 * 1024 * 1024
ENTRY_LIMIT = 300
LEFT_OUT = "(earlier steps left out)"
TREE_LIMIT = 1500
GIT_TIMEOUT = 5.0
#: Text an agent CLI adds to every request, not the agent's work.
_BOILERPLATE = ("<system-reminder>", "<session_context>", "<environment_context>")
_TOOL_ARGUMENTS = ("input", "args", "arguments")
#: Roles and record types as each CLI names them (gemini's ``gemini``, codex's
#: ``developer`` instructions, qwen's ``system`` telemetry records).
_ROLES = {
    "model": "assistant",
    "gemini": "assistant",
    "assistant": "assistant",
    "user": "user",
    "system": "system",
    "developer": "system",
    "queue-operation": "system",  # claude: the prompt queued, said again as the user's
}
_NOT_WORK = frozenset({"system"})
#: Where the messages of a record are nested, in the four CLIs' transcripts.
_INNER = (
    "message",
    "messages",
    "$set",
    "content",
    "parts",
    "payload",
    "item",
    "output",
    "toolCalls",
    "result",
)

Redact = Callable[[str], str]


def transcript_digest(transcript: Path, redact: Redact, limit: int = HANDOVER_LIMIT) -> str:
    """The transcript's messages and tool calls, one line each, within ``limit``."""
    try:
        with transcript.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - TRANSCRIPT_READ_LIMIT))
            data = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines: list[str] = []
    seen: set[str] = set()
    for record in _records(data):
        for line in _entries(record, role=None):
            said = line.split(": ", 1)[-1]  # the same text under two roles is one step
            if said not in seen:
                seen.add(said)
                lines.append(line)
    kept: list[str] = []
    used = len(LEFT_OUT) + 1  # room for the marker, should it be needed
    for line in reversed(lines):  # the latest work matters most
        text = shorten(redact(line), ENTRY_LIMIT)
        if used + len(text) + 1 > limit:
            kept.append(LEFT_OUT)
            break
        kept.append(text)
        used += len(text) + 1
    return "\n".join(reversed(kept))


async def working_tree_summary(
    cwd: Path | None, environment: Mapping[str, str], redact: Redact
) -> str:
    """``git status --short`` and ``git diff --stat`` of ``cwd`` (None: this process's
    directory, where the CLI ran), when it is a repository; "" otherwise."""
    parts = []
    limits = RunLimits(timeout=GIT_TIMEOUT, kill_grace=1.0, stdout_limit=64 * 1024)
    for argv in (["git", "status", "--short"], ["git", "diff", "--stat"]):
        done = await run_process(argv, env=environment, cwd=cwd, limits=limits)
        if done.output.exit_code != 0:
            return ""  # not a repository, no git, or too slow: no summary, no error
        parts.append(done.output.stdout.strip())
    text = "\n".join(part for part in parts if part)
    return redact(
        text[:TREE_LIMIT] + ("\n(more changes left out)" if len(text) > TREE_LIMIT else "")
    )


def handover_prompt(prompt: str, from_backend: str, digest: str, tree: str) -> str:
    """The original prompt, then what the previous agent did and the working tree."""
    if not digest and not tree:
        return prompt
    sections = [
        prompt,
        "---",
        f"Hand-over: another coding agent ({from_backend}) started this task and was "
        "stopped by a usage limit. Continue from where it stopped; do not redo what is "
        "already done.",
    ]
    if digest:
        sections.append(f"What it did so far (oldest first, shortened):\n{digest}")
    if tree:
        sections.append(f"Changes in the working tree so far:\n{tree}")
    return "\n\n".join(sections)


def _records(data: str) -> Iterator[Any]:
    """JSON lines, or one JSON document (a transcript saved whole)."""
    stripped = data.strip()
    if stripped.startswith(("[", "{")) and "\n{" not in stripped:
        try:
            yield json.loads(stripped)
            return
        except ValueError:
            pass
    for line in data.splitlines():
        try:
            yield json.loads(line)
        except ValueError:
            continue  # the first, cut line; or a line that is not JSON


def _entries(value: Any, role: str | None) -> Iterator[str]:
    """``role: text``, ``tool call: name arguments`` and ``tool result: text`` lines, in
    document order, from any of the four CLIs' transcript shapes."""
    stack: list[tuple[Any, str | None]] = [(value, role)]
    while stack:
        item, role = stack.pop()
        if isinstance(item, list):
            stack.extend((inner, role) for inner in reversed(item))
            continue
        if not isinstance(item, dict):
            continue
        role = _role(item) or role
        if role in _NOT_WORK:
            continue
        call = _tool_call(item)
        if call is not None:
            yield call
        response = item.get("functionResponse")
        if isinstance(response, dict):
            yield from _texts("tool result", response.get("response"))
            continue
        text = item.get("text")
        if isinstance(text, str):
            yield from _texts(role or "note", text)
        for key in _INNER:
            inner = item.get(key)
            if isinstance(inner, str) and key in ("content", "output"):
                yield from _texts(role or "note", inner)
            elif isinstance(inner, dict | list) and (call is None or key == "result"):
                stack.append((inner, "tool result" if key == "result" else role))


def _texts(role: str, value: Any) -> Iterator[str]:
    """One line for a text (or a tool's ``output``/``error``), boilerplate left out."""
    if isinstance(value, dict):
        value = value.get("output") or value.get("error")
    if isinstance(value, str) and value.strip() and not value.lstrip().startswith(_BOILERPLATE):
        yield f"{role}: {' '.join(value.split())}"


def _role(item: dict[str, Any]) -> str | None:
    role = item.get("role")
    if isinstance(role, str):
        return _ROLES.get(role, role)
    kind = item.get("type")
    if kind in ("tool_result", "function_call_output"):
        return "tool result"
    return _ROLES.get(kind) if isinstance(kind, str) else None


def _tool_call(item: dict[str, Any]) -> str | None:
    call = item.get("functionCall")
    if isinstance(call, dict):
        item = call
    name = item.get("name")
    if not isinstance(name, str) or not name:
        return None
    for key in _TOOL_ARGUMENTS:
        if key in item:
            arguments = item[key]
            text = arguments if isinstance(arguments, str) else json.dumps(arguments)
            return f"tool call: {name} {' '.join(text.split())}"
    return None


__all__ = ["HANDOVER_LIMIT", "handover_prompt", "transcript_digest", "working_tree_summary"]
