"""Helpers for the JSON output modes several CLIs share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from orchestrator import TokenUsage

from .generic import ParsedOutput, plain_text


def loads_or_none(text: str) -> Any:
    """The JSON value in ``text``, or None when it is not JSON (e.g. text mode)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def token_usage(usage: Any) -> TokenUsage | None:
    """Token counts from a ``usage`` object with the common field names."""
    if not isinstance(usage, dict):
        return None
    counts = {
        key: usage[key]
        for key in ("input_tokens", "output_tokens", "total_tokens")
        if isinstance(usage.get(key), int) and not isinstance(usage.get(key), bool)
    }
    if not counts:
        return None
    if "total_tokens" not in counts and {"input_tokens", "output_tokens"} <= set(counts):
        counts["total_tokens"] = counts["input_tokens"] + counts["output_tokens"]
    return TokenUsage(**counts)


def result_message(stdout: str) -> ParsedOutput:
    """Claude Code's and Qwen Code's ``{"type": "result", ...}`` message.

    The object alone (json), a JSON array of messages (Qwen's json) or one
    message per line (stream-json): the last ``result`` message counts.
    """
    value = loads_or_none(stdout)
    if value is None:  # stream-json: one message per line
        value = [loads_or_none(line) for line in stdout.splitlines() if line.startswith("{")]
    if isinstance(value, list):
        value = next(
            (
                item
                for item in reversed(value)
                if isinstance(item, dict) and item.get("type") == "result"
            ),
            None,
        )
    if not isinstance(value, dict) or value.get("type") != "result":
        return plain_text(stdout)
    answer = value.get("result")
    is_error = bool(value.get("is_error")) or value.get("subtype") not in (None, "success")
    session_id = value.get("session_id")
    return ParsedOutput(
        answer=answer if isinstance(answer, str) else "",
        is_error=is_error,
        error_text=(answer if isinstance(answer, str) else "") if is_error else "",
        session_id=session_id if isinstance(session_id, str) else None,
        usage=token_usage(value.get("usage")),
    )


def json_events(stdout: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a one-event-per-line output, skipping other lines."""
    for line in stdout.splitlines():
        if line.startswith("{"):
            event = loads_or_none(line)
            if isinstance(event, dict):
                yield event


def assistant_spoke(stdout: str) -> bool:
    """Claude's and qwen's stream-json: an ``assistant`` message from the model itself
    (not claude's ``<synthetic>`` error message, not qwen's ``[API Error`` text)."""
    for event in json_events(stdout):
        if event.get("type") != "assistant" or event.get("error"):
            continue
        message = event.get("message")
        if not isinstance(message, dict) or message.get("model") == "<synthetic>":
            continue
        for block in message.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                return True
            text = block.get("text")
            if isinstance(text, str) and text.strip() and not text.startswith("[API Error"):
                return True
    return False
