"""A live progress display for ``run`` with several jobs on a terminal (rich).

One bar counts finished jobs; below it, a row per running job says the
backend/provider it is on right now (rotations included) and for how long.
It follows the event channel. Past ``MAX_ROWS`` running jobs, the rest are
counted on the bar's line rather than drawn. Disabled, it is a pass-through:
results print as plain lines and nothing else is drawn.
"""

from __future__ import annotations

import sys
from types import TracebackType

import anyio
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from .._events import AttemptStarted, Event, JobFailed, JobSucceeded, ProviderRotated
from .._job import JobResult
from .._orchestrator import Orchestrator

#: Running jobs drawn as rows; more would scroll a terminal.
MAX_ROWS = 12


class _CountColumn(MofNCompleteColumn):
    """``done/total`` on the overall bar, nothing on a job's row."""

    def render(self, task: Task) -> Text:
        return super().render(task) if task.total is not None else Text("")


class JobProgress:
    """``async with JobProgress(orch, total, enabled=...) as progress:``."""

    def __init__(self, orchestrator: Orchestrator, total: int, *, enabled: bool) -> None:
        self._orchestrator = orchestrator
        self._enabled = enabled
        self._console = Console(file=sys.stdout)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _CountColumn(),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._task = self._progress.add_task("jobs", total=total)
        self._failed = 0
        self._running: dict[str, str] = {}  # job id -> "backend/provider", in start order
        self._rows: dict[str, TaskID] = {}
        self._scope = anyio.CancelScope()
        self._group = anyio.create_task_group()

    async def __aenter__(self) -> JobProgress:
        if self._enabled:
            self._progress.start()
            await self._group.__aenter__()
            await self._group.start(self._follow)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        if not self._enabled:
            return None
        self._scope.cancel()
        try:
            return await self._group.__aexit__(exc_type, exc, traceback)
        finally:
            self._progress.stop()

    def job_ended(self, result: JobResult) -> None:
        self._failed += result.status == "failed"
        self._progress.advance(self._task)
        self._running.pop(result.job_id, None)
        self._draw()

    def on_event(self, event: Event) -> None:
        """Follow one event: a job's row appears, moves provider, or goes."""
        if event.job_id is None:
            return
        if isinstance(event, AttemptStarted | ProviderRotated):
            where = f"{event.backend}/{event.provider or '(CLI default)'}"
            self._running[event.job_id] = where
        elif isinstance(event, JobSucceeded | JobFailed):
            self._running.pop(event.job_id, None)
        else:
            return
        self._draw()

    @property
    def rows(self) -> list[str]:
        """What the job rows say now, top to bottom (for tests and logs)."""
        by_id = {task.id: task for task in self._progress.tasks}
        return [str(by_id[row].description) for row in self._rows.values()]

    def _draw(self) -> None:
        shown = dict(list(self._running.items())[:MAX_ROWS])
        for job_id in [job_id for job_id in self._rows if job_id not in shown]:
            self._progress.remove_task(self._rows.pop(job_id))
        for job_id, where in shown.items():
            description = f"  {job_id}: {where}"
            if job_id in self._rows:
                self._progress.update(self._rows[job_id], description=description)
            else:
                self._rows[job_id] = self._progress.add_task(description, total=None)
        hidden = len(self._running) - len(shown)
        parts = [f"{len(self._running)} running" + (f" ({hidden} not shown)" if hidden else "")]
        if self._failed:
            parts.append(f"{self._failed} failed")
        self._progress.update(self._task, description=", ".join(parts))

    def print(self, text: str) -> None:
        """Print a result on stdout, above the bar while there is one."""
        if self._enabled:
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, flush=True)

    async def _follow(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        with self._scope:
            async with self._orchestrator.events() as events:
                task_status.started()
                async for event in events:
                    self.on_event(event)
