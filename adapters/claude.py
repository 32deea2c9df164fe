"""Claude Code (``claude``): ``claude --model MODEL --output-format json -p PROMPT``."""

from __future__ import annotations

from ._json import result_message
from .generic import CliAdapter

RATE_LIMIT_EVENT = '{"type":"assistant","error":"rate_limit"}'

ADAPTER = CliAdapter(
    name="claude",
    binary="claude",
    model_flag="--model",
    output_args=("--output-format", "json"),
    prompt_style="print_flag",
    usage_markers=(
        "rate_limit_error",
        "5-hour limit reached",
        "out of usage credits",
        "usage credit cap is reached",
        RATE_LIMIT_EVENT,
    ),
    live_stdout_markers=(RATE_LIMIT_EVENT,),
    parse=result_message,
)
