"""Fixtures shared by every test: config directories, and the os.environ guard."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import orchestrator

from .redis_cluster import RedisClusterNodes
from .redis_server import RedisServer

SPEC_EXAMPLE_DIR = Path(__file__).parent.parent / "examples" / "spec"

WriteConfig = Callable[..., Path]


@pytest.fixture(autouse=True, scope="session")
def private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Default state files (the CLI's and the spec manager's) go to a temporary
    directory, never the user's ~/.local/state."""
    saved = {name: os.environ.get(name) for name in ("XDG_STATE_HOME", "ORCHESTRATOR_STATE_FILE")}
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state-home"))
    os.environ.pop("ORCHESTRATOR_STATE_FILE", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def environ_unchanged() -> Iterator[None]:
    """Nothing the orchestrator does may write to os.environ: checked after every test."""
    before = _environ_snapshot()
    yield
    assert _environ_snapshot() == before, "os.environ was modified"


def _environ_snapshot() -> dict[str, str]:
    # pytest itself updates PYTEST_CURRENT_TEST between phases.
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


@pytest.fixture(autouse=True)
def fresh_backend_manager() -> Iterator[None]:
    """Each test starts without a process-wide backend manager."""
    orchestrator.reset_llm_backend_manager()
    yield
    orchestrator.reset_llm_backend_manager()


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write llm_config.toml and (unless None) provider_metadata.toml; return the dir."""

    def write(llm: str, metadata: str | None = "", directory: Path | None = None) -> Path:
        target = directory or tmp_path / "config"
        target.mkdir(parents=True, exist_ok=True)
        (target / "llm_config.toml").write_text(llm)
        if metadata is not None:
            path = target / "provider_metadata.toml"
            path.write_text(metadata)
            path.chmod(0o600)
        return target

    return write


@pytest.fixture
def spec_environ() -> dict[str, str]:
    """The variables the spec's complete example references."""
    return {
        "OPENROUTER_API_KEY": "sk-or-v1-test-openrouter",
        "AZURE_ENDPOINT": "https://test.openai.azure.com",
        "AZURE_API_KEY": "test-azure-key",
        "QWEN_API_KEY": "test-qwen-key",
    }


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Library code runs under both event loops: every anyio test runs on each."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """A real 3-master Redis Cluster (a replica each) on loopback ports, for a module."""
    nodes = RedisClusterNodes(tmp_path_factory.mktemp("cluster"))
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free 127.0.0.1 port, stopped after the test."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
