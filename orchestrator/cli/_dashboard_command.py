"""``orchestrator dashboard``: the live dashboard in a browser, and the options the
worker's ``--http`` shares with it."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from .._config import OrchestratorConfig
from .._errors import UsageError
from ._build import load_and_warn, note
from ._options import (
    ConfigDirOption,
    RedisOption,
    RedisPrefixOption,
    StateFileOption,
    state_file_path,
)

if TYPE_CHECKING:
    from ..dashboard import Dashboard, DashboardSource, Listen

#: The same names as orchestrator.dashboard's, kept here so --help needs no extra.
TOKEN_VARIABLE = "ORCHESTRATOR_DASHBOARD_TOKEN"
DEFAULT_LISTEN = "127.0.0.1:8765"

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--http-token",
        envvar=TOKEN_VARIABLE,
        help="Token every request must carry (Authorization: Bearer, or open /?token=... "
        f"once); required beyond loopback. Prefer ${TOKEN_VARIABLE}: ps shows arguments.",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class DashboardPlan:
    """What to serve, where, and with which token: checked before anything starts."""

    dashboard: Dashboard
    listen: Listen
    token: str | None

    @property
    def source(self) -> DashboardSource:
        return self.dashboard.source


def plan_dashboard(
    config: OrchestratorConfig,
    listen: str,
    token: str | None,
    *,
    option: str,
    state_file: Path | None,
    spool: Path | None,
    redis: str | None,
    redis_prefix: str,
) -> DashboardPlan:
    """The dashboard for these options; usage errors (exit 2) for a bad address, no token
    beyond loopback, or the extra not installed."""
    try:
        from ..dashboard import (
            Dashboard,
            RedisSource,
            StateFileSource,
            check_exposure,
            parse_listen,
        )
    except ImportError as exc:
        raise UsageError(
            f"Error: the dashboard needs the 'dashboard' extra ({exc.name} is not installed): "
            "pip install 'provider-orchestrator[dashboard]'"
        ) from None
    if redis is not None and spool is not None:
        raise UsageError("Error: give --spool DIR or --redis URL, not both")
    where = parse_listen(listen, option)
    check_exposure(where, token or None, option)
    source: RedisSource | StateFileSource
    if redis is not None:
        source = RedisSource(config, redis, redis_prefix)
    else:
        source = StateFileSource(config, state_file_path(state_file, config.config_dir), spool)
    return DashboardPlan(Dashboard(config, source), where, token or None)


def dashboard_command(
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to serve on (port 0: any free one).")
    ] = DEFAULT_LISTEN,
    http_token: TokenOption = None,
    spool: Annotated[
        Path | None,
        typer.Option(
            "--spool",
            help="The workers' spool directory: shows queued and running job files, and lets "
            "failed ones be retried.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    config_dir: ConfigDirOption = None,
    state_file: StateFileOption = None,
    redis: RedisOption = None,
    redis_prefix: RedisPrefixOption = "orchestrator",
) -> None:
    """Serve the live dashboard: providers in rotation order with cooldown countdowns,
    jobs with their failover timelines, the event feed, and rotate/reset/retry
    buttons; the same data as JSON under /api/. Runs until Ctrl-C or SIGTERM.

    Loopback only unless a token is given (--http-token or $ORCHESTRATOR_DASHBOARD_TOKEN).
    """
    config = load_and_warn(config_dir)
    plan = plan_dashboard(
        config,
        listen,
        http_token,
        option="--listen",
        state_file=state_file,
        spool=spool,
        redis=redis,
        redis_prefix=redis_prefix,
    )
    anyio.run(_serve_until_signal, plan)


async def _serve_until_signal(plan: DashboardPlan) -> None:
    from ..dashboard import serving

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with serving(plan.dashboard, plan.listen, plan.token) as url:
            note(f"dashboard on {url}")
            async for signum in signals:
                note(f"{signal.Signals(signum).name}: stopping the dashboard")
                break
