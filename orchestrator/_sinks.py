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
    """Appends each event as one JSON line to a file (the event log).

    A full or failing disk never stops the caller: lines that cannot be written
    are kept (up to ``backlog_limit`` bytes, then the oldest are dropped and
    counted) and written, in order, before the next event once the disk takes
    them again. The first failure of a streak and the recovery are logged.
    """

    def __init__(self, path: Path, *, backlog_limit: int = 4 * 1024 * 1024) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        # Private (0600), also when an older version made it 0644: events name jobs,
        # providers and errors. Unbuffered writes: each event reaches the file whole.
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.fchmod(self._fd, 0o600)
        self._backlog = bytearray()
        self._backlog_limit = backlog_limit
        self._failing = False
        self.dropped = 0

    def __call__(self, event: Event) -> None:
        self._backlog += (event.model_dump_json() + "\n").encode()
        self._write_backlog()

    def _write_backlog(self) -> None:
        try:
            while self._backlog:
                del self._backlog[: _write(self._fd, self._backlog)]
        except OSError as exc:
            if not self._failing:
                _logger.error(
                    "cannot write the event log; keeping events to retry",
                    path=str(self.path),
                    error=exc.strerror or str(exc),
                )
            self._failing = True
            self._trim_backlog()
            return
        if self._failing:
            _logger.info(
                "the event log is written again", path=str(self.path), dropped=self.dropped
            )
            self._failing = False

    def _trim_backlog(self) -> None:
        """Drop the oldest whole lines beyond the limit."""
        excess = len(self._backlog) - self._backlog_limit
        if excess <= 0:
            return
        cut = self._backlog.find(b"\n", excess - 1) + 1 or len(self._backlog)
        self.dropped += self._backlog.count(b"\n", 0, cut)
        del self._backlog[:cut]

    def close(self) -> None:
        self._write_backlog()
        os.close(self._fd)


_write = os.write  # one seam, so tests can fail writes without a full disk
_logger = structlog.get_logger("orchestrator.events")
