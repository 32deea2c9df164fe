"""${VAR} expansion of configuration values."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator._expand import (
    ExpansionError,
    MalformedReference,
    UnsetVariable,
    expand_string,
    expand_tree,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${A}", "one"),
        ("x-${A}-${B}", "x-one-"),
        ("${B:-fallback}", "fallback"),
        ("${A:-fallback}", "one"),
        ("${MISSING:-}", ""),
        ("${MISSING:-a b:c}", "a b:c"),
        ("$${A}", "${A}"),
        ("cost: $5", "cost: $5"),
        ("$A", "$A"),
    ],
)
def test_expand_string(text: str, expected: str) -> None:
    """References expand as in the shell; `$${` is a literal `${`; bare `$NAME` is left alone."""
    assert expand_string(text, {"A": "one", "B": ""}) == expected


def test_unset_without_default_names_the_variable() -> None:
    """${VAR} with VAR unset raises with its name."""
    with pytest.raises(UnsetVariable) as caught:
        expand_string("${NOPE}", {})
    assert caught.value.name == "NOPE"


@pytest.mark.parametrize("text", ["${}", "${1A}", "${A", "${A B}", "${A:default}"])
def test_malformed_references(text: str) -> None:
    """A `${` that is not a valid reference is refused, not passed through."""
    with pytest.raises(MalformedReference):
        expand_string(text, {"A": "x"})


def test_expand_tree_reports_the_key_path() -> None:
    """Failures inside nested tables and lists carry the path to the key."""
    with pytest.raises(ExpansionError) as caught:
        expand_tree({"qwen": {"p": {"args": ["ok", "${NOPE}"]}}}, {})
    assert caught.value.path == ("qwen", "p", "args")


def test_expand_tree_keeps_non_strings() -> None:
    """Numbers, booleans and keys are not touched."""
    data = {"${K}": 1, "b": [True, 2.5], "c": {"d": "${V}"}}
    assert expand_tree(data, {"V": "v"}) == {"${K}": 1, "b": [True, 2.5], "c": {"d": "v"}}


@given(st.text(alphabet=st.characters(exclude_characters="$")))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    """Anything without `$` comes back exactly as it was."""
    assert expand_string(text, {}) == text


@given(st.text())
def test_expand_string_only_raises_its_own_errors(text: str) -> None:
    """Any input either expands or raises one of the two expansion errors."""
    with contextlib.suppress(UnsetVariable, MalformedReference):
        expand_string(text, {"A": "x"})
