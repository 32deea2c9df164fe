"""A live progress bar for ``run`` with several jobs on a terminal (rich).

It follows the event channel, so it shows the provider each job is on right
now, rotations included. Disabled, it is a pass-through: results print as
plain lines and nothing else is drawn.
"""

from __future__ import annotations

import sys
from types import TracebackType

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._events import AttemptStarted, ProviderRotated
from .._job import JobResult
from .._orchestrator import Orchestrator


class JobProgress:
    """``async with JobProgress(orch, total, enabled=...) as progress:``."""

    def __init__(self, orchestrator: Orchestrator, total: int, *, enabled: bool) -> None:
        self._orchestrator = orchestrator
        self._enabled = enabled
        self._console = Console(file=sys.stdout)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._task = self._progress.add_task("starting", total=total)
        self._failed = 0
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
                    if isinstance(event, AttemptStarted | ProviderRotated) and event.provider:
                        failed = f", {self._failed} failed" if self._failed else ""
                        self._progress.update(
                            self._task,
                            description=f"{event.job_id}: {event.backend}/{event.provider}{failed}",
                        )
