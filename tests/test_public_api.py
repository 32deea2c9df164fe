"""The public surface: `orchestrator.__all__` is complete and sorted."""

from __future__ import annotations

import orchestrator


def test_all_is_sorted() -> None:
    """__all__ is kept sorted (constants, classes, functions by ruff's isort order)."""
    assert orchestrator.__all__ == sorted(
        orchestrator.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n)
    )


def test_all_is_complete() -> None:
    """Every public name the package binds is listed, and every listed name exists."""
    bound = {
        name
        for name, value in vars(orchestrator).items()
        if not name.startswith("_") and not isinstance(value, type(orchestrator))
    }
    assert bound == set(orchestrator.__all__)
