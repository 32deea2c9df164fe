"""Migrating qwen-providers.toml into provider_metadata.toml."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator import MigrationError, load_config, migrate
from orchestrator._toml import read_toml

SPEC_SHAPE = """
[modelstudio]
base_url = "https://dashscope.example/v1"
model = "qwen3-coder-plus"
api_key = "${DASHSCOPE_KEY}"
description = "Model Studio"

[openrouter]
base_url = "https://openrouter.example/api/v1"
api_key = "sk-or"
temperature = 0.1
"""

ARRAY_SHAPE = """
[[qwen.providers]]
name = "modelstudio"
api_key = "sk-ms"
base_url = "https://dashscope.example/v1"
model = "qwen3-coder-plus"
description = "Model Studio"

[[qwen.providers]]
name = "local"
base_url = "http://127.0.0.1:9/v1"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_spec_shape_keeps_every_key_and_adds_qwen_variables(tmp_path: Path) -> None:
    """[<name>] tables become [qwen.<name>], every key kept, OPENAI_* variables added."""
    target = tmp_path / "provider_metadata.toml"
    result = migrate(write(tmp_path / "qwen-providers.toml", SPEC_SHAPE), target)
    data = read_toml(target)
    assert result.providers == ("modelstudio", "openrouter")
    assert data["qwen"]["modelstudio"] == {
        "base_url": "https://dashscope.example/v1",
        "model": "qwen3-coder-plus",
        "api_key": "${DASHSCOPE_KEY}",
        "description": "Model Studio",
        "OPENAI_API_KEY": "${DASHSCOPE_KEY}",
        "OPENAI_BASE_URL": "https://dashscope.example/v1",
        "OPENAI_MODEL": "qwen3-coder-plus",
    }
    assert data["qwen"]["openrouter"]["temperature"] == 0.1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_array_shape(tmp_path: Path) -> None:
    """auto-coder's [[qwen.providers]] entries migrate with their names as table names."""
    target = tmp_path / "provider_metadata.toml"
    migrate(write(tmp_path / "old.toml", ARRAY_SHAPE), target)
    data = read_toml(target)
    assert list(data["qwen"]) == ["modelstudio", "local"]
    assert "name" not in data["qwen"]["local"]
    assert data["qwen"]["local"]["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert data["qwen"]["modelstudio"]["OPENAI_API_KEY"] == "sk-ms"


def test_existing_uppercase_setting_wins(tmp_path: Path) -> None:
    """An explicit OPENAI_API_KEY in the old file is not overwritten by api_key."""
    source = write(tmp_path / "old.toml", '[p]\napi_key = "a"\nOPENAI_API_KEY = "b"\n')
    result = migrate(source, tmp_path / "out.toml", dry_run=True)
    assert 'OPENAI_API_KEY = "b"' in result.text


def test_round_trip_loads_as_config(tmp_path: Path) -> None:
    """The migrated file loads with an llm_config listing its providers; variables expand."""
    migrate(write(tmp_path / "old.toml", SPEC_SHAPE), tmp_path / "provider_metadata.toml")
    (tmp_path / "llm_config.toml").write_text(
        '[backends.qwen]\nproviders = ["modelstudio", "openrouter"]\n'
    )
    config = load_config(tmp_path, environ={"DASHSCOPE_KEY": "sk-dash"})
    first = config.providers_for("qwen")[0]
    assert first.env["OPENAI_API_KEY"] == "sk-dash"
    assert first.options["base_url"] == "https://dashscope.example/v1"


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    """--dry-run returns the text and leaves the disk alone."""
    target = tmp_path / "provider_metadata.toml"
    result = migrate(write(tmp_path / "old.toml", SPEC_SHAPE), target, dry_run=True)
    assert not target.exists()
    assert "[qwen.modelstudio]" in result.text
    assert result.written is False


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    """An existing target is refused without force, and left as it was."""
    target = write(tmp_path / "provider_metadata.toml", '[gemini.g]\nGEMINI_API_KEY = "k"\n')
    with pytest.raises(MigrationError, match="already exists; pass --force"):
        migrate(write(tmp_path / "old.toml", SPEC_SHAPE), target)
    assert read_toml(target) == {"gemini": {"g": {"GEMINI_API_KEY": "k"}}}


def test_force_merges_and_keeps_backup(tmp_path: Path) -> None:
    """With force: other tables stay, a same-named provider is replaced, a backup is kept."""
    original = '[gemini.g]\nGEMINI_API_KEY = "k"\n[qwen.openrouter]\ncommand = "old"\n'
    target = write(tmp_path / "provider_metadata.toml", original)
    result = migrate(write(tmp_path / "old.toml", SPEC_SHAPE), target, force=True)
    data = read_toml(target)
    assert data["gemini"] == {"g": {"GEMINI_API_KEY": "k"}}
    assert "command" not in data["qwen"]["openrouter"]
    assert result.backup is not None
    assert result.backup.read_text() == original
    second = migrate(tmp_path / "old.toml", target, force=True)
    assert second.backup is not None
    assert second.backup != result.backup


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no providers found"),
        ('name = "x"\n', "'name' is not a provider table"),
        ("[[qwen.providers]]\nbase_url = 'x'\n", "entry 1 has no 'name'"),
        ("[[qwen.providers]]\nname = 'a'\n[[qwen.providers]]\nname = 'a'\n", "appears twice"),
        ("[[qwen.providers]]\nname = 'a'\n[other]\n", "mixed shapes"),
        ("[p]\nbaseUrl = 'x'\n", "would not load"),
        ("[p\n", "cannot migrate"),
    ],
)
def test_bad_sources_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    """Every unusable source is refused with a reason, and nothing is written."""
    target = tmp_path / "provider_metadata.toml"
    with pytest.raises(MigrationError, match=fragment):
        migrate(write(tmp_path / "old.toml", text), target)
    assert not target.exists()


def test_missing_source(tmp_path: Path) -> None:
    """A source that does not exist is a migration error naming it."""
    with pytest.raises(MigrationError, match=r"old.toml not found"):
        migrate(tmp_path / "old.toml", tmp_path / "out.toml")
