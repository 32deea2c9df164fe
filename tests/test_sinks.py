"""Telemetry sinks fed by the orchestrator's event channel."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from orchestrator import (
    EVENT_ADAPTER,
    Job,
    JobQueued,
    JsonlFileSink,
    Orchestrator,
    StructlogSink,
)

from .conftest import WriteConfig
from .fakes.config_text import backend, provider

pytestmark = pytest.mark.anyio


async def test_sinks_see_every_event_of_a_run(write_config: WriteConfig, tmp_path: Path) -> None:
    """A JSONL file sink and a structlog JSON sink both record the run, rotation included."""
    directory = write_config(
        backend("agent", ["a", "b"]),
        provider("agent", "a", "limit", API_KEY="sk-hidden-value")
        + provider("agent", "b", API_KEY="sk-other-hidden"),
    )
    log = tmp_path / "events.jsonl"
    console = io.StringIO()
    sinks = [JsonlFileSink(log), StructlogSink(console, json=True)]
    async with Orchestrator.from_config_dir(directory, sinks=sinks) as orch:
        await orch.run(Job(id="job-1", prompt="hi"))
    kinds = [EVENT_ADAPTER.validate_json(line).kind for line in log.read_text().splitlines()]
    assert kinds[0] == "job_queued"
    assert "provider_rotated" in kinds
    assert "provider_cooled_down" in kinds
    assert kinds[-1] == "job_succeeded"
    lines = [json.loads(line) for line in console.getvalue().splitlines()]
    assert [line["event"] for line in lines] == kinds
    assert all(line["level"] == "info" for line in lines)
    for text in (log.read_text(), console.getvalue()):
        assert "sk-hidden-value" not in text
        assert "sk-other-hidden" not in text


def test_console_sink_renders_readable_lines() -> None:
    """The pretty console sink writes one readable line per event."""
    stream = io.StringIO()
    StructlogSink(stream)(JobQueued(job_id="j1", backend="qwen"))
    line = stream.getvalue()
    assert "job_queued" in line
    assert "job_id=j1" in line


def test_the_event_log_is_private_even_when_it_existed(tmp_path: Path) -> None:
    """events.jsonl is 0600 (in a 0700 folder when made), also if an older version left 0644."""
    from orchestrator import JobQueued, JsonlFileSink

    fresh = tmp_path / "state" / "events.jsonl"
    old = tmp_path / "old.jsonl"
    old.write_text("")
    old.chmod(0o644)
    for path in (fresh, old):
        sink = JsonlFileSink(path)
        sink(JobQueued(job_id="j"))
        sink.close()
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
    assert oct(fresh.parent.stat().st_mode & 0o777) == "0o700"
