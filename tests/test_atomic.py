"""Atomic writes: a reader (or a restart) sees the old file or the new one, never half."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator._atomic import write_atomic

SIZE = 4 * 1024 * 1024
WRITER = f"""
import sys
from pathlib import Path
from orchestrator._atomic import write_atomic
path = Path(sys.argv[1])
letter = 0
while True:
    write_atomic(path, (b"AB"[letter:letter + 1]) * {SIZE})
    letter ^= 1
"""


def test_a_killed_writer_leaves_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_atomic(path, b"A" * SIZE)
    for round_ in range(8):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        time.sleep(0.15 + 0.05 * round_)  # somewhere in the middle of a write
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        data = path.read_bytes()
        assert len(data) == SIZE
        assert data in (b"A" * SIZE, b"B" * SIZE)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "result.json"]
    assert all(name.startswith(".result.json.") for name in leftovers)  # temp files only


def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, b"old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_file_is_private_from_the_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    write_atomic(path, b"{}")
    assert path.stat().st_mode & 0o777 == 0o600
