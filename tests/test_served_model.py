"""Telling a silent downgrade from a dated version or an alias of the model asked for."""

from __future__ import annotations

import pytest

from orchestrator._served_model import model_matches


@pytest.mark.parametrize(
    ("asked", "served"),
    [
        ("qwen3-coder-plus", "qwen3-coder-plus"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("sonnet", "claude-sonnet-4-5-20250929"),
        ("qwen/qwen3-coder", "qwen3-coder"),
        ("gemini-2.5-pro", "models/gemini-2.5-pro"),
        ("GPT-5", "gpt-5-2025-08-07"),
    ],
)
def test_versions_aliases_and_prefixes_match(asked: str, served: str) -> None:
    assert model_matches(asked, served)


@pytest.mark.parametrize(
    ("asked", "served"),
    [
        ("qwen3-coder-plus", "qwen3-coder-flash"),
        ("gemini-2.5-pro", "gemini-2.5-flash"),
        ("opus", "claude-haiku-4-5"),
    ],
)
def test_another_model_is_a_mismatch(asked: str, served: str) -> None:
    assert not model_matches(asked, served)
