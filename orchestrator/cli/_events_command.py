"""``orchestrator events``: the event log, or its new lines as they come (``--follow``)."""

from __future__ import annotations

import contextlib
import sys
from contextlib import aclosing
from pathlib import Path
from typing import Annotated

import anyio
import typer
from pydantic import ValidationError
from watchfiles import watch

from .._config import default_config_dir
from .._event_log import read_last, read_new
from .._event_text import describe_event
from .._events import EVENT_ADAPTER
from ._options import (
    ConfigDirOption,
    JsonOption,
    RedisOption,
    RedisPrefixOption,
    StateFileOption,
    event_log_path,
    state_file_path,
)


def events_command(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    lines: Annotated[
        int | None, typer.Option("--lines", "-n", min=0, help="Only the last N events.")
    ] = None,
    json_output: JsonOption = False,
    state_file: StateFileOption = None,
    config_dir: ConfigDirOption = None,
    redis: RedisOption = None,
    redis_prefix: RedisPrefixOption = "orchestrator",
) -> None:
    """Show the event log that run and worker append to (beside the state file),
    or every worker's events on Redis (--redis)."""
    if redis is not None:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends --follow
            anyio.run(_show_redis, redis, redis_prefix, follow, lines, json_output)
        return
    path = event_log_path(state_file_path(state_file, config_dir or default_config_dir()))
    if not path.exists() and not follow:
        print(f"no events yet ({path} does not exist)", file=sys.stderr)
        return
    position = _print_existing(path, lines, json_output)
    if follow:
        path.parent.mkdir(parents=True, exist_ok=True)
        changes = watch(
            path.parent,
            watch_filter=lambda _, changed: Path(changed).name == path.name,
            debounce=100,
            step=20,
            rust_timeout=1000,
            yield_on_timeout=True,  # a look now and then, in case a change slipped by
            raise_interrupt=False,
            recursive=False,
        )
        for _ in changes:
            position = _print_new(path, position, json_output)


async def _show_redis(
    url: str, prefix: str, follow: bool, lines: int | None, json_output: bool
) -> None:
    from ..redis._connection import connected
    from ..redis._events import read_events

    async with (
        connected(url) as client,
        aclosing(read_events(client, prefix, last=lines, follow=follow)) as texts,
    ):
        async for text in texts:
            _print(text.encode(), json_output)


def _print_existing(path: Path, lines: int | None, json_output: bool) -> int:
    """Print the log's last ``lines`` complete lines; returns where following goes on."""
    records, position = read_last(path, lines)
    for record in records:
        _print(record, json_output)
    return position


def _print_new(path: Path, position: int, json_output: bool) -> int:
    records, position = read_new(path, position)
    for record in records:
        _print(record, json_output)
    return position


def _print(record: bytes, json_output: bool) -> None:
    if not record.strip():
        return
    if json_output:
        print(record.decode("utf-8", errors="replace"), flush=True)
        return
    try:
        event = EVENT_ADAPTER.validate_json(record)
    except ValidationError:
        print(f"(unreadable event line: {len(record)} bytes)", file=sys.stderr)
        return
    print(describe_event(event), flush=True)
