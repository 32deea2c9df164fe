"""``orchestrator status`` and ``orchestrator providers rotate|reset``: state from the shell."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console
from rich.table import Table

from .._config import OrchestratorConfig
from .._manual import apply_on_redis, apply_to_state_file, state_file_status
from .._state_store import Action, ManualRequest, StateStore
from .._status import OrchestratorStatus, ProviderStatus, build_status
from ._build import load_and_warn
from ._options import (
    ConfigDirOption,
    JsonOption,
    RedisOption,
    RedisPrefixOption,
    StateFileOption,
    state_file_path,
)

providers_app = typer.Typer(
    help="Rotate or reset a backend's providers by hand.", no_args_is_help=True
)
BackendArgument = Annotated[str, typer.Argument(help="The backend, e.g. qwen.")]


def status_command(
    json_output: JsonOption = False,
    config_dir: ConfigDirOption = None,
    state_file: StateFileOption = None,
    redis: RedisOption = None,
    redis_prefix: RedisPrefixOption = "orchestrator",
) -> None:
    """Providers per backend in rotation order, the current one, cooldowns, counts.

    Reads the state a running worker keeps (at most half a second old), or the
    one the last run left.
    """
    config = load_and_warn(config_dir)
    if redis is not None:
        status = anyio.run(_redis_status, config, redis, redis_prefix)
    else:
        status = _status(config, StateStore(state_file_path(state_file, config.config_dir)))
    if json_output:
        print(status.model_dump_json(indent=1))
    else:
        _print_status(status)


@providers_app.command("rotate")
def rotate_command(
    backend: BackendArgument,
    config_dir: ConfigDirOption = None,
    state_file: StateFileOption = None,
    redis: RedisOption = None,
    redis_prefix: RedisPrefixOption = "orchestrator",
) -> None:
    """Move BACKEND to its next provider (the spec's advance_to_next_provider)."""
    _manual("rotate", backend, config_dir, state_file, redis, redis_prefix)


@providers_app.command("reset")
def reset_command(
    backend: BackendArgument,
    config_dir: ConfigDirOption = None,
    state_file: StateFileOption = None,
    redis: RedisOption = None,
    redis_prefix: RedisPrefixOption = "orchestrator",
) -> None:
    """Back to BACKEND's first provider, every cooldown lifted (reset_provider_rotation)."""
    _manual("reset", backend, config_dir, state_file, redis, redis_prefix)


def _manual(
    action: Action,
    backend: str,
    config_dir: Path | None,
    state_file: Path | None,
    redis: str | None,
    redis_prefix: str,
) -> None:
    config = load_and_warn(config_dir)
    config.backend(backend)  # unknown -> exit 2 listing the known ones
    request = ManualRequest(action, backend)
    if redis is not None:
        now = anyio.run(_redis_manual, config, request, redis, redis_prefix)
    else:
        store = StateStore(state_file_path(state_file, config.config_dir))
        now = apply_to_state_file(config, store, request)
    print(f"{backend}: current provider is {now or '(none: fallback mode)'}")


async def _redis_status(config: OrchestratorConfig, url: str, prefix: str) -> OrchestratorStatus:
    from ..redis._connection import connected
    from ..redis._state import RedisRotationStore

    async with connected(url) as client:
        rotations, last = await RedisRotationStore(client, config, prefix).snapshot()
    return build_status(config, rotations, last, time.time())


async def _redis_manual(
    config: OrchestratorConfig, request: ManualRequest, url: str, prefix: str
) -> str | None:
    from ..redis._connection import connected

    async with connected(url) as client:
        return await apply_on_redis(config, client, prefix, request)


def _status(config: OrchestratorConfig, store: StateStore) -> OrchestratorStatus:
    status, problems = state_file_status(config, store)
    for problem in problems:
        print(f"Warning: {problem}", file=sys.stderr)
    return status


#: Columns of the status table, one row per provider.
COLUMNS = ("#", "provider", "current", "cooldown left", "used", "successes", "failures", "key")
#: Backends with more providers than this are printed as plain aligned text: rich's
#: table measures every cell (10,000 providers took 8 s), plain text is linear and fast.
PLAIN_TABLE_ROWS = 200


def _print_status(status: OrchestratorStatus) -> None:
    console = Console(highlight=False)
    for backend in status.backends:
        state = "" if backend.enabled else " (disabled)"
        rows = [_status_row(position, p) for position, p in enumerate(backend.providers, 1)]
        if not backend.providers:
            rows.append(("", "(fallback mode)", "", "", "", "", "", ""))
        if len(rows) > PLAIN_TABLE_ROWS:
            print(f"{backend.name}{state}")
            print(plain_table(COLUMNS, rows))
            continue
        table = Table(title=f"{backend.name}{state}", title_justify="left")
        for column in COLUMNS:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    last = [status.last_backend, status.last_provider, status.last_model]
    if any(last):
        console.print("last used: " + "/".join(part or "-" for part in last))
    else:
        console.print("last used: nothing yet")


def _status_row(position: int, provider: ProviderStatus) -> tuple[str, ...]:
    left = f"{provider.cooldown_left:.0f} s" if provider.cooldown_left else ""
    if provider.suspended:
        left = "out: credentials refused"
    if provider.unusable:
        left = f"unusable: {provider.unusable}"
    return (
        str(position),
        provider.name,
        "*" if provider.current else "",
        left,
        _headroom_text(provider),
        str(provider.successes),
        str(provider.failures),
        _key_text(provider),
    )


def _key_text(provider: ProviderStatus) -> str:
    """Who holds the provider's key: the sentinel (and with which pool), or the CLI."""
    if not provider.key_held:
        return ""
    return f"held; pool: {', '.join(provider.key_pool)}" if provider.key_pool else "held"


def plain_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell, two spaces apart, a rule under the header."""
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows, strict=True)]
    lines = [columns, tuple("-" * width for width in widths), *rows]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _headroom_text(provider: ProviderStatus) -> str:
    """``93% (near limit), resets in 41 min`` from the latest headroom reading."""
    if provider.utilization is None:
        return ""
    text = f"{provider.utilization:.0%}" + (" (near limit)" if provider.near_limit else "")
    if provider.utilization_resets_at is not None:
        minutes = max(0.0, provider.utilization_resets_at - time.time()) / 60
        text += f", resets in {minutes:.0f} min"
    return text
