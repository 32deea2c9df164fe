"""``orchestrator migrate``: qwen-providers.toml to provider_metadata.toml."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from .._config import LLM_CONFIG_FILE, PROVIDER_METADATA_FILE, default_config_dir
from .._migrate import migrate, still_needed
from ._config_commands import REDACTED
from ._options import ConfigDirOption


def migrate_command(
    source: Annotated[
        Path, typer.Argument(help="The old qwen-providers.toml.", dir_okay=False, exists=False)
    ],
    config_dir: ConfigDirOption = None,
    output: Annotated[
        Path | None,
        typer.Option(help="Where to write [default: CONFIG_DIR/provider_metadata.toml]."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the result only.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Add to an existing file, keeping a backup.")
    ] = False,
) -> None:
    """Migrate the old qwen-only provider file into [qwen.<name>] tables, keeping every key."""
    directory = config_dir or default_config_dir()
    target = output or directory / PROVIDER_METADATA_FILE
    result = migrate(source, target, force=force, dry_run=dry_run)
    if dry_run:
        print(hide_settings(result.text), end="")
        print(
            "(values of UPPERCASE settings are hidden; without --dry-run they are written)",
            file=sys.stderr,
        )
    else:
        print(
            f"Migrated {len(result.providers)} provider(s) to {result.target}: "
            f"{', '.join(result.providers)}"
        )
        if result.backup is not None:
            print(f"Previous file kept as {result.backup}")
    llm_config = (directory if output is None else target.parent) / LLM_CONFIG_FILE
    needed = still_needed(llm_config, result)
    if needed:
        print(
            f"To run them, {llm_config} still needs (merge into its [backends.qwen] table):",
            file=sys.stderr,
        )
        print("\n".join(f"  {line}" for line in needed), file=sys.stderr)


#: ``name = "value"`` lines, as tomli-w writes them.
_SETTING = re.compile(r'^(?P<key>[A-Za-z_][A-Za-z0-9_-]*) = "(?P<value>(?:[^"\\]|\\.)*)"$', re.M)
#: Lowercase keys that hold credentials in old files (``api_key`` is kept as an option).
_SECRET_WORDS = ("key", "token", "secret", "password")
_REFERENCE_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$")


def hide_settings(text: str) -> str:
    """The migrated file with settings and credential-like options masked.

    ``${VAR}`` references stay: they name a secret, they are not one.
    """

    def mask(match: re.Match[str]) -> str:
        key = match["key"]
        secret = key.isupper() or any(word in key.lower() for word in _SECRET_WORDS)
        if not secret or _REFERENCE_ONLY.fullmatch(match["value"]):
            return match[0]
        return f'{key} = "{REDACTED}"'

    return _SETTING.sub(mask, text)
