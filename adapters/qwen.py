"""Qwen Code (``qwen``): ``qwen -m MODEL -o json -p PROMPT``.

Given HTTP 429, qwen retries silently for minutes (see shared/cli-notes.md):
the limit texts below only appear once it gives up, so jobs on qwen want an
idle timeout.
"""

from __future__ import annotations

from ._json import result_message
from .generic import CliAdapter

ADAPTER = CliAdapter(
    name="qwen",
    binary="qwen",
    model_flag="-m",
    output_args=("-o", "json"),
    prompt_style="option",
    usage_markers=("rate limit", "quota", "429"),
    parse=result_message,
)
