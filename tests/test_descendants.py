"""Descendants that leave their attempt's process group are found by their marker and ended."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator._descendants import MARKER_VARIABLE, attempt_of

ROOT = Path(__file__).parent.parent


def test_the_marker_is_read_from_a_processs_environment() -> None:
    child = subprocess.Popen(
        ["sleep", "5"], env={"PATH": os.environ["PATH"], MARKER_VARIABLE: "token-1"}
    )
    try:
        assert attempt_of(child.pid) == "token-1"
    finally:
        child.kill()
        child.wait()
    assert attempt_of(os.getpid()) is None


#: In a process of its own (a subreaper adopts orphans for the whole process):
#: run an attempt whose helper escapes with setsid, then report whether it outlived it.
LIBRARY_USER = textwrap.dedent(
    """
    import os, sys, anyio
    from orchestrator import become_subreaper
    from orchestrator._process import RunLimits, run_process

    pid_file = sys.argv[1]
    if sys.argv[2] == "subreaper":
        assert become_subreaper()
    script = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 60' & sleep 60"
    env = {"PATH": os.environ["PATH"]}
    anyio.run(lambda: run_process(["sh", "-c", script], env=env, limits=RunLimits(timeout=1)))
    helper = int(open(pid_file).read())
    print("alive" if os.path.exists(f"/proc/{helper}") else "gone")
    if os.path.exists(f"/proc/{helper}"):
        os.kill(helper, 9)
    """
)


@pytest.mark.parametrize(("mode", "fate"), [("subreaper", "gone"), ("plain", "alive")])
def test_an_escaped_helper_is_ended_only_by_a_subreaper(
    tmp_path: Path, mode: str, fate: str
) -> None:
    """A library user who calls become_subreaper gets what the CLI gets; without it an
    escaped helper outlives its attempt (documented)."""
    completed = subprocess.run(
        [sys.executable, "-c", LIBRARY_USER, str(tmp_path / "helper.pid"), mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == fate
