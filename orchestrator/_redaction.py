"""One redaction rule for every log line, event, status output, error and result.

Secrets are the values of providers' UPPERCASE settings, anything shaped
like a well-known API key, and credentials inside URLs (``user:password@``,
``?key=…``). Values shorter than ``MIN_SECRET_LENGTH`` are not treated as
secrets: masking "1" or "true" everywhere would garble every text and protect
nothing. A multi-line secret (a PEM key) is masked whole, and each of its
lines on its own too, wherever one turns up.

Redact first, cut after: a text is redacted whole before anything shortens
it or splits it into lines, so no cut can leave part of a secret behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 4
#: A line of a multi-line secret is masked on its own when it is at least this
#: long and a single word: a PEM's base64 lines are, "-----END PRIVATE KEY-----" not.
MIN_SECRET_LINE = 16
_KEY_SHAPES = (
    r"sk-[A-Za-z0-9_-]{16,}",  # OpenAI, OpenRouter, Anthropic, DashScope
    r"AIza[0-9A-Za-z_-]{30,}",  # Google API keys
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}",
)
#: Credentials inside URLs: ``user:password@`` and ``key=``, ``token=``, ... in the query.
_URL_CREDENTIALS = (
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+(@)"), rf"\g<1>{MASK}\g<2>"),
    (
        re.compile(
            r"([?&](?i:key|api_key|apikey|token|access_token|secret|password|sig)=)[^&\s\"'#]+"
        ),
        rf"\g<1>{MASK}",
    ),
)


class Redactor:
    """Replaces every known secret and key-shaped text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = set(secrets)
        values |= {
            line.strip()
            for secret in values
            if "\n" in secret
            for line in secret.splitlines()
            if len(line.strip()) >= MIN_SECRET_LINE and not re.search(r"\s", line.strip())
        }
        known = {s for s in values if len(s) >= MIN_SECRET_LENGTH}
        alternatives = ([_trie_pattern(known)] if known else []) + list(_KEY_SHAPES)
        self._pattern = re.compile("|".join(alternatives))

    def __call__(self, text: str) -> str:
        text = self._pattern.sub(MASK, text)
        for pattern, replacement in _URL_CREDENTIALS:
            text = pattern.sub(replacement, text)
        return text


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, longest first, built as a prefix tree.

    A flat ``a|b|c`` alternation is tried word by word at every position: with
    10,000 providers' secrets, redacting one page took seconds. The tree shares
    prefixes, so a position is dismissed after a character or two.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        chain = []  # a run of single-child nodes, walked without recursion (a PEM is long)
        while "" not in node and len(node) == 1:
            ((char, node),) = node.items()
            chain.append(re.escape(char))
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return "".join(chain)
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "".join(chain) + (f"(?:{body})?" if "" in node else body)

    return build(trie)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis; only ever on redacted text."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
