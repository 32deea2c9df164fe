"""The spool seen by the dashboard: queued and running files, results, and a retry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.dashboard._queue_view import RetryError
from orchestrator.dashboard._spool_jobs import SpoolJobs


def make_spool(root: Path) -> Path:
    for folder in ("incoming", "processing/host-1-abc", "done", "failed"):
        (root / folder).mkdir(parents=True)
    (root / "incoming" / "waiting.json").write_text('{"prompt": "p"}')
    (root / "incoming" / "notes.md").write_text("a prompt file, not a job")
    (root / "incoming" / ".partial.json").write_text("{")
    (root / "processing" / "host-1-abc" / "busy.toml").write_text('prompt = "p"')
    (root / "processing" / "host-1-abc" / ".lock").write_text("")
    (root / "failed" / "custom-name.json").write_text('{"id": "real-id", "prompt": "p"}')
    result = {"job_id": "real-id", "status": "failed", "output": "secret answer", "error": "E"}
    (root / "failed" / "real-id.result.json").write_text(json.dumps(result))
    (root / "failed" / "rejected.json").write_text("{not json")
    (root / "failed" / "rejected.json.result.json").write_text(
        json.dumps({"job_id": "rejected.json", "status": "failed"})
    )
    return root


def test_the_view_lists_queued_running_and_retryable(tmp_path: Path) -> None:
    """Prompt files, dot files and lock files are not jobs."""
    view = SpoolJobs(make_spool(tmp_path)).view()
    assert [queued.name for queued in view.queued] == ["waiting.json"]
    assert view.queued_total == 1
    assert view.running == ["busy.toml"]
    assert view.retryable == {"real-id", "rejected.json"}


def test_a_retry_finds_the_job_file_by_its_id_not_its_name(tmp_path: Path) -> None:
    """The file whose job has the id goes back to incoming/; the old result stays."""
    spool = SpoolJobs(make_spool(tmp_path))
    assert spool.retry("real-id") == "real-id"
    assert (tmp_path / "incoming" / "custom-name.json").exists()
    assert (tmp_path / "failed" / "real-id.result.json").exists()
    result = spool.result("real-id")
    assert result is not None
    assert result.error == "E"


def test_what_cannot_be_retried_says_why(tmp_path: Path) -> None:
    """No result in failed/, or no valid job file for it: a RetryError naming the job."""
    spool = SpoolJobs(make_spool(tmp_path))
    with pytest.raises(RetryError, match="job nobody has no result"):
        spool.retry("nobody")
    with pytest.raises(RetryError, match=r"job rejected\.json: no valid job file"):
        spool.retry("rejected.json")


def test_a_missing_spool_is_an_empty_view(tmp_path: Path) -> None:
    """A dashboard started before any worker made the spool shows nothing, not an error."""
    view = SpoolJobs(tmp_path / "not-yet").view()
    assert (view.queued, view.running, view.retryable) == ([], [], set())
