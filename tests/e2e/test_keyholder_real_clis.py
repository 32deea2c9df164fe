"""The sentinel holds the keys, with the real qwen, claude and gemini against mocks.

Each provider's command is a wrapper the test controls: it writes the environment
the CLI gets to a file, then runs the CLI. Neither that environment nor anything
the CLI writes in its home holds the real key; the mock receives the real key.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from orchestrator import Job

from .conftest import CONFIG_DIR, PROTOCOL, StartMock, cli_environment
from .test_real_clis import mock_urls, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

#: The first provider's real key in examples/mock-apis, per backend.
REAL_KEY = {
    "qwen": "sk-mock-limited",
    "claude": "sk-ant-mock-limited",
    "gemini": "mock-key-limited",
}
WRAPPER = 'env > "$ENV_DUMP"; exec "$REAL_CLI" "$@"'


def wrapped(directory: Path, backend: str, dump: Path) -> Path:
    """examples/mock-apis with the first provider run through the env-dumping wrapper."""
    shutil.copytree(CONFIG_DIR, directory)
    metadata = directory / "provider_metadata.toml"
    header = f"[{backend}.limited]\n"
    text = metadata.read_text()
    assert header in text
    command = (
        f'command = "/bin/sh"\nargs = ["-c", {WRAPPER!r}, "sh"]\n'
        f'ENV_DUMP = "{dump}"\nREAL_CLI = "{backend}"\n'
    )
    metadata.write_text(text.replace(header, header + command))
    return directory


@pytest.mark.parametrize("backend", sorted(REAL_KEY))
async def test_the_child_never_holds_the_real_key(
    backend: str, cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    answering = start_mock(PROTOCOL[backend], "answer", f"PONG from {backend}")
    urls = mock_urls(**{f"{backend}_limited": answering, f"{backend}_answering": answering})
    home = tmp_path / "home"
    environment = cli_environment(home, urls)
    dump = tmp_path / "child.env"
    config_dir = wrapped(tmp_path / "config", backend, dump)
    job = Job(prompt="say ping", backend=backend)  # it answers on the first provider

    with anyio.fail_after(90):
        result, _, _ = await run_job(environment, job, config_dir)

    assert result.status == "succeeded", result.model_dump_json(indent=2)
    real = REAL_KEY[backend]
    child = dump.read_text()
    assert real not in child
    assert "orchestrator-key-" in child  # the placeholder it got instead
    written = [p for p in home.rglob("*") if p.is_file() and real.encode() in p.read_bytes()]
    assert written == []
    assert real in answering.credentials  # the provider got the real key
