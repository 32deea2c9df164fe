"""The redaction rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator._redaction import MASK, Redactor


def test_known_secrets_and_key_shapes_are_masked() -> None:
    """Configured values and key-shaped strings become ***; the rest stays."""
    redact = Redactor(["hunter2-secret", "ab"])
    text = "key hunter2-secret, token sk-abcdefghijklmnopqrstuv, Bearer abcdefghijklmnopqrst, ab"
    assert redact(text) == f"key {MASK}, token {MASK}, {MASK}, ab"


def test_longest_secret_wins() -> None:
    """A secret containing another is masked whole."""
    assert Redactor(["abcd", "abcdefgh"])("xabcdefghx") == f"x{MASK}x"


@given(
    secret=st.text(min_size=4, max_size=40),
    prefix=st.text(max_size=20),
    suffix=st.text(max_size=20),
)
def test_secret_never_survives(secret: str, prefix: str, suffix: str) -> None:
    """Whatever the secret and its surroundings, it does not appear in the output."""
    assert secret not in Redactor([secret])(prefix + secret + suffix).replace(MASK, "\x00")
