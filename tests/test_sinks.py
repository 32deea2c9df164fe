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


def full_disk_for(monkeypatch: pytest.MonkeyPatch, failures: int) -> None:
    """The event log's next ``failures`` writes fail with ENOSPC (a patched writer:
    the CLI test below uses a real full tmpfs)."""
    import errno
    import os

    from orchestrator import _sinks

    left = [failures]

    def write(fd: int, data: bytes | bytearray) -> int:
        if left[0] > 0:
            left[0] -= 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)

    monkeypatch.setattr(_sinks, "_write", write)


def test_events_written_while_the_disk_is_full_arrive_later_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_disk_for(monkeypatch, failures=3)
    sink = JsonlFileSink(tmp_path / "events.jsonl")
    for number in range(5):
        sink(JobQueued(job_id=f"j{number}"))
    sink.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["job_id"] for line in lines] == [f"j{n}" for n in range(5)]
    assert sink.dropped == 0


def test_a_long_outage_drops_the_oldest_events_and_counts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_disk_for(monkeypatch, failures=1000)
    sink = JsonlFileSink(tmp_path / "events.jsonl", backlog_limit=1000)
    for number in range(100):
        sink(JobQueued(job_id=f"j{number}"))
    monkeypatch.setattr("orchestrator._sinks._write", __import__("os").write)
    sink.close()
    ids = [json.loads(line)["job_id"] for line in (tmp_path / "events.jsonl").read_text().split()]
    assert ids == [f"j{n}" for n in range(100 - len(ids), 100)]  # the newest, whole lines
    assert sink.dropped == 100 - len(ids) > 0


async def test_a_failing_sink_never_stops_a_job(write_config: WriteConfig) -> None:
    class Broken:
        calls = 0

        def __call__(self, event: object) -> None:
            Broken.calls += 1
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            raise OSError(28, "No space left on device")

    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    from orchestrator import load_config

    async with Orchestrator(load_config(directory, environ={}), sinks=[Broken()]) as orch:
        result = await orch.run(Job(prompt="still runs"))
    assert result.status == "succeeded"
    assert Broken.calls >= 3


def test_the_event_log_is_rotated_by_size_and_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlFileSink(path, max_bytes=2000, keep=2)
    for number in range(100):
        sink(JobQueued(job_id=f"j{number:03d}"))
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.jsonl",
        "events.jsonl.1",
        "events.jsonl.2",
    ]
    ids = []
    for name in ("events.jsonl.2", "events.jsonl.1", "events.jsonl"):
        text = (tmp_path / name).read_text()
        assert len(text) <= 2000
        ids += [json.loads(line)["job_id"] for line in text.splitlines()]
    assert ids == [f"j{n:03d}" for n in range(100 - len(ids), 100)]  # the newest, in order
    assert oct((tmp_path / "events.jsonl").stat().st_mode & 0o777) == "0o600"


def test_a_log_rotated_by_another_writer_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    worker = JsonlFileSink(path, max_bytes=1500, keep=1)
    runner = JsonlFileSink(path, max_bytes=1500, keep=1)
    for number in range(40):
        (worker if number % 2 else runner)(JobQueued(job_id=f"j{number:02d}"))
    worker.close()
    runner.close()
    current = [json.loads(line)["job_id"] for line in path.read_text().splitlines()]
    assert current[-1] == "j39"
    assert current == sorted(current)  # nothing went on into the rotated file
