"""The live display of `run`: a row per running job, following the event channel."""

from __future__ import annotations

import pytest

from orchestrator import Orchestrator, load_config
from orchestrator._events import AttemptStarted, JobFailed, JobSucceeded, ProviderRotated
from orchestrator._job import JobResult
from orchestrator.cli._progress import MAX_ROWS, JobProgress

from ..conftest import WriteConfig


def progress(write_config: WriteConfig, total: int) -> JobProgress:
    config = load_config(write_config('[backends.qwen]\nproviders = ["a"]\n', "[qwen.a]\n"))
    return JobProgress(Orchestrator(config), total, enabled=False)


def overall(display: JobProgress) -> str:
    return str(display._progress.tasks[0].description)


@pytest.mark.anyio
async def test_every_running_job_has_a_row_that_follows_its_provider(
    write_config: WriteConfig,
) -> None:
    display = progress(write_config, 3)
    display.on_event(AttemptStarted(job_id="one", backend="qwen", provider="a", attempt=1))
    display.on_event(AttemptStarted(job_id="two", backend="qwen", provider="a", attempt=1))
    assert display.rows == ["  one: qwen/a", "  two: qwen/a"]
    display.on_event(
        ProviderRotated(
            job_id="one", backend="qwen", provider="b", from_provider="a", reason="limit"
        )
    )
    display.on_event(AttemptStarted(job_id="three", backend="gemini", provider=None, attempt=1))
    assert display.rows == ["  one: qwen/b", "  two: qwen/a", "  three: gemini/(CLI default)"]
    assert overall(display) == "3 running"
    display.on_event(JobFailed(job_id="two", duration=1.0, error="x"))
    display.job_ended(JobResult(job_id="two", status="failed", error="x"))
    display.on_event(JobSucceeded(job_id="one", duration=1.0))
    assert display.rows == ["  three: gemini/(CLI default)"]
    assert overall(display) == "1 running, 1 failed"


@pytest.mark.anyio
async def test_rows_beyond_the_limit_are_counted_and_shown_as_others_end(
    write_config: WriteConfig,
) -> None:
    display = progress(write_config, MAX_ROWS + 3)
    for index in range(MAX_ROWS + 3):
        display.on_event(
            AttemptStarted(job_id=f"j{index}", backend="qwen", provider="a", attempt=1)
        )
    assert len(display.rows) == MAX_ROWS
    assert overall(display) == f"{MAX_ROWS + 3} running (3 not shown)"
    display.on_event(JobSucceeded(job_id="j0", duration=1.0))
    assert display.rows[-1] == f"  j{MAX_ROWS}: qwen/a"
    assert "j0" not in " ".join(display.rows)
