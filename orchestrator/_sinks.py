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

    def __init__(
        self,
        path: Path,
        *,
        backlog_limit: int = 4 * 1024 * 1024,
        max_bytes: int | None = None,
        keep: int = 3,
    ) -> None:
        """``max_bytes``: rotate the file (``path.1`` ... ``path.<keep>``, newest first)
        rather than let it grow past this; None: never."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._fd = _open_log(path)
        self._backlog = bytearray()
        self._backlog_limit = backlog_limit
        self._max_bytes = max_bytes
        self._keep = keep
        self._failing = False
        self.dropped = 0

    def __call__(self, event: Event) -> None:
        self._backlog += (event.model_dump_json() + "\n").encode()
        self._write_backlog()

    def _rotate_if_due(self) -> None:
        """Before a write: rotate a full log; reopen one another process rotated."""
        if self._max_bytes is None:
            return
        mine = os.fstat(self._fd)
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or current.st_ino != mine.st_ino:  # rotated by another writer
            os.close(self._fd)
            self._fd = _open_log(self.path)
            return
        if mine.st_size + len(self._backlog) <= self._max_bytes or mine.st_size == 0:
            return
        for number in range(self._keep, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            newer = self.path.with_name(f"{self.path.name}.{number - 1}") if number > 1 else None
            source = newer if newer is not None else self.path
            if number == self._keep and older.exists():
                older.unlink()
            if source.exists():
                os.replace(source, older)
        if self._keep == 0:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = _open_log(self.path)

    def _write_backlog(self) -> None:
        try:
            self._rotate_if_due()
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


def _open_log(path: Path) -> int:
    # Private (0600), also when an older version made it 0644: events name jobs,
    # providers and errors. Unbuffered appends: each event reaches the file whole.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(descriptor, 0o600)
    return descriptor


_write = os.write  # one seam, so tests can fail writes without a full disk
_logger = structlog.get_logger("orchestrator.events")
