"""The real CLIs with options written as auto-coder writes them (the model, the output
mode and the prompt flag already in ``options``, with ``[model_name]``): each CLI
accepts the argv (nothing doubled), the mock is asked for the backend's model, and
the answer is parsed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

from orchestrator import Job

from .conftest import CONFIG_DIR, PROTOCOL, StartMock, cli_environment
from .test_real_clis import mock_urls, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

OPTIONS = {
    "claude": ["--print", "--model", "[model_name]", "--output-format", "stream-json", "--verbose"],
    "codex": ["--model", "[model_name]", "--json"],
}
MODELS = {"claude": "claude-sonnet-4-5", "codex": "gpt-5-codex"}


@pytest.mark.parametrize("backend", sorted(OPTIONS))
async def test_auto_coder_options_run_the_real_cli_once_each(
    backend: str, cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    answering = start_mock(PROTOCOL[backend], "answer", f"PONG from {backend}")
    urls = mock_urls(**{f"{backend}_limited": answering, f"{backend}_answering": answering})
    environment = cli_environment(tmp_path / "home", urls)
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    llm = config_dir / "llm_config.toml"
    header = f'[backends.{backend}]\nmodel = "{MODELS[backend]}"\n'
    text = llm.read_text()
    assert header in text
    llm.write_text(text.replace(header, f"{header}options = {json.dumps(OPTIONS[backend])}\n"))

    with anyio.fail_after(90):
        result, _, _ = await run_job(
            environment, Job(prompt="say ping", backend=backend), config_dir
        )

    assert result.status == "succeeded", result.model_dump_json(indent=2)
    assert result.output == f"PONG from {backend}"
    assert set(answering.models) == {MODELS[backend]}
