"""``orchestrator migrate``: qwen-providers.toml to provider_metadata.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._config import PROVIDER_METADATA_FILE, default_config_dir
from .._migrate import migrate
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
    target = output or (config_dir or default_config_dir()) / PROVIDER_METADATA_FILE
    result = migrate(source, target, force=force, dry_run=dry_run)
    if dry_run:
        print(result.text, end="")
        return
    print(
        f"Migrated {len(result.providers)} provider(s) to {result.target}: "
        f"{', '.join(result.providers)}"
    )
    if result.backup is not None:
        print(f"Previous file kept as {result.backup}")
