"""Gemini CLI (``gemini``): ``gemini -m MODEL -o json -p PROMPT``.

The JSON output is one object: ``response`` holds the answer, ``error`` a
failure, ``stats.models.<model>.tokens`` the token counts.
"""

from __future__ import annotations

from typing import Any

from orchestrator import TokenUsage

from ._json import loads_or_none
from .generic import CliAdapter, ParsedOutput, plain_text


def parse_gemini(stdout: str) -> ParsedOutput:
    """Answer, error and token counts from gemini's ``-o json`` object."""
    value = loads_or_none(stdout)
    if not isinstance(value, dict) or not ({"response", "error"} & set(value)):
        return plain_text(stdout)
    error = value.get("error")
    error_text = ""
    if isinstance(error, dict):
        error_text = str(error.get("message") or error.get("type") or "error")
    elif error:
        error_text = str(error)
    response = value.get("response")
    session_id = value.get("session_id") or value.get("sessionId")
    return ParsedOutput(
        answer=response if isinstance(response, str) else "",
        is_error=bool(error_text),
        error_text=error_text,
        session_id=session_id if isinstance(session_id, str) else None,
        usage=_usage(value.get("stats")),
    )


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


ADAPTER = CliAdapter(
    name="gemini",
    binary="gemini",
    model_flag="-m",
    output_args=("-o", "json"),
    prompt_style="option",
    usage_markers=(
        "rate limit",
        "resource_exhausted",
        "too many requests",
        "you have exhausted your capacity on this model",
    ),
    parse=parse_gemini,
    base_url_env="GOOGLE_GEMINI_BASE_URL",
)
