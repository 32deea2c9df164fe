"""Following a log file a CLI writes while it runs, for the line that says "limited".

qwen 0.15.10 retries a 429 in silence on stdout and stderr, but writes every
retry to its debug log (``<runtime dir>/debug/<session id>.txt``) within
about 3 s of the start: ``[WARN] [RETRY] Attempt 1 failed with status 429.``
For a provider the sentinel does not watch, that file is the earliest sign.

The file is polled, not watched: it appears only once the CLI has started,
lives in the child's home, and a poll every 200 ms costs nothing next to a
CLI's start-up. Only a regular file is opened, never through a symlink, and
only a bounded tail of an unfinished line is kept.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio

T = TypeVar("T")
POLL_SECONDS = 0.2
READ_SIZE = 64 * 1024
#: An unfinished line longer than this is dropped (it is no retry line).
LINE_LIMIT = 64 * 1024


async def follow_log(
    path: Path, judge: Callable[[str], T | None], *, poll: float = POLL_SECONDS
) -> T:
    """The first verdict ``judge`` gives on a line of ``path``, as lines are appended.

    Waits for the file to appear. Never returns without a verdict: the caller
    cancels it when the attempt ends (cancellation closes the file).
    """
    descriptor = await _opened_when_it_appears(path, poll)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    try:
        while True:
            chunk = os.read(descriptor, READ_SIZE)
            if not chunk:
                await anyio.sleep(poll)
                continue
            *lines, pending = (pending + decoder.decode(chunk)).split("\n")
            if len(pending) > LINE_LIMIT:
                pending = ""
            for line in lines:
                verdict = judge(line)
                if verdict is not None:
                    return verdict
    finally:
        os.close(descriptor)


async def _opened_when_it_appears(path: Path, poll: float) -> int:
    # Polled: the file is made by another process, which sets no event of ours.
    while True:
        descriptor = _open_regular(path)
        if descriptor is not None:
            return descriptor
        await anyio.sleep(poll)


def _open_regular(path: Path) -> int | None:
    """A read-only descriptor for ``path`` if it is a regular file (no symlink, no FIFO)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    return descriptor
