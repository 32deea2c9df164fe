"""``orchestrator events``: the event log, or its new lines as they come (``--follow``)."""

from __future__ import annotations

import contextlib
import sys
from contextlib import aclosing
from pathlib import Path
from typing import Annotated, BinaryIO

import anyio
import typer
from pydantic import ValidationError
from watchfiles import watch

from .._config import default_config_dir
from .._events import EVENT_ADAPTER, Event
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
    from .._redis_connection import connected
    from .._redis_events import read_events

    async with (
        connected(url) as client,
        aclosing(read_events(client, prefix, last=lines, follow=follow)) as texts,
    ):
        async for text in texts:
            _print(text.encode(), json_output)


def _print_existing(path: Path, lines: int | None, json_output: bool) -> int:
    """Print the log's complete lines (the last ``lines`` of them, read from the end so
    a large log costs what is shown); returns where following goes on."""
    try:
        with path.open("rb") as log:
            end = log.seek(0, 2)
            start = 0 if lines is None else _start_of_last_lines(log, end, lines)
            log.seek(start)
            data = log.read(end - start)
    except FileNotFoundError:
        return 0
    complete = data[: data.rfind(b"\n") + 1]
    for record in complete.splitlines():
        _print(record, json_output)
    return start + len(complete)


def _start_of_last_lines(log: BinaryIO, end: int, lines: int) -> int:
    """The offset where the last ``lines`` complete lines before ``end`` begin: just
    after the newline ``lines + 1`` back (the newline before them); a torn last line,
    still being written, is no line yet."""
    position, found, block = end, 0, 64 * 1024
    while position > 0:
        step = min(block, position)
        position -= step
        log.seek(position)
        chunk = log.read(step)
        for index in range(len(chunk) - 1, -1, -1):
            if chunk[index] == 10:  # b"\n"
                found += 1
                if found == lines + 1:
                    return position + index + 1
    return 0


def _print_new(path: Path, position: int, json_output: bool) -> int:
    try:
        with path.open("rb") as log:
            if log.seek(0, 2) < position:
                position = 0  # the log was rotated or truncated: start over
            log.seek(position)
            data = log.read()
    except FileNotFoundError:
        return 0
    complete = data[: data.rfind(b"\n") + 1]  # a half-written line waits for its end
    for record in complete.splitlines():
        _print(record, json_output)
    return position + len(complete)


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


def describe_event(event: Event) -> str:
    """One line per event: time, kind, where, and the kind's own details."""
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(event.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
    fields = event.model_dump(mode="json", exclude={"kind", "timestamp"}, exclude_none=True)
    where = "/".join(str(fields.pop(key)) for key in ("backend", "provider") if key in fields)
    details = " ".join(f"{key}={_readable(key, value)}" for key, value in fields.items())
    return f"{when} {event.kind:<21} {where} {details}".rstrip()


#: Event fields that hold a moment (Unix seconds), shown as a UTC time.
MOMENTS = frozenset({"until", "resets_at", "seen_at"})


def _readable(key: str, value: object) -> object:
    """Durations as ``3.4s`` or ``34ms``, moments as UTC times, utilization in percent."""
    from datetime import UTC, datetime

    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if key in MOMENTS:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if key in {"duration", "waited", "retry_after"}:
        return _seconds(float(value))
    if key == "utilization":
        return f"{value:.0%}"
    return value


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.1f}h"
    if value >= 60:
        return f"{value / 60:.1f}min"
    if value >= 1:
        return f"{value:.1f}s"
    if value >= 0.001:
        return f"{value * 1000:.0f}ms"
    return f"{value * 1_000_000:.0f}us"
