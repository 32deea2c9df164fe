"""The spool directory seen by the dashboard: what waits in ``incoming/``, what runs in
``processing/``, the results in ``done/`` and ``failed/``, and a retry that puts a
failed job file back into ``incoming/``."""

from __future__ import annotations

import os
from pathlib import Path

from .._job import JobResult
from .._jobfile import JobFileError, is_job_file, is_prompt_file, load_job_file
from .._spool import RESULT_SUFFIX, Spool, move_no_clobber
from ._queue_view import QueuedJob, QueueView, RetryError

#: Entries listed from one folder at most (a backlog of 100,000 files is counted, not shown).
LISTED = 500


class SpoolJobs:
    """Read-mostly access to one spool directory (no worker registration)."""

    def __init__(self, root: Path) -> None:
        self._spool = Spool(root)

    def view(self) -> QueueView:
        spool = self._spool
        view = QueueView()
        try:
            names = spool.pending()
        except FileNotFoundError:
            names = []
        view.queued = [QueuedJob(name, _mtime(spool.incoming / name)) for name in names[:LISTED]]
        view.queued_total = len(names)
        view.running = _running(spool.processing)
        view.retryable = set(_results(spool.failed))
        return view

    def result(self, job_id: str) -> JobResult | None:
        for folder in (self._spool.done, self._spool.failed):
            path = folder / f"{job_id}{RESULT_SUFFIX}"
            try:
                return JobResult.model_validate_json(path.read_bytes())
            except FileNotFoundError:
                continue
            except ValueError:
                return None  # a torn or foreign file: no result to show
        return None

    def retry(self, job_id: str) -> str:
        """Move the failed job's file back into ``incoming/``; its id stays the same (the
        new result is filed beside the old one as ``<id>.2.result.json``)."""
        spool = self._spool
        if not (spool.failed / f"{job_id}{RESULT_SUFFIX}").exists():
            raise RetryError(f"Error: job {job_id} has no result in {spool.failed}")
        job_file = self._job_file(job_id)
        if job_file is None:
            raise RetryError(
                f"Error: job {job_id}: no valid job file for it in {spool.failed} "
                "(a rejected file must be fixed and dropped into incoming/ by hand)"
            )
        move_no_clobber(job_file, spool.incoming, job_file.name)
        return job_id

    def _job_file(self, job_id: str) -> Path | None:
        """The job file in ``failed/`` whose job has ``job_id`` (its name first)."""
        failed = self._spool.failed
        candidates = sorted(
            (failed / name for name in os.listdir(failed) if _is_job_name(name)),
            key=lambda path: path.name.rsplit(".", 1)[0] != job_id,
        )
        for path in candidates[: LISTED * 10]:
            try:
                if load_job_file(path, base_dir=self._spool.incoming).id == job_id:
                    return path
            except JobFileError:
                continue
        return None


def _is_job_name(name: str) -> bool:
    return not name.endswith(RESULT_SUFFIX) and not is_prompt_file(name) and is_job_file(Path(name))


def _running(processing: Path) -> list[str]:
    """Job file names claimed by workers (their claim directories' visible files)."""
    names: list[str] = []
    try:
        workers = list(os.scandir(processing))
    except FileNotFoundError:
        return names
    for worker in workers:
        if not worker.is_dir(follow_symlinks=False):
            continue
        try:
            names += [name for name in os.listdir(worker.path) if not name.startswith(".")]
        except FileNotFoundError:
            continue  # settled and removed while we looked
    return sorted(names)[:LISTED]


def _results(folder: Path) -> list[str]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return [name.removesuffix(RESULT_SUFFIX) for name in names if name.endswith(RESULT_SUFFIX)]


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None
