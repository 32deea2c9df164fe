"""``orchestrator run``: run job files or one prompt, print each result as it ends."""

from __future__ import annotations

import signal
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import Annotated

import anyio
import typer

from .._child import Child
from .._descendants import become_subreaper
from .._errors import UsageError
from .._events import JobWaiting
from .._job import Job, JobMode, JobResult
from .._jobfile import load_job_file
from .._orchestrator import JobHandle, Orchestrator
from ._build import build_orchestrator, configure_logging, load_and_warn, warn_state_problems
from ._options import (
    DEFAULT_MAX_WAIT,
    ConfigDirOption,
    JsonOption,
    MaxWaitOption,
    RedisOption,
    RedisPrefixOption,
    StateFileOption,
)
from ._progress import JobProgress
from ._render import render_result

#: Signals that ask ``run`` to stop: its jobs are cancelled, never orphaned.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Job files (.toml or .json).", dir_okay=False, show_default=False),
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", help="Run this prompt as one job.")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="Backend for --prompt, and for job files that name none."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model for --prompt, and for job files that name none.")
    ] = None,
    mode: Annotated[
        JobMode, typer.Option(help="edit uses the backend's options, noedit options_for_noedit.")
    ] = JobMode.EDIT,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds for the --prompt job, attempts included.")
    ] = None,
    idle_timeout: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds without output that end an attempt (the next provider is tried), "
            "for the --prompt job and job files that set none; 0: never "
            "[default: the backend's, else the CLI's 660-900 s].",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs running at once.")] = 4,
    max_wait: MaxWaitOption = DEFAULT_MAX_WAIT,
    config_dir: ConfigDirOption = None,
    state_file: StateFileOption = None,
    redis: RedisOption = None,
    redis_prefix: RedisPrefixOption = "orchestrator",
) -> None:
    """Run jobs and print each result: exit 0 when all succeeded, 1 when any failed,
    2 for usage, job file or config errors (nothing runs then), 128 + the signal
    (130 SIGINT, 143 SIGTERM, 129 SIGHUP) when stopped by one: every job is then
    cancelled, its CLI's process group stopped, and its result printed.

    With --redis the jobs are queued for the workers on that Redis, and their
    results awaited.
    """
    configure_logging()
    config = load_and_warn(config_dir)
    jobs = _jobs(files or [], prompt, backend, model, mode, timeout, idle_timeout)
    for job in jobs:
        if job.backend is not None:
            config.backend(job.backend)  # unknown -> UnknownBackendError, exit 2
    if redis is not None:
        results = anyio.run(_submit_all, redis, redis_prefix, jobs, json_output)
    else:
        orchestrator = build_orchestrator(
            config,
            state_file=state_file,
            concurrency=concurrency,
            queue_size=len(jobs),
            max_wait=max_wait,
        )
        stopped_by: list[int] = []
        become_subreaper()  # a CLI's helper that calls setsid is still ended with its job
        results = anyio.run(_run_all, orchestrator, jobs, json_output, stopped_by)
        if stopped_by:  # 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP
            raise typer.Exit(128 + stopped_by[0])
    raise typer.Exit(0 if all(result.status == "succeeded" for result in results) else 1)


def _jobs(
    files: list[Path],
    prompt: str | None,
    backend: str | None,
    model: str | None,
    mode: JobMode,
    timeout: float | None,
    idle_timeout: float | None = None,
) -> list[Job]:
    if bool(files) == (prompt is not None):
        raise UsageError("Error: give job files or --prompt (one of them)")
    if prompt is not None:
        try:
            return [
                Job(
                    prompt=prompt,
                    backend=backend,
                    model=model,
                    mode=mode,
                    timeout=timeout,
                    idle_timeout=idle_timeout,
                )
            ]
        except ValueError as exc:
            raise UsageError(f"Error: {_first_problem(exc, 'prompt')}") from None
    jobs = [load_job_file(path) for path in files]
    defaults = {"backend": backend, "model": model, "idle_timeout": idle_timeout}
    filled = []
    for job in jobs:
        update = {k: v for k, v in defaults.items() if v is not None and getattr(job, k) is None}
        try:  # validated again: --model reaches the CLI's argv like a job's own model
            filled.append(Job.model_validate({**job.model_dump(), **update}))
        except ValueError as exc:
            raise UsageError(f"Error: {_first_problem(exc, 'prompt')}") from None
    return filled


def _first_problem(exc: ValueError, default_field: str) -> str:
    """``--model: must not start with '-' ...``: the option at fault and what is wrong."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        field = first["loc"][0] if first.get("loc") else default_field
        message = str(first["msg"]).lower().removeprefix("value error, ")
        return f"--{field}: {message}"
    return f"--{default_field}: {exc}"


async def _run_all(
    orchestrator: Orchestrator, jobs: list[Job], json_output: bool, stopped_by: list[int]
) -> list[JobResult]:
    """Every job's result, printed as it ends. A stop signal cancels the jobs (their
    process groups are stopped), each still printed, with the signal in ``stopped_by``."""
    results: list[JobResult] = []
    show_progress = len(jobs) > 1 and sys.stdout.isatty() and not json_output
    async with orchestrator, anyio.create_task_group() as aside:
        warn_state_problems(orchestrator)
        await aside.start(_announce_waits, orchestrator)
        handles: list[JobHandle] = []
        await aside.start(_stop_on_signals, handles, stopped_by)
        async with JobProgress(orchestrator, len(jobs), enabled=show_progress) as progress:
            for job in jobs:
                handles.append(await orchestrator.submit(job))
                if stopped_by:
                    handles[-1].cancel(_stop_reason(stopped_by[0]))
            async with anyio.create_task_group() as group:
                for handle in handles:
                    group.start_soon(_report, handle, results, json_output, progress)
        aside.cancel_scope.cancel()
    return results


async def _stop_on_signals(
    handles: list[JobHandle],
    stopped_by: list[int],
    *,
    task_status: anyio.abc.TaskStatus[None],
) -> None:
    """SIGTERM, SIGINT or SIGHUP: cancel every job; its CLI's process group gets SIGTERM,
    then SIGKILL after the grace period, and the job ends in a cancelled result."""
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        task_status.started()
        async for signum in signals:
            if stopped_by:  # a second signal: no more grace, never no kill
                killed = Child.hurry()
                print(
                    f"{signal.Signals(signum).name} again: killing {killed} process group(s) "
                    "now (SIGKILL)",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            stopped_by.append(signum)
            running = sum(not handle.done for handle in handles)
            print(
                f"{signal.Signals(signum).name}: stopping; cancelling {running} unfinished "
                "job(s) (their CLIs get SIGTERM, then SIGKILL; signal again to kill at once)",
                file=sys.stderr,
                flush=True,
            )
            for handle in handles:
                handle.cancel(_stop_reason(stopped_by[0]))


def _stop_reason(signum: int) -> str:
    return f"orchestrator run received {signal.Signals(signum).name}"


async def _announce_waits(
    orchestrator: Orchestrator, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    """Say on stderr what a job waits for when every provider is cooling down."""
    async with orchestrator.events() as events:
        task_status.started()
        async for event in events:
            if isinstance(event, JobWaiting):
                wait = max(0.0, event.until - time.time())
                print(
                    f"job {event.job_id}: every provider is cooling down; waiting "
                    f"{wait:.0f} s for {event.backend}/{event.provider} (--max-wait 0 to "
                    "fail instead)",
                    file=sys.stderr,
                    flush=True,
                )


async def _submit_all(url: str, prefix: str, jobs: list[Job], json_output: bool) -> list[JobResult]:
    """Queue every job (together: one round trip for many), then print each result as
    it lands."""
    from ..redis._queue import RedisQueue

    async with RedisQueue.connect(url, prefix) as queue:
        ids = [""] * len(jobs)

        async def submit(index: int, job: Job) -> None:
            ids[index] = await queue.submit(job)

        async with anyio.create_task_group() as group:
            for index, job in enumerate(jobs):
                group.start_soon(submit, index, job)
        for job, job_id in zip(jobs, ids, strict=True):
            if job_id != job.id:
                print(
                    f"job id '{job.id}' was used before on this Redis; this run is '{job_id}'",
                    file=sys.stderr,
                    flush=True,
                )
        results: list[JobResult] = []
        async with aclosing(queue.results(ids)) as landing:
            async for result in landing:
                results.append(result)
                print(
                    result.model_dump_json() if json_output else render_result(result), flush=True
                )
    return results


async def _report(
    handle: JobHandle, results: list[JobResult], json_output: bool, progress: JobProgress
) -> None:
    result = await handle.result()
    results.append(result)
    progress.job_ended(result)
    text = result.model_dump_json() if json_output else render_result(result)
    progress.print(text)
