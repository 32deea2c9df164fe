"""Options shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._errors import UsageError
from .._state_store import default_state_file

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

StateFileOption = Annotated[
    Path | None,
    typer.Option(
        "--state-file",
        envvar="ORCHESTRATOR_STATE_FILE",
        help="Rotation state shared by run, worker, status and providers; the event log "
        "(events.jsonl) sits beside it "
        "[default: one per config directory, in $XDG_STATE_HOME/provider-orchestrator/].",
        dir_okay=False,
        show_default=False,
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def state_file_path(option: Path | None, config_dir: Path) -> Path:
    """The state file: the option (or $ORCHESTRATOR_STATE_FILE), else one per
    configuration (:func:`orchestrator.default_state_file`)."""
    return option if option is not None else default_state_file(config_dir)


def event_log_path(state_file: Path) -> Path:
    """The JSONL event log kept beside the state file."""
    return state_file.with_name("events.jsonl")


def _checked_redis_url(url: str | None) -> str | None:
    """A usage error (exit 2) before anything starts, for a bad URL or no coredis."""
    if url is not None:
        from ..redis._connection import check_redis_url

        try:
            check_redis_url(url)
        except UsageError as exc:
            raise typer.BadParameter(str(exc).removeprefix("Error: ")) from None
    return url


RedisOption = Annotated[
    str | None,
    typer.Option(
        "--redis",
        envvar="ORCHESTRATOR_REDIS_URL",
        help="Use Redis (redis://HOST:PORT/DB) for the queue, the shared rotation state "
        "and the events, instead of the embedded spool and state file.",
        show_default=False,
        callback=_checked_redis_url,
    ),
]

RedisPrefixOption = Annotated[
    str,
    typer.Option("--redis-prefix", help="Prefix of every Redis key, to share one Redis."),
]


#: Six hours: long enough for a five-hour session limit to reset overnight.
DEFAULT_MAX_WAIT = 6 * 3600.0

MaxWaitOption = Annotated[
    float,
    typer.Option(
        "--max-wait",
        min=0,
        help="When every provider of every backend is cooling down, wait up to this many "
        "seconds (in all, per job) for the earliest reset instead of failing; 0: fail at once.",
    ),
]
