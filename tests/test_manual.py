"""Manual rotate/reset applied where the state lives: a rotate moves past the provider in use."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator import load_config
from orchestrator._config import OrchestratorConfig
from orchestrator._manual import apply_on_redis, apply_to_state_file, state_file_status
from orchestrator._state import save_rotations
from orchestrator._state_store import ManualRequest, StateStore
from orchestrator.redis._connection import connected
from orchestrator.redis._events import events_key
from orchestrator.redis._state import RedisRotationStore

from .conftest import WriteConfig
from .fakes.config_text import backend, provider
from .redis_server import RedisServer


@pytest.fixture
def config(write_config: WriteConfig) -> OrchestratorConfig:
    names = ["first", "second", "third"]
    directory = write_config(
        backend("agent", names), "".join(provider("agent", name) for name in names)
    )
    return load_config(directory, environ={})


def test_a_rotate_on_the_state_file_skips_past_the_cooling_first_provider(
    config: OrchestratorConfig, tmp_path: Path
) -> None:
    """first cools, jobs start on second: rotate makes third current, not second again."""
    rotations = config.new_rotations()
    rotations["agent"].cool_down("first", time.time() + 600)
    store = StateStore(tmp_path / "state.json")
    save_rotations(store.path, rotations)
    assert apply_to_state_file(config, store, ManualRequest("rotate", "agent")) == "third"
    status, problems = state_file_status(config, store)
    assert problems == ()
    assert [p.name for p in status.backends[0].providers if p.current] == ["third"]
    assert apply_to_state_file(config, store, ManualRequest("reset", "agent")) == "first"


@pytest.mark.anyio
async def test_a_rotate_on_redis_skips_past_the_cooling_provider_and_is_published(
    config: OrchestratorConfig, redis_server: RedisServer
) -> None:
    """The same on Redis, with a provider_rotated event naming both providers."""
    async with connected(redis_server.url) as client:
        store = RedisRotationStore(client, config, "m")
        await store.record_failure("agent", "first", cooldown_until=time.time() + 600)
        after = await apply_on_redis(config, client, "m", ManualRequest("rotate", "agent"))
        entries = await client.xrange(events_key("m"))
    assert after == "third"
    event = str(entries[-1].field_values["event"])
    assert '"from_provider":"second"' in event
    assert '"reason":"manual rotate"' in event
