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

from orchestrator import Job, ProviderRotated

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


async def test_a_spent_key_is_replaced_inside_the_request_with_the_real_qwen(
    cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    """qwen's two providers on one endpoint and model, the first key spent: qwen never
    sees the 429, the job ends in one attempt (one process) on the second key."""
    api = start_mock("openai-chat", "answer", "PONG on the second key")
    api.limited_keys = frozenset({"sk-mock-limited"})
    urls = mock_urls(qwen_limited=api, qwen_answering=api)
    environment = cli_environment(tmp_path / "home", urls)

    with anyio.fail_after(90):
        result, events, _ = await run_job(environment, Job(prompt="say ping", backend="qwen"))

    assert result.status == "succeeded", result.model_dump_json(indent=2)
    assert result.output == "PONG on the second key"
    (attempt,) = result.attempts
    assert attempt.provider == "answering"
    assert api.credentials[:2] == ["sk-mock-limited", "sk-mock-answering"]
    assert set(api.credentials[2:]) <= {"sk-mock-answering"}
    rotations = [e for e in events if isinstance(e, ProviderRotated)]
    assert [(r.from_provider, r.provider) for r in rotations] == [("limited", "answering")]
