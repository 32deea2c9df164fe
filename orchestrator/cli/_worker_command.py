"""``orchestrator worker``: the long-lived worker on a spool directory."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import anyio
import typer
from anyio.abc import TaskStatus

from .._spool import Spool
from .._worker import Worker
from .._worker_source import SpoolSource
from ._build import build_orchestrator, configure_logging, load_and_warn, warn_state_problems
from ._options import ConfigDirOption, StateFileOption


def worker_command(
    spool: Annotated[
        Path,
        typer.Option(
            "--spool",
            help="Spool directory (incoming/, processing/, done/, failed/ are made inside).",
            file_okay=False,
        ),
    ],
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs running at once.")] = 4,
    drain_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="On SIGTERM/SIGINT, seconds running jobs get to finish before they are "
            "cancelled and their files go back to incoming/ (a second signal: at once).",
        ),
    ] = 30.0,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="Log JSON lines.")] = False,
    config_dir: ConfigDirOption = None,
    state_file: StateFileOption = None,
) -> None:
    """Run job files dropped into SPOOL/incoming/ until SIGTERM or SIGINT.

    Exit 0 after a clean stop, 2 for config errors.
    """
    configure_logging(json=json_logs)
    config = load_and_warn(config_dir)
    orchestrator = build_orchestrator(config, state_file=state_file, concurrency=concurrency)
    worker = Worker(orchestrator, SpoolSource(Spool(spool)))
    anyio.run(_serve, worker, drain_timeout)


async def _serve(worker: Worker, drain_timeout: float) -> None:
    # Signals are caught from before the worker starts, so none kills it uncleanly.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as group:

            async def run_worker(*, task_status: TaskStatus[None]) -> None:
                await worker.run(task_status=task_status)
                group.cancel_scope.cancel()  # the signal watcher

            await group.start(run_worker)
            warn_state_problems(worker.orchestrator)
            print(f"worker ready: {worker.source.label}", file=sys.stderr, flush=True)
            async for signum in signals:
                print(f"{signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
                worker.stop(drain_timeout)
