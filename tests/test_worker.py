"""The worker on a spool, in process, under trio and asyncio."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from orchestrator import Orchestrator, load_config
from orchestrator._spool import Spool
from orchestrator._worker import Worker
from orchestrator._worker_source import SpoolSource

from .conftest import WriteConfig
from .fakes.config_text import backend, provider

pytestmark = pytest.mark.anyio


async def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - polling the file system
            await anyio.sleep(0.01)


def results(directory: Path) -> dict[str, dict[str, object]]:
    return {
        path.name.removesuffix(".result.json"): json.loads(path.read_text())
        for path in directory.glob("*.result.json")
    }


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path / "spool")
    spool.create()
    return spool


def make_worker(
    directory: Path, spool: Spool, *, watch: bool = True, rescan_interval: float = 2.0
) -> Worker:
    orchestrator = Orchestrator(load_config(directory, environ={}), concurrency=4)
    return Worker(orchestrator, SpoolSource(spool, watch=watch, rescan_interval=rescan_interval))


async def test_waiting_new_and_bad_files_all_end_with_a_result(
    write_config: WriteConfig, spool: Spool
) -> None:
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    for index in range(10):
        (spool.incoming / f"job{index}.toml").write_text(f'prompt = "waiting {index}"\n')
    (spool.incoming / "broken.json").write_text('{"prompt": ')
    worker = make_worker(directory, spool)
    async with anyio.create_task_group() as group:
        await group.start(worker.run)
        await wait_for(lambda: len(results(spool.done)) == 10)
        (spool.incoming / "late.json").write_text('{"prompt": "late"}')
        await wait_for(lambda: "late" in results(spool.done))
        worker.stop(drain_timeout=5)
    done = results(spool.done)
    assert done["late"]["output"] == "a: late"
    assert done["job3"]["status"] == "succeeded"
    rejected = results(spool.failed)["broken.json"]
    assert "invalid JSON" in str(rejected["error"])
    assert str(spool.incoming / "broken.json") in str(rejected["error"])
    assert (spool.failed / "broken.json").exists()
    assert worker.counts.succeeded == 11
    assert worker.counts.rejected == 1
    assert list(spool.processing.iterdir()) == []


async def test_rescan_finds_files_without_a_watcher(
    write_config: WriteConfig, spool: Spool
) -> None:
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    worker = make_worker(directory, spool, watch=False, rescan_interval=0.05)
    async with anyio.create_task_group() as group:
        await group.start(worker.run)
        await anyio.sleep(0.1)
        (spool.incoming / "new.toml").write_text('prompt = "found"\n')
        await wait_for(lambda: "new" in results(spool.done))
        worker.stop(drain_timeout=5)


async def test_stop_drains_then_returns_unfinished_jobs(
    write_config: WriteConfig, spool: Spool
) -> None:
    """A short job finishes inside the drain time; a hanging one goes back to incoming/."""
    directory = write_config(
        backend("quick", ["q"]) + backend("stuck", ["s"]),
        provider("quick", "q", FAKE_SLEEP="0.5") + provider("stuck", "s", "hang"),
    )
    (spool.incoming / "short.toml").write_text('prompt = "short"\nbackend = "quick"\n')
    (spool.incoming / "hangs.toml").write_text('prompt = "hangs"\nbackend = "stuck"\n')
    worker = make_worker(directory, spool)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            await wait_for(lambda: not spool.pending())  # both claimed
            await anyio.sleep(0.1)
            worker.stop(drain_timeout=1.5)
    assert "short" in results(spool.done)
    assert spool.pending() == ["hangs.toml"]
    assert worker.counts.requeued == 1
    assert list(spool.processing.iterdir()) == []


async def test_a_second_stop_cancels_at_once(write_config: WriteConfig, spool: Spool) -> None:
    directory = write_config(backend("stuck", ["s"]), provider("stuck", "s", "hang"))
    (spool.incoming / "hangs.toml").write_text('prompt = "hangs"\n')
    worker = make_worker(directory, spool)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            await wait_for(lambda: not spool.pending())
            worker.stop(drain_timeout=3600)
            worker.stop(drain_timeout=3600)
    assert spool.pending() == ["hangs.toml"]


async def test_cancelling_the_worker_loses_no_job(write_config: WriteConfig, spool: Spool) -> None:
    directory = write_config(backend("stuck", ["s"]), provider("stuck", "s", "hang"))
    (spool.incoming / "hangs.toml").write_text('prompt = "hangs"\n')
    worker = make_worker(directory, spool)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            await wait_for(lambda: not spool.pending())
            group.cancel_scope.cancel()
    assert spool.pending() == ["hangs.toml"]
    assert list(spool.processing.iterdir()) == []


async def test_a_full_disk_delays_filing_but_loses_no_result(
    write_config: WriteConfig, spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filing fails twice with ENOSPC: retried, the worker goes on, the result lands."""
    import errno

    import orchestrator._worker_source as worker_source

    monkeypatch.setattr(worker_source, "FILING_RETRY_FIRST", 0.05)
    real_finish = Spool.finish
    failures = {"left": 2}

    def full_disk(self: Spool, claimed: object, result: object) -> Path:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_finish(self, claimed, result)  # type: ignore[arg-type]

    monkeypatch.setattr(Spool, "finish", full_disk)
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    (spool.incoming / "first.toml").write_text('prompt = "first"\n')
    worker = make_worker(directory, spool)
    async with anyio.create_task_group() as group:
        await group.start(worker.run)
        await wait_for(lambda: "first" in results(spool.done))
        (spool.incoming / "second.toml").write_text('prompt = "second"\n')
        await wait_for(lambda: "second" in results(spool.done))
        worker.stop(drain_timeout=5)
    assert failures["left"] == 0
    assert worker.counts.succeeded == 2
    assert list(spool.processing.glob("*/*.toml")) == []


async def test_a_worker_stopped_while_the_disk_is_full_gives_the_job_back(
    write_config: WriteConfig, spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import orchestrator._worker_source as worker_source

    monkeypatch.setattr(worker_source, "FILING_RETRY_FIRST", 0.05)

    def full_disk(self: Spool, claimed: object, result: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    (spool.incoming / "stuck.toml").write_text('prompt = "stuck"\n')
    with monkeypatch.context() as patch:
        patch.setattr(Spool, "finish", full_disk)
        worker = make_worker(directory, spool)
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            await wait_for(lambda: worker.counts.succeeded == 0 and not spool_has_incoming(spool))
            await anyio.sleep(0.3)  # a few failed tries
            worker.stop(drain_timeout=5)
    assert [path.name for path in spool.incoming.iterdir()] == ["stuck.toml"]  # given back
    # The next worker (the disk has room again) runs it and files it.
    again = make_worker(directory, spool)
    async with anyio.create_task_group() as group:
        await group.start(again.run)
        await wait_for(lambda: "stuck" in results(spool.done))
        again.stop(drain_timeout=5)


def spool_has_incoming(spool: Spool) -> bool:
    return any(spool.incoming.glob("*.toml"))


async def test_job_text_python_cannot_pass_on_fails_the_job_not_the_worker(
    write_config: WriteConfig, spool: Spool
) -> None:
    """NUL or lone surrogates in any field: one failed result naming the field each, the
    worker goes on, and a good job dropped after them runs."""
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    hostile = {
        "nul-model": '{"prompt": "x", "model": "m\\u0000"}',
        "surrogate-prompt": '{"prompt": "x\\ud800"}',
        "surrogate-metadata": '{"prompt": "x", "metadata": {"k": "\\udfff"}}',
        "surrogate-backend": '{"prompt": "x", "backend": "\\ud800"}',
    }
    for name, text in hostile.items():
        (spool.incoming / f"{name}.json").write_text(text)
    worker = make_worker(directory, spool)
    async with anyio.create_task_group() as group:
        await group.start(worker.run)
        await wait_for(lambda: len(results(spool.failed)) == len(hostile))
        (spool.incoming / "good.toml").write_text('prompt = "fine"\n')
        await wait_for(lambda: "good" in results(spool.done))
        worker.stop(drain_timeout=5)
    failed = results(spool.failed)
    for name, field in (
        ("nul-model", "model"),
        ("surrogate-prompt", "prompt"),
        ("surrogate-metadata", "metadata"),
        ("surrogate-backend", "backend"),
    ):
        # A rejected file keeps its whole name (it has no job id).
        assert f"field '{field}'" in str(failed[f"{name}.json"]["error"]), failed
    assert list(spool.incoming.iterdir()) == []


async def test_a_fifo_named_like_a_job_is_refused_without_blocking(
    write_config: WriteConfig, spool: Spool
) -> None:
    """A FIFO `*.toml` in incoming/ (nobody writing to it) ends in a failed result at once;
    good jobs run and the worker still stops when asked."""
    import os

    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    os.mkfifo(spool.incoming / "trap.toml")
    (spool.incoming / "good.toml").write_text('prompt = "fine"\n')
    worker = make_worker(directory, spool)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            await wait_for(lambda: "good" in results(spool.done))
            await wait_for(lambda: "trap.toml" in results(spool.failed))
            worker.stop(drain_timeout=5)
    assert "is not a regular file" in str(results(spool.failed)["trap.toml"]["error"])


async def test_a_live_worker_recovers_a_dead_workers_claims_within_seconds(
    write_config: WriteConfig, spool: Spool
) -> None:
    """A worker that dies while another runs: its claims are run by the living one
    without waiting for a restart."""
    from orchestrator._spool import LOCK_NAME

    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    orchestrator = Orchestrator(load_config(directory, environ={}), concurrency=2)
    worker = Worker(orchestrator, SpoolSource(spool, recover_interval=0.1))
    async with anyio.create_task_group() as group:
        await group.start(worker.run)
        dead = spool.processing / "dead-worker"
        dead.mkdir()
        (dead / LOCK_NAME).touch()  # its lock: nobody holds it
        (dead / "orphan.toml").write_text('prompt = "left behind"\n')
        await wait_for(lambda: "orphan" in results(spool.done), seconds=10)
        worker.stop(drain_timeout=5)
    assert results(spool.done)["orphan"]["output"] == "a: left behind"
    assert list(spool.processing.iterdir()) == []
