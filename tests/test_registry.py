"""Adapters are found by name."""

from __future__ import annotations

import pytest

from orchestrator import available_adapter_names, load_adapter


def test_builtin_adapters_are_listed() -> None:
    """The five built-in adapters are available by name."""
    assert {"qwen", "gemini", "claude", "codex", "generic"} <= set(available_adapter_names())


@pytest.mark.parametrize("name", ["qwen", "gemini", "claude", "codex", "generic"])
def test_load_adapter(name: str) -> None:
    """Each name loads an adapter that calls itself by that name."""
    assert load_adapter(name).name == name


def test_unknown_adapter() -> None:
    """An unknown name is a LookupError listing the known ones."""
    with pytest.raises(LookupError, match="no adapter named 'nope'"):
        load_adapter("nope")
