"""Migrating the old qwen-only ``qwen-providers.toml`` to ``provider_metadata.toml``.

Two old shapes are accepted: the spec's ``[<name>]`` tables, and auto-coder's
earlier ``[[qwen.providers]]`` entries (``name``, ``api_key``, ``base_url``,
``model``, ``description``). Every key is kept. ``api_key``, ``base_url`` and
``model`` are also exported under the variables the qwen CLI reads for an
OpenAI-compatible provider, so a migrated provider works without edits.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from ._atomic import write_atomic
from ._errors import ConfigError, MigrationError
from ._provider_metadata import parse_provider_metadata
from ._toml import read_toml

BACKEND = "qwen"
QWEN_VARIABLES = {
    "api_key": "OPENAI_API_KEY",
    "base_url": "OPENAI_BASE_URL",
    "model": "OPENAI_MODEL",
}


@dataclass(frozen=True)
class MigrationResult:
    """What ``migrate`` produced: the new file's text and where it went."""

    text: str
    providers: tuple[str, ...]
    target: Path
    written: bool
    backup: Path | None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)


def migrate(
    source: Path, target: Path, *, force: bool = False, dry_run: bool = False
) -> MigrationResult:
    """Convert ``source`` into ``[qwen.<name>]`` tables in ``target``.

    An existing ``target`` is only changed with ``force``: its other tables are
    kept, same-named qwen providers replaced, and the old file is first copied
    to a timestamped backup beside it. ``dry_run`` writes nothing.

    Raises:
        MigrationError: the source is unreadable or not one of the two shapes,
            or the target exists without ``force``.
    """
    try:
        providers = convert(read_toml(source))
    except ConfigError as exc:
        raise MigrationError(f"cannot migrate {source}: {exc}") from None
    merged: dict[str, Any] = {}
    if target.exists():
        if not force and not dry_run:
            raise MigrationError(
                f"Error: {target} already exists; pass --force to add the migrated providers "
                "to it (a backup of the current file is kept)"
            )
        try:
            merged = read_toml(target)
        except ConfigError as exc:
            raise MigrationError(f"cannot merge into {target}: {exc}") from None
    merged.setdefault(BACKEND, {}).update(providers)
    text = tomli_w.dumps(merged)
    _validate(text, target)
    if dry_run:
        return MigrationResult(
            text, tuple(providers), target, written=False, backup=None, tables=providers
        )
    backup = _backup(target) if target.exists() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text.encode("utf-8"), mode=0o600)
    return MigrationResult(
        text, tuple(providers), target, written=True, backup=backup, tables=providers
    )


def convert(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``{name: table}`` providers that ``[qwen.<name>]`` tables will hold."""
    entries = _entries(data)
    if not entries:
        raise MigrationError("Error: no providers found in the file to migrate")
    return {name: _with_qwen_variables(table) for name, table in entries.items()}


def _entries(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    section = data.get(BACKEND)
    if isinstance(section, dict) and isinstance(section.get("providers"), list):
        if len(data) > 1 or len(section) > 1:
            raise MigrationError(
                "Error: mixed shapes: [[qwen.providers]] entries and other tables in one file"
            )
        return _array_entries(section["providers"])
    for name, table in data.items():
        if not isinstance(table, dict):
            raise MigrationError(
                f"Error: '{name}' is not a provider table; expected [<name>] tables or "
                "[[qwen.providers]] entries"
            )
    return dict(data)


def _array_entries(items: list[Any]) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for position, item in enumerate(items, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise MigrationError(f"Error: [[qwen.providers]] entry {position} has no 'name'")
        if name in entries:
            raise MigrationError(f"Error: [[qwen.providers]] name '{name}' appears twice")
        entries[name] = {key: value for key, value in item.items() if key != "name"}
    return entries


def _with_qwen_variables(table: dict[str, Any]) -> dict[str, Any]:
    converted = dict(table)
    for option, variable in QWEN_VARIABLES.items():
        if option in table and variable not in table:
            converted[variable] = table[option]
    return converted


def _validate(text: str, target: Path) -> None:
    """The result must load as provider metadata; refuse to write it otherwise."""
    from ._toml import parse_toml

    try:
        parse_provider_metadata(parse_toml(text.encode("utf-8"), target), target)
    except ConfigError as exc:
        raise MigrationError(f"the migrated file would not load: {exc}") from None


def _backup(target: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = target.with_name(f"{target.name}.bak-{stamp}")
    counter = 1
    while backup.exists():
        backup = target.with_name(f"{target.name}.bak-{stamp}-{counter}")
        counter += 1
    shutil.copy2(target, backup)
    return backup


def still_needed(llm_config: Path, result: MigrationResult) -> list[str]:
    """The ``llm_config.toml`` lines the migrated providers still need to be used.

    The old file's providers were qwen's by definition; the new layout runs a provider
    only when ``[backends.qwen]`` lists it, and the qwen CLI reads ``OPENAI_*`` only
    with ``--auth-type openai``. Lines already present are not repeated.
    """
    try:
        backend = read_toml(llm_config).get("backends", {}).get(BACKEND, {})
    except ConfigError:
        backend = {}
    backend = backend if isinstance(backend, dict) else {}
    listed = backend.get("providers", [])
    listed = [name for name in listed if isinstance(name, str)] if isinstance(listed, list) else []
    lines = []
    missing = [name for name in result.providers if name not in listed]
    if missing:
        lines.append(f"providers = {_toml_list([*listed, *missing])}")
    options = backend.get("options", [])
    options = options if isinstance(options, list) else []
    uses_openai = any(
        variable in table
        for table in result.tables.values()
        for variable in QWEN_VARIABLES.values()
    )
    if uses_openai and "--auth-type" not in options:
        lines.append(f"options = {_toml_list([*options, '--auth-type', 'openai'])}")
    return [f"[backends.{BACKEND}]", *lines] if lines else []


def _toml_list(items: list[Any]) -> str:
    return "[" + ", ".join(tomli_w.dumps({"v": item})[4:].strip() for item in items) + "]"
