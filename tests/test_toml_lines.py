"""Finding a key's line in TOML text, for messages about values found after parsing."""

from __future__ import annotations

from orchestrator._toml_lines import line_of

TEXT = """\
# a comment
top = 1

[backends.qwen]
model = "m"
"quoted key" = 2
description = \"\"\"
providers = "not a key: inside a multi-line string"
\"\"\"
providers = ["a"]

[ qwen . "open.router" ]  # spaces and a quoted dotted name
env.OPENAI_API_KEY = "x"

[[jobs]]
id = "j"
"""


def test_keys_are_found_in_their_table() -> None:
    assert line_of(TEXT, None, "top") == 2
    assert line_of(TEXT, "backends.qwen", "model") == 5
    assert line_of(TEXT, "backends.qwen", "quoted key") == 6


def test_a_key_inside_a_multiline_string_is_not_a_key() -> None:
    assert line_of(TEXT, "backends.qwen", "providers") == 10


def test_quoted_and_dotted_names_and_spaces() -> None:
    assert line_of(TEXT, "qwen.open.router", "env.OPENAI_API_KEY") == 13
    assert line_of(TEXT, "qwen.open.router.env", "OPENAI_API_KEY") == 13


def test_an_array_of_tables_header_counts() -> None:
    assert line_of(TEXT, "jobs", "id") == 16


def test_a_missing_key_falls_back_to_its_table_and_then_to_none() -> None:
    assert line_of(TEXT, "backends.qwen", "absent") == 4
    assert line_of(TEXT, "nowhere", "model") is None
    assert line_of(TEXT, "backends.qwen", None) == 4
