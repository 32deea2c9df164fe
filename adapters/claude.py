"""Claude Code: ``claude --model MODEL --output-format stream-json --verbose -p PROMPT``.

Stream-json (which needs ``--verbose`` with ``-p``) rather than json: Claude
Code retries a 429 or a 401 on its own for minutes, and only the stream says
so while it happens, one ``{"type":"system","subtype":"api_retry",...,
"error":"rate_limit"}`` line per retry (seen with 2.1.197 against a mock API).
Those lines end the attempt at once; the final ``{"type":"result"}`` line is
the answer.
"""

from __future__ import annotations

from ._json import result_message
from .generic import CliAdapter

#: An ``api_retry`` line for a 429 (and the older assistant-message form).
RATE_LIMIT_EVENT = '"error":"rate_limit"'
#: An ``api_retry`` line for a 401 or 403.
AUTH_FAILED_EVENT = '"error":"authentication_failed"'

ADAPTER = CliAdapter(
    name="claude",
    binary="claude",
    model_flag="--model",
    output_args=("--output-format", "stream-json", "--verbose"),
    prompt_style="print_flag",
    usage_markers=(
        "rate_limit_error",
        "5-hour limit reached",
        "out of usage credits",
        "usage credit cap is reached",
        RATE_LIMIT_EVENT,
    ),
    live_stdout_markers=(RATE_LIMIT_EVENT,),
    live_stdout_auth_markers=(AUTH_FAILED_EVENT,),
    parse=result_message,
    base_url_env="ANTHROPIC_BASE_URL",
)
