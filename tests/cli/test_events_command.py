"""`orchestrator events`: the last N lines read from the end, readable values, -n 0 is none."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from orchestrator import AttemptFinished, JobQueued, ProviderCooledDown, ProviderHeadroom
from orchestrator._event_text import describe_event
from orchestrator._job import AttemptOutcome
from orchestrator.cli._events_command import _print_existing


def write_log(path: Path, count: int, *, torn_tail: bool = False) -> None:
    lines = [
        JobQueued(job_id=f"j{n}", timestamp=1_795_000_000.0).model_dump_json() for n in range(count)
    ]
    text = "\n".join(lines) + "\n" + ('{"kind": "job_qu' if torn_tail else "")
    path.write_text(text)


@pytest.mark.parametrize("lines", [0, 1, 3, 10, 500])
def test_the_last_n_events_and_where_following_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: int
) -> None:
    path = tmp_path / "events.jsonl"
    write_log(path, 300, torn_tail=True)
    position = _print_existing(path, lines, json_output=True)
    printed = capsys.readouterr().out.splitlines()
    expected = [f"j{n}" for n in range(300)][300 - min(lines, 300) :]
    assert [line.split('"job_id":"')[1].split('"')[0] for line in printed] == expected
    assert position == path.read_bytes().rfind(b"\n") + 1  # the torn line is read later


def test_a_large_log_is_read_from_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`events -n 3` on a big log reads a block, not the whole file."""
    path = tmp_path / "events.jsonl"
    write_log(path, 20_000)
    read: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: object, **kwargs: object) -> object:
        handle = real_open(self, *args, **kwargs)  # type: ignore[call-overload]
        original = handle.read

        def read_some(size: int = -1) -> bytes:
            data: bytes = original(size)
            read.append(len(data))
            return data

        handle.read = read_some
        return handle

    monkeypatch.setattr(Path, "open", counting_open)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    _print_existing(path, 3, json_output=True)
    assert path.stat().st_size > 1_000_000
    assert sum(read) < 200_000


def test_values_are_readable() -> None:
    finished = AttemptFinished(
        job_id="j",
        attempt=1,
        backend="qwen",
        provider="openrouter",
        outcome=AttemptOutcome.SUCCESS,
        exit_code=0,
        duration=3.38e-05,
        timestamp=1_795_000_000.0,
    )
    assert "duration=34us" in describe_event(finished)
    cooled = ProviderCooledDown(
        backend="qwen", provider="p", until=1_795_744_372.93, reason="usage_limit"
    )
    assert "until=2026-11-27T01:52:52Z" in describe_event(cooled)
    headroom = ProviderHeadroom(
        backend="qwen", provider="p", utilization=0.93, resets_at=None, near_limit=True
    )
    assert "utilization=93%" in describe_event(headroom)
