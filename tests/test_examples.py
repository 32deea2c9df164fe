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


def test_async_agent_example_from_another_directory(tmp_path: Path) -> None:
    environment = {**os.environ, "ORCHESTRATOR_STATE_FILE": str(tmp_path / "state.json")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "async_agent.py")],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rotated demo: busy-cloud -> spare-cloud" in result.stdout
    assert result.stdout.count("succeeded: [spare-cloud]") == 3


def test_async_agent_example_says_why_a_job_failed(tmp_path: Path) -> None:
    """Failures are printed with their error and attempts, and the exit status is 1."""
    broken = tmp_path / "config"
    broken.mkdir()
    (broken / "llm_config.toml").write_text(
        '[backends.demo]\nbackend_type = "generic"\nproviders = ["gone"]\n'
    )
    (broken / "provider_metadata.toml").write_text('[demo.gone]\ncommand = "/nonexistent/agent"\n')
    script = tmp_path / "run_agent.py"
    script.write_text(
        "import sys, anyio\n"
        f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
        "import async_agent\n"
        f"async_agent.CONFIG_DIR = {str(broken)!r}\n"
        "async_agent.PROMPTS = ['x']\n"
        "sys.exit(anyio.run(async_agent.main))\n"
    )
    result = run_from_root([sys.executable, str(script)], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "failed: Error: job" in result.stderr
    assert "attempt on demo/gone -> launch_error: cannot start '/nonexistent/agent'" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "jobs").glob("*.*")), ids=lambda path: path.name
)
def test_example_job_files_load(path: Path) -> None:
    job = load_job_file(path)
    assert job.backend in {"qwen", "gemini", "claude", "codex"}
    assert job.prompt.strip()


def test_mock_api_config_points_every_cli_at_its_mocks() -> None:
    """examples/mock-apis: four backends, "limited" then "answering", URLs from MOCK_*."""
    from orchestrator import load_config

    environ = {"MOCK_CODEX_ANSWERING": "http://127.0.0.1:5555", "MOCK_CLAUDE_LIMITED": "http://x"}
    config = load_config(EXAMPLES / "mock-apis", environ=environ)
    # git keeps no file modes but the executable bit: a clone's file is 0644.
    assert [w for w in config.warnings if "readable by group" not in w.message] == []
    assert config.message_backend.order == ("qwen", "claude", "gemini", "codex")
    for backend in config.message_backend.order:
        assert [p.name for p in config.providers[backend]] == ["limited", "answering"]
    codex = config.providers["codex"][1]
    assert 'base_url="http://127.0.0.1:5555/v1"' in codex.args[-1]
    assert config.providers["claude"][0].env["ANTHROPIC_BASE_URL"] == "http://x"
    assert config.providers["qwen"][0].env["OPENAI_BASE_URL"] == "http://127.0.0.1:8411/v1"
