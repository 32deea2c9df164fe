"""Following a CLI's log file for a limit line, as it is written."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from orchestrator.limits import follow_log

pytestmark = pytest.mark.anyio


def limited(line: str) -> str | None:
    return line if "status 429" in line else None


async def test_a_line_written_in_pieces_after_the_file_appears_is_found(tmp_path: Path) -> None:
    """The file may not exist yet, and a line may arrive in pieces: both are waited for."""
    path = tmp_path / "debug" / "session.txt"

    async def write_later() -> None:
        await anyio.sleep(0.3)
        path.parent.mkdir()
        with path.open("w") as log:
            log.write("[DEBUG] starting\n[WARN] [RETRY] Attempt 1 failed with sta")
            log.flush()
            await anyio.sleep(0.3)
            log.write("tus 429. Retrying\n")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(write_later)
            found = await follow_log(path, limited, poll=0.05)
    assert found == "[WARN] [RETRY] Attempt 1 failed with status 429. Retrying"


async def test_a_symlink_or_a_fifo_is_never_opened(tmp_path: Path) -> None:
    """Only a regular file is read: a symlink (to anything) or a FIFO is waited past."""
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("status 429 in a file the log must not lead to\n")
    link = tmp_path / "link.txt"
    link.symlink_to(secret)
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    for path in (link, fifo):
        with anyio.move_on_after(0.5) as scope:
            await follow_log(path, limited, poll=0.05)
        assert scope.cancelled_caught
