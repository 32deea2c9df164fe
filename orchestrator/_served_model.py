"""Whether the model a provider served is the one asked for (silent downgrades).

Providers answer with the model that served the request: a dated version of the
one asked for (``claude-sonnet-4-5-20250929``), under a vendor prefix
(``qwen/qwen3-coder``), or, after some limits, another one altogether (a
"flash" model for the rest of the session). Only the last is a mismatch; an
alias (``sonnet``) matches every model whose name holds it.
"""

from __future__ import annotations


def model_matches(requested: str, served: str) -> bool:
    """True when ``served`` is ``requested``, a version of it, or a model its alias names."""
    asked, got = _bare(requested), _bare(served)
    return got == asked or got.startswith(asked) or asked in got or got in asked


def _bare(model: str) -> str:
    """Lowercase, without ``models/`` or a ``vendor/`` prefix."""
    return model.strip().lower().rsplit("/", 1)[-1]
