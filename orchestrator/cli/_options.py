"""Options shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigDirOption = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        help="Directory holding llm_config.toml and provider_metadata.toml "
        "[default: $ORCHESTRATOR_CONFIG_DIR, else ~/.auto-coder].",
        file_okay=False,
        show_default=False,
    ),
]
