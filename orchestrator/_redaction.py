"""One redaction rule for every log line, event, status output, error and result.

Secrets are the values of providers' UPPERCASE settings, plus anything shaped
like a well-known API key. Values shorter than ``MIN_SECRET_LENGTH`` are not
treated as secrets: masking "1" or "true" everywhere would garble every text
and protect nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LENGTH = 4
_KEY_SHAPES = (
    r"sk-[A-Za-z0-9_-]{16,}",  # OpenAI, OpenRouter, Anthropic, DashScope
    r"AIza[0-9A-Za-z_-]{30,}",  # Google API keys
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}",
)


class Redactor:
    """Replaces every known secret and key-shaped text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        alternatives = [re.escape(secret) for secret in known] + list(_KEY_SHAPES)
        self._pattern = re.compile("|".join(alternatives))

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text)
