"""The examples do what README says: the offline demo rotates, job files load, the agent runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator._jobfile import load_job_file

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def run_from_root(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ORCHESTRATOR_STATE_FILE": str(tmp_path / "state.json")}
    return subprocess.run(
        argv, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def test_demo_shows_a_rotation_and_a_fallback(tmp_path: Path) -> None:
    """README's first command, after the install: every job succeeds after a rotation."""
    jobs = sorted(str(path.relative_to(ROOT)) for path in (EXAMPLES / "demo" / "jobs").iterdir())
    argv = [sys.executable, "-m", "orchestrator", "run", "--config-dir", "examples/demo", *jobs]
    result = run_from_root(argv, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warnings on a fresh checkout
    assert result.stdout.count("succeeded on demo/spare-cloud") == 3
    assert "attempt 1: demo/busy-cloud -> usage_limit" in result.stdout
    assert "attempt 1: quota-gone/exhausted -> usage_limit" in result.stdout  # fell back


def test_async_agent_example(tmp_path: Path) -> None:
    result = run_from_root([sys.executable, "examples/async_agent.py"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rotated demo: busy-cloud -> spare-cloud" in result.stdout
    assert result.stdout.count("succeeded: [spare-cloud]") == 3


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "jobs").glob("*.*")), ids=lambda path: path.name
)
def test_example_job_files_load(path: Path) -> None:
    job = load_job_file(path)
    assert job.backend in {"qwen", "gemini", "claude", "codex"}
    assert job.prompt.strip()
