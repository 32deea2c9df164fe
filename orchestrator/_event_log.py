"""Reading the JSONL event log that ``run`` and ``worker`` append to: its last lines
(read from the end, so a large log costs what is shown) and the lines added since."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

#: Bytes read from the end at a time while looking for line starts.
BLOCK = 64 * 1024


def read_last(path: Path, lines: int | None) -> tuple[list[bytes], int]:
    """The log's last ``lines`` complete lines (all when None) and the offset where
    reading new ones goes on; a missing log has none (offset 0)."""
    try:
        with path.open("rb") as log:
            end = log.seek(0, 2)
            start = 0 if lines is None else _start_of_last_lines(log, end, lines)
            log.seek(start)
            data = log.read(end - start)
    except FileNotFoundError:
        return [], 0
    complete = data[: data.rfind(b"\n") + 1]  # a half-written line waits for its end
    return _records(complete), start + len(complete)


def read_new(path: Path, position: int) -> tuple[list[bytes], int]:
    """The complete lines written after ``position``, and the new position. A log
    shorter than ``position`` was rotated or truncated: it is read from its start."""
    try:
        with path.open("rb") as log:
            if log.seek(0, 2) < position:
                position = 0
            log.seek(position)
            data = log.read()
    except FileNotFoundError:
        return [], 0
    complete = data[: data.rfind(b"\n") + 1]
    return _records(complete), position + len(complete)


def _records(data: bytes) -> list[bytes]:
    return [record for record in data.splitlines() if record.strip()]


def _start_of_last_lines(log: BinaryIO, end: int, lines: int) -> int:
    """The offset where the last ``lines`` complete lines before ``end`` begin: just
    after the newline ``lines + 1`` back (the newline before them); a torn last line,
    still being written, is no line yet."""
    position, found = end, 0
    while position > 0:
        step = min(BLOCK, position)
        position -= step
        log.seek(position)
        chunk = log.read(step)
        for index in range(len(chunk) - 1, -1, -1):
            if chunk[index] == 10:  # b"\n"
                found += 1
                if found == lines + 1:
                    return position + index + 1
    return 0
