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


def test_credentials_inside_urls_are_masked_and_the_url_stays_readable() -> None:
    """user:password@ and key=/token= query values are masked; host and path stay."""
    redact = Redactor()
    assert redact("https://bob:pa55word@proxy.example/v1") == f"https://{MASK}@proxy.example/v1"
    assert (
        redact("GET https://generativelanguage.example/v1beta?alt=sse&key=AIzaLIKE123&x=1")
        == f"GET https://generativelanguage.example/v1beta?alt=sse&key={MASK}&x=1"
    )
    assert redact("https://api.example/v1?token=abc123") == f"https://api.example/v1?token={MASK}"
    assert redact("https://api.example/v1/chat") == "https://api.example/v1/chat"


def test_a_multi_line_secret_is_masked_whole_and_line_by_line() -> None:
    """A PEM key: masked whole where it appears whole, and each long line where alone."""
    pem = (
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
        "VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDu\n"
        "-----END PRIVATE KEY-----"
    )
    redact = Redactor([pem])
    assert redact(f"key:\n{pem}\nend") == f"key:\n{MASK}\nend"
    inner = pem.splitlines()[2]
    assert redact(f"line: {inner}") == f"line: {MASK}"
    assert redact("-----END PRIVATE KEY-----") == "-----END PRIVATE KEY-----"


def test_a_secret_that_extends_another_is_masked_whole() -> None:
    """Secrets sharing a prefix (one tree of alternatives): the longest match wins, so no
    tail of the longer secret is left behind."""
    redact = Redactor(["abcd1234", "abcd12345678", "abcx9999"])
    assert redact("a abcd12345678 b abcd1234 c abcx9999 d abcd123") == "a *** b *** c *** d abcd123"


def test_regex_characters_in_secrets_are_literal() -> None:
    redact = Redactor(["p@ss.w*rd+(1)", "a|b|c|d"])
    assert redact("p@ss.w*rd+(1) and a|b|c|d but not pXssXwrd") == "*** and *** but not pXssXwrd"
