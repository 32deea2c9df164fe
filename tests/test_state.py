"""Reading the state file defensively: a wrong shape never crashes, never strands a provider."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from orchestrator._rotation import ProviderRotation
from orchestrator._state import restore_rotations, save_rotations

NOW = 1_000_000.0


def write(path: Path, backends: Any, **extra: Any) -> None:
    path.write_text(json.dumps({"version": 1, "backends": backends, **extra}))


def fresh() -> dict[str, ProviderRotation]:
    return {"qwen": ProviderRotation.of(["a", "b"]), "gemini": ProviderRotation.of(["g"])}


@pytest.mark.parametrize(
    "backends",
    [[1, 2], "qwen", 7, True],
    ids=["list", "string", "number", "bool"],
)
def test_backends_that_are_no_table_are_ignored_with_a_problem(
    tmp_path: Path, backends: Any
) -> None:
    path = tmp_path / "state.json"
    write(path, backends)
    rotations = fresh()
    restored = restore_rotations(path, rotations, now=NOW)
    assert restored.problems == [f"state file {path}: 'backends' is not a table; it was ignored"]
    assert rotations == fresh()


@pytest.mark.parametrize(
    "entry",
    [
        [1, 2],
        {"cooldown_until": ["a"]},
        {"successes": "lots"},
        {"headroom": [1]},
        {"suspended": 3},
    ],
)
def test_a_backend_of_the_wrong_shape_starts_fresh_the_others_are_kept(
    tmp_path: Path, entry: Any
) -> None:
    path = tmp_path / "state.json"
    write(path, {"qwen": entry, "gemini": {"cooldown_until": {"g": NOW + 60}}})
    rotations = fresh()
    restored = restore_rotations(path, rotations, now=NOW)
    assert len(restored.problems) == 1
    assert "backend 'qwen'" in restored.problems[0]
    assert "starts fresh" in restored.problems[0]
    assert rotations["qwen"] == ProviderRotation.of(["a", "b"])
    assert rotations["gemini"].cooldown_until == {"g": NOW + 60}


def test_values_of_the_wrong_type_are_dropped_one_by_one(tmp_path: Path) -> None:
    """Lists where strings belong, NaN and booleans: each dropped, the rest kept."""
    path = tmp_path / "state.json"
    path.write_text(
        '{"version": 1, "backends": {"qwen": {'
        '"providers": ["a", "b"], "current_index": true, "last_used": ["a"],'
        '"cooldown_until": {"a": NaN, "b": 1000060},'
        '"successes": {"a": -1, "b": 3}, "failures": {"a": 1.5, "b": true},'
        '"suspended": {"a": ["x"], "b": "0123"}}}}'
    )
    rotations = fresh()
    assert restore_rotations(path, rotations, now=NOW).problems == []
    qwen = rotations["qwen"]
    assert qwen.cooldown_until == {"b": 1000060}
    assert qwen.successes == {"b": 3}
    assert qwen.failures == {}
    assert qwen.suspended == {"b": "0123"}
    assert qwen.last_used is None
    assert qwen.current_index == 0


@pytest.mark.parametrize("value", ["Infinity", "1e300"])
def test_cooldowns_are_cut_to_the_backends_cap(tmp_path: Path, value: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(
        '{"version": 1, "backends": {"qwen": {"cooldown_until": {"a": ' + value + "}}}}"
    )
    rotations = fresh()
    restore_rotations(path, rotations, {"qwen": 3600.0}, now=NOW)
    until = rotations["qwen"].cooldown_until.get("a")
    if value == "Infinity":
        assert until is None  # not a number at all: dropped
    else:
        assert until == NOW + 3600
    assert rotations["qwen"].select(NOW + 3601) == "a"


def test_a_deeply_nested_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "backends": ' + "[" * 100_000 + "]" * 100_000 + "}")
    restored = restore_rotations(path, fresh(), now=NOW)
    assert len(restored.problems) == 1
    assert "unreadable" in restored.problems[0]


def test_a_sane_state_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    rotation = ProviderRotation.of(["a", "b"])
    rotation.cool_down("a", NOW + 30)
    rotation.current_index = 1
    rotation.record_success("b")
    save_rotations(path, {"qwen": rotation})
    rotations = fresh()
    assert restore_rotations(path, rotations, now=NOW).problems == []
    assert rotations["qwen"] == rotation
    assert not any(math.isinf(v) for v in rotations["qwen"].cooldown_until.values())
