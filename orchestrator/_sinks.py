"""Telemetry sinks: small objects called once per event, fed by their own subscription.

A sink is configured in ``__init__`` and called with each event (structlog's
processor idea). It runs in its own task with its own bounded subscription,
so a slow sink only loses events (counted), never delays a job. Events carry
names, outcomes and redacted messages only; no sink ever sees a secret.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol, TextIO

import structlog

from ._events import Event


class Sink(Protocol):
    """Receives every event; ``close`` is called once when the channel ends."""

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


class StructlogSink:
    """Logs each event through structlog: pretty console lines, or JSON lines.

    Uses its own logger (``structlog.wrap_logger``), so the application's
    global structlog configuration is neither needed nor changed.
    """

    def __init__(self, stream: TextIO | None = None, *, json: bool = False) -> None:
        renderer: structlog.typing.Processor = (
            structlog.processors.JSONRenderer()
            if json
            else structlog.dev.ConsoleRenderer(colors=False)
        )
        self._log = structlog.wrap_logger(
            structlog.PrintLogger(stream or sys.stderr),
            processors=[structlog.processors.add_log_level, renderer],
        )

    def __call__(self, event: Event) -> None:
        fields = event.model_dump(mode="json", exclude={"kind"}, exclude_none=True)
        self._log.info(event.kind, **fields)

    def close(self) -> None:
        """Nothing to release: the stream belongs to the caller."""


class JsonlFileSink:
    """Appends each event as one JSON line to a file (the event log)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        # Private (0600), also when an older version made it 0644: events name jobs,
        # providers and errors. Line-buffered: each event reaches the file whole.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.fchmod(descriptor, 0o600)
        self._file = os.fdopen(descriptor, "a", encoding="utf-8", buffering=1)

    def __call__(self, event: Event) -> None:
        self._file.write(event.model_dump_json() + "\n")

    def close(self) -> None:
        self._file.close()
