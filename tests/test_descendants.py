"""Descendants that leave their attempt's process group are found by their marker and ended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from orchestrator._descendants import MARKER_VARIABLE, attempt_of

from .conftest import WriteConfig

ROOT = Path(__file__).parent.parent


def test_the_marker_is_read_from_a_processs_environment() -> None:
    child = subprocess.Popen(
        ["sleep", "5"], env={"PATH": os.environ["PATH"], MARKER_VARIABLE: "token-1"}
    )
    try:
        deadline = time.monotonic() + 10
        while attempt_of(child.pid) is None and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child has exec-ed (before that: our environment)
        assert attempt_of(child.pid) == "token-1"
    finally:
        child.kill()
        child.wait()
    assert attempt_of(os.getpid()) is None


#: In a process of its own (a subreaper adopts orphans for the whole process):
#: run an attempt whose helper escapes with setsid, then report whether it outlived it.
LIBRARY_USER = textwrap.dedent(
    """
    import json, os, sys, anyio
    from orchestrator import Job, Orchestrator, become_subreaper, load_config

    pid_file, config_dir = sys.argv[1], sys.argv[3]
    if sys.argv[2] == "subreaper":
        assert become_subreaper()

    async def main():
        async with Orchestrator(load_config(config_dir)) as orchestrator:
            result = await orchestrator.run(Job(prompt="x", timeout=1))
        assert result.status == "failed", result

    anyio.run(main)
    helper = int(open(pid_file).read())
    print("alive" if os.path.exists(f"/proc/{helper}") else "gone")
    if os.path.exists(f"/proc/{helper}"):
        os.kill(helper, 9)
    """
)


@pytest.mark.parametrize(("mode", "fate"), [("subreaper", "gone"), ("plain", "alive")])
def test_an_escaped_helper_is_ended_only_by_a_subreaper(
    tmp_path: Path, write_config: WriteConfig, mode: str, fate: str
) -> None:
    """A library user who calls become_subreaper gets what the CLI gets; without it an
    escaped helper outlives its attempt (documented)."""
    pid_file = tmp_path / "helper.pid"
    script = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 60' & sleep 60"
    config = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n',
        f'[agent.sh]\ncommand = "/bin/sh"\nargs = ["-c", {json.dumps(script)}]\n',
    )
    assert in_own_process(LIBRARY_USER, str(pid_file), mode, str(config)) == fate


#: Many short attempts while the orphan sweep runs all the time: no leader's exit status
#: may be taken by the sweep (its Child would then see exit 0 instead of 3).
BUSY_SUBREAPER = textwrap.dedent(
    """
    import sys, anyio
    from orchestrator import Job, Orchestrator, become_subreaper, load_config
    from orchestrator import _child

    assert become_subreaper()
    _child.ORPHAN_SWEEP_INTERVAL = 0.0005

    async def main():
        async with Orchestrator(load_config(sys.argv[1]), concurrency=8) as orchestrator:
            handles = [await orchestrator.submit(Job(prompt=str(n))) for n in range(300)]
            results = [await handle.result() for handle in handles]
        print(sorted({result.attempts[0].exit_code for result in results}))

    anyio.run(main)
    """
)


def test_the_sweep_never_takes_an_attempts_exit_status(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    config = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n'
        "usage_limit_cooldown_seconds = 0\n",
        '[agent.sh]\ncommand = "/bin/sh"\nargs = ["-c", "exit 3"]\n',
    )
    assert in_own_process(BUSY_SUBREAPER, str(config)) == "[3]"


def in_own_process(script: str, *args: str) -> str:
    """Run ``script`` in a Python process of its own (being a subreaper is process-wide);
    its stdout, once it has succeeded."""
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()
