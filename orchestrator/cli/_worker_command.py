"""``orchestrator worker``: the long-lived worker on a spool directory."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import anyio
import typer

from .._child import Child
from .._descendants import become_subreaper
from .._errors import UsageError
from .._prometheus_sink import PrometheusSink
from .._spool import Spool
from .._telemetry import telemetry_sinks
from .._worker import Worker
from .._worker_source import JobSource, SpoolSource
from ._build import (
    build_orchestrator,
    configure_logging,
    load_and_warn,
    note,
    warn_state_problems,
)
from ._dashboard_command import DashboardPlan, TokenOption, plan_dashboard
from ._options import (
    DEFAULT_MAX_WAIT,
    ConfigDirOption,
    MaxWaitOption,
    RedisOption,
    RedisPrefixOption,
    StateFileOption,
)


def worker_command(
    spool: Annotated[
        Path | None,
        typer.Option(
            "--spool",
            help="Spool directory (incoming/, processing/, done/, failed/ are made inside).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    redis: RedisOption = None,
    redis_prefix: RedisPrefixOption = "orchestrator",
    visibility_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="With --redis: seconds after which a silent worker's job is run by another.",
        ),
    ] = 60.0,
    max_deliveries: Annotated[
        int,
        typer.Option(
            min=1, help="With --redis: deliveries before a job goes to the dead-letter stream."
        ),
    ] = 3,
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
    prometheus_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve Prometheus /metrics on this port [default: [telemetry] prometheus_port].",
            show_default=False,
        ),
    ] = None,
    prometheus_host: Annotated[
        str | None,
        typer.Option(
            help="Address for /metrics [default: [telemetry], else 127.0.0.1].", show_default=False
        ),
    ] = None,
    otel: Annotated[
        bool,
        typer.Option(
            "--otel",
            help="Spans and metrics through OpenTelemetry (run under opentelemetry-instrument "
            "to export them) [default: [telemetry] opentelemetry].",
        ),
    ] = False,
    max_wait: MaxWaitOption = DEFAULT_MAX_WAIT,
    cwd_root: Annotated[
        Path | None,
        typer.Option(
            "--cwd-root",
            envvar="ORCHESTRATOR_CWD_ROOT",
            help="Jobs may only work inside this directory (their cwd, symlinks resolved) "
            "[default: the directory the worker was started in].",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            help="Serve the live dashboard from the worker on HOST:PORT "
            "(as `orchestrator dashboard` does).",
            show_default=False,
        ),
    ] = None,
    http_token: TokenOption = None,
    config_dir: ConfigDirOption = None,
    state_file: StateFileOption = None,
) -> None:
    """Run job files dropped into SPOOL/incoming/, or jobs from a Redis stream
    (--redis), until SIGTERM, SIGINT or SIGHUP.

    A stop signal drains: nothing new is taken, running jobs get --drain-timeout,
    then are cancelled (their CLIs' process groups get SIGTERM, then SIGKILL)
    and go back to the queue; a second signal cancels them at once, without grace.
    Exit 0 after a stop by signal, 2 for config and usage errors.
    """
    configure_logging(json=json_logs)
    if (spool is None) == (redis is None):
        raise UsageError("Error: give --spool DIR or --redis URL (one of them)")
    config = load_and_warn(config_dir)
    plan = None
    if http is not None:  # checked before anything is made or started
        plan = plan_dashboard(
            config,
            http,
            http_token,
            option="--http",
            state_file=state_file,
            spool=spool,
            redis=redis,
            redis_prefix=redis_prefix,
        )
    settings = config.telemetry.model_copy(
        update={
            key: value
            for key, value in {
                "prometheus_port": prometheus_port,
                "prometheus_host": prometheus_host,
                "opentelemetry": otel or None,
            }.items()
            if value is not None
        }
    )
    sinks = telemetry_sinks(settings)
    for sink in sinks:
        if isinstance(sink, PrometheusSink):  # listening already: say where (port 0: which)
            where = f"http://{settings.prometheus_host}:{sink.port}/metrics"
            note(f"metrics on {where}")
    orchestrator = build_orchestrator(
        config,
        state_file=state_file,
        concurrency=concurrency,
        sinks=sinks,
        redis_url=redis,
        redis_prefix=redis_prefix,
        max_wait=max_wait,
        cwd_root=cwd_root or Path.cwd(),
    )
    source: JobSource
    if redis is not None:
        from ..redis._queue import RedisKeys
        from ..redis._source import RedisJobSource

        source = RedisJobSource(
            redis,
            RedisKeys(redis_prefix),
            visibility_timeout=visibility_timeout,
            max_deliveries=max_deliveries,
        )
    else:
        assert spool is not None
        source = SpoolSource(_usable_spool(spool))
    worker = Worker(orchestrator, source)
    if plan is not None:
        from ..dashboard import StateFileSource

        if isinstance(plan.source, StateFileSource):  # this worker's state, from memory
            plan.source.live_status = orchestrator.status
    become_subreaper()  # a CLI's helper that calls setsid is still ended with its job
    anyio.run(_serve, worker, drain_timeout, plan)


def _usable_spool(directory: Path) -> Spool:
    """The spool, its folders made; a directory that cannot be one is a usage error."""
    spool = Spool(directory)
    try:
        spool.create()
    except OSError as exc:
        raise UsageError(
            f"Error: cannot use {directory} as the spool directory: {exc.strerror or exc}"
        ) from None
    return spool


#: Signals that stop the worker: running jobs drain, then are cancelled.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


async def _serve(worker: Worker, drain_timeout: float, plan: DashboardPlan | None) -> None:
    # Signals are caught from before the worker starts (it may wait for Redis
    # to come up), so none kills it uncleanly and none goes unanswered.
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with contextlib.AsyncExitStack() as stack:
            if plan is not None:  # up before the worker, down after it has drained
                from ..dashboard import serving

                url = await stack.enter_async_context(
                    serving(plan.dashboard, plan.listen, plan.token)
                )
                note(f"dashboard on {url}")
            await _run_worker(worker, drain_timeout, signals)


async def _run_worker(worker: Worker, drain_timeout: float, signals: AsyncIterator[int]) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signals, signals, worker, drain_timeout)
        async with anyio.create_task_group() as running:
            await running.start(worker.run)
            if not worker.stopping:
                warn_state_problems(worker.orchestrator)
                note(f"worker ready: {worker.source.label}")
        group.cancel_scope.cancel()  # the signal watcher


async def _stop_on_signals(
    signals: AsyncIterator[int], worker: Worker, drain_timeout: float
) -> None:
    """First signal: drain for ``drain_timeout``, then cancel (groups get SIGTERM, then
    SIGKILL after the grace). A second: cancel now, and SIGKILL without grace."""
    stopping = False
    async for signum in signals:
        name = signal.Signals(signum).name
        if stopping:
            note(f"{name} again: cancelling running jobs, SIGKILL now")
            Child.hurry()  # groups in their grace die now; those stopped later get none
            worker.stop(0)
            continue
        stopping = True
        note(f"{name}: stopping (running jobs get {drain_timeout:g} s; signal again to stop now)")
        worker.stop(drain_timeout)
