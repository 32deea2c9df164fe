"""The library API under trio and asyncio: run, submit, cancel, events, status, state file."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from orchestrator import (
    AttemptFinished,
    AttemptStarted,
    Job,
    JobSucceeded,
    Orchestrator,
    SupervisorSettings,
    load_config,
)

from .conftest import WriteConfig
from .fakes.config_text import backend, provider

pytestmark = pytest.mark.anyio


def two_providers(write_config: WriteConfig, first_mode: str = "limit") -> Path:
    return write_config(
        backend("agent", ["a", "b"]), provider("agent", "a", first_mode) + provider("agent", "b")
    )


async def test_run_returns_the_result(write_config: WriteConfig) -> None:
    """`await orch.run(job)` returns the job's result after rotation."""
    async with Orchestrator.from_config_dir(two_providers(write_config)) as orch:
        result = await orch.run(Job(prompt="hi"))
    assert (result.status, result.provider, result.output) == ("succeeded", "b", "b: hi")


async def test_submit_many_and_await_later(write_config: WriteConfig) -> None:
    """Handles from submit resolve to one result each, run concurrently."""
    config = load_config(two_providers(write_config, "answer"), environ={})
    async with Orchestrator(config, concurrency=4) as orch, orch.events(buffer=10_000) as events:
        handles = [await orch.submit(Job(prompt=str(n))) for n in range(12)]
        results = [await handle.result() for handle in handles]
        running = peak = succeeded = 0
        while succeeded < 12:
            event = await events.receive()
            if isinstance(event, AttemptStarted):
                running += 1
                peak = max(peak, running)
            elif isinstance(event, AttemptFinished):
                running -= 1
            elif isinstance(event, JobSucceeded):
                succeeded += 1
    assert [r.output for r in results] == [f"a: {n}" for n in range(12)]
    assert 1 < peak <= 4


async def test_cancelled_job_ends_in_one_failed_result(write_config: WriteConfig) -> None:
    """Cancelling a handle stops the job; its result says it was cancelled."""
    async with Orchestrator.from_config_dir(two_providers(write_config, "hang")) as orch:
        handle = await orch.submit(Job(prompt="x"))
        await anyio.sleep(0.5)
        handle.cancel()
        with anyio.fail_after(15):
            result = await handle.result()
    assert result.status == "failed"
    assert "cancelled" in (result.error or "")


async def test_cancelling_the_caller_cancels_the_job(write_config: WriteConfig) -> None:
    """A caller cancelled while awaiting run() takes its job down with it."""
    async with Orchestrator.from_config_dir(two_providers(write_config, "hang")) as orch:
        with anyio.move_on_after(1) as scope:
            await orch.run(Job(prompt="x"))
    assert scope.cancelled_caught


async def test_orchestrator_cancelled_every_job_still_ends(write_config: WriteConfig) -> None:
    """When the whole orchestrator is cancelled, queued and running jobs still get results."""
    handles = []
    with anyio.move_on_after(1):
        async with Orchestrator.from_config_dir(
            two_providers(write_config, "hang"), concurrency=1
        ) as orch:
            handles = [await orch.submit(Job(prompt=str(n))) for n in range(3)]
            await anyio.sleep(5)
    assert all(handle.done for handle in handles)
    assert {(await h.result()).status for h in handles} == {"failed"}


async def test_status_reports_rotation(write_config: WriteConfig) -> None:
    """status() shows providers in order, the current one, cooldowns and counters."""
    settings = SupervisorSettings(default_cooldown=300)
    async with Orchestrator.from_config_dir(two_providers(write_config), settings=settings) as orch:
        await orch.run(Job(prompt="x"))
        status = await orch.status()
    [agent] = status.backends
    a, b = agent.providers
    assert (a.name, a.current, a.failures) == ("a", False, 1)
    assert a.cooldown_left is not None
    assert 290 < a.cooldown_left <= 300
    assert (b.name, b.current, b.successes) == ("b", True, 1)
    assert (status.last_backend, status.last_provider) == ("agent", "b")


async def test_rotation_state_survives_restart(write_config: WriteConfig, tmp_path: Path) -> None:
    """A cooldown recorded before a restart is honoured after it."""
    directory = two_providers(write_config)
    state = tmp_path / "state.json"
    async with Orchestrator.from_config_dir(directory, state_file=state) as orch:
        await orch.run(Job(prompt="1"))
    assert state.exists()
    async with Orchestrator.from_config_dir(directory, state_file=state) as orch:
        assert (await orch.status()).backends[0].providers[0].cooldown_left is not None
        result = await orch.run(Job(prompt="2"))
    assert [attempt.provider for attempt in result.attempts] == ["b"]


async def test_submit_outside_context_is_refused(write_config: WriteConfig) -> None:
    """Submitting before `async with` is a clear error."""
    orch = Orchestrator.from_config_dir(two_providers(write_config))
    with pytest.raises(RuntimeError, match="async with"):
        await orch.submit(Job(prompt="x"))


async def test_cancelling_one_job_leaves_others_alone(write_config: WriteConfig) -> None:
    """One cancelled job ends failed; the jobs running beside it still succeed."""
    directory = write_config(
        backend("slow", ["h"]) + backend("fast", ["f"]),
        provider("slow", "h", "hang") + provider("fast", "f"),
    )
    async with Orchestrator.from_config_dir(directory, concurrency=4) as orch:
        doomed = await orch.submit(Job(prompt="x", backend="slow"))
        others = [await orch.submit(Job(prompt=str(n), backend="fast")) for n in range(3)]
        await anyio.sleep(0.3)
        doomed.cancel()
        results = [await handle.result() for handle in others]
        cancelled = await doomed.result()
    assert cancelled.status == "failed"
    assert [r.status for r in results] == ["succeeded"] * 3


def test_built_outside_the_loop_runs_under_either(write_config: WriteConfig) -> None:
    """An orchestrator built in sync code runs under trio and asyncio alike."""
    directory = two_providers(write_config, "answer")
    for backend_name in ("asyncio", "trio"):
        orch = Orchestrator.from_config_dir(directory)

        async def main(orch: Orchestrator = orch) -> str:
            async with orch:
                return (await orch.run(Job(prompt="x"))).status

        assert anyio.run(main, backend=backend_name) == "succeeded"
