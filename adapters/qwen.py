"""Qwen Code (``qwen``): ``qwen -m MODEL -o stream-json -p PROMPT``.

Given HTTP 429, qwen retries silently for minutes (see shared/cli-notes.md):
the limit texts below only appear once it gives up. The sentinel, on by
default for providers that set ``OPENAI_BASE_URL``, sees the 429 itself.
When qwen does give up, or cannot reach its API at all, qwen 0.15 still exits
0 with a "successful" result whose text is ``[API Error: ...]``: that is an
error, never an answer.

stream-json rather than json: one line per message as the agent works, so
an idle timeout measures silence, not the length of the task.
"""

from __future__ import annotations

from dataclasses import replace

from ._json import result_message
from .generic import CliAdapter, ParsedOutput

API_ERROR_PREFIX = "[API Error"


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
    default_idle_timeout=900.0,
    limit_signal="none while it retries: qwen retries a 429 in silence until it gives up",
    silent_on_limits=True,
)
