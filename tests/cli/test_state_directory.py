"""A full or read-only state directory: jobs keep running, one clear line, no traceback.

Uses a real tmpfs (mounted full, or read-only) where the machine allows mounting (CI runs
as root); elsewhere these tests are skipped and ``tests/test_sinks.py`` covers the same
paths with a patched writer.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from .conftest import Cli


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> None:
    """Write until the file system is full."""
    try:
        with (directory / "filler").open("wb", buffering=0) as filler:
            while True:
                filler.write(b"\0" * 4096)
    except OSError:
        pass  # full (the close may fail too)


def test_run_on_a_full_state_directory_still_answers(
    cli: Cli, write_config: WriteConfig, tmpfs: Path
) -> None:
    cli.config_dir = write_config(backend("agent", ["a"]), provider("agent", "a"))
    (tmpfs / "state").mkdir()
    fill(tmpfs)
    result = cli("run", "--json", "--prompt", "hi", "--state-file", str(tmpfs / "state" / "s.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == "a: hi"
    assert "Traceback" not in result.stderr
    assert "cannot write the event log" in result.stderr
    assert "cannot save the state file" in result.stderr


def test_run_on_a_read_only_state_directory_says_so_in_one_line(
    cli: Cli, write_config: WriteConfig, tmpfs: Path
) -> None:
    cli.config_dir = write_config(backend("agent", ["a"]), provider("agent", "a"))
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    result = cli("run", "--prompt", "hi", "--state-file", str(tmpfs / "state" / "s.json"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: cannot write the state directory {tmpfs / 'state'}: Read-only file system "
        "(choose another with --state-file or $ORCHESTRATOR_STATE_FILE)"
    )
    assert "Traceback" not in result.stderr
