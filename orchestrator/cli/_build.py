"""Building an orchestrator from command-line options, the same way for every command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from .._config import OrchestratorConfig, load_config
from .._errors import UsageError
from .._orchestrator import Orchestrator
from .._sinks import JsonlFileSink, Sink
from .._supervisor import SupervisorSettings
from ._options import event_log_path, state_file_path

_json_logs = False


def note(text: str, *, warning: bool = False) -> None:
    """A line for the operator on stderr; with --json-logs a JSON log line like the rest,
    so that the stream stays pure JSON."""
    if _json_logs:
        log = structlog.get_logger("orchestrator.cli")
        (log.warning if warning else log.info)(text)
    else:
        print(text, file=sys.stderr, flush=True)


def configure_logging(*, json: bool = False) -> None:
    """Log lines go to stderr (stdout is for results): console, or JSON for log shippers."""
    global _json_logs
    _json_logs = json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def load_and_warn(config_dir: Path | None) -> OrchestratorConfig:
    """Load the config; its warnings go to stderr."""
    config = load_config(config_dir)
    for warning in config.warnings:
        note(str(warning), warning=True)
    return config


def build_orchestrator(
    config: OrchestratorConfig,
    *,
    state_file: Path | None,
    concurrency: int,
    sinks: Sequence[Sink] = (),
    queue_size: int = 1024,
    redis_url: str | None = None,
    redis_prefix: str = "orchestrator",
    max_wait: float = 0.0,
    cwd_root: Path | None = None,
) -> Orchestrator:
    """An orchestrator with the shared state file and the event log beside it,
    or, given a Redis URL, with state and events on Redis."""
    settings = SupervisorSettings(max_cooldown_wait=max_wait, cwd_root=cwd_root)
    if redis_url is not None:
        return Orchestrator(
            config,
            concurrency=concurrency,
            queue_size=queue_size,
            sinks=sinks,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            settings=settings,
        )
    state = state_file_path(state_file, config.config_dir)
    try:
        event_log = JsonlFileSink(
            event_log_path(state),
            max_bytes=config.telemetry.event_log_max_bytes,
            keep=config.telemetry.event_log_keep,
        )
    except OSError as exc:  # read-only, missing permission, not a directory
        raise UsageError(
            f"Error: cannot write the state directory {state.parent}: "
            f"{exc.strerror or exc} (choose another with --state-file or "
            "$ORCHESTRATOR_STATE_FILE)"
        ) from None
    return Orchestrator(
        config,
        concurrency=concurrency,
        queue_size=queue_size,
        state_file=state,
        sinks=[event_log, *sinks],
        settings=settings,
    )


def warn_state_problems(orchestrator: Orchestrator) -> None:
    """Print what went wrong with the state file (call once the orchestrator is entered)."""
    for problem in orchestrator.state_problems:
        note(f"Warning: {problem}", warning=True)
