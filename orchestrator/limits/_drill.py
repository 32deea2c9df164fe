"""A limit drill: each API-key provider's real CLI against a loopback API that answers 429.

``orchestrator providers test`` answers the question an overnight user has
before leaving: *when this provider runs dry, will the job notice, and how
fast?* For every provider whose base URL is ours to set (the adapter's
base-URL variable, or ``sentinel_env``), the provider's own CLI, options and
settings run one small job with that URL pointed at a loopback mock that
answers every model request with HTTP 429, through the same supervisor,
sentinel and signals a real job uses. Nothing reaches the real provider, so
no quota is spent; the rotation state is a throwaway one.

Not re-exported by ``limits``: it drives the supervisor, which the rest of
``limits`` sits under.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import anyio
from anyio.abc import Listener, SocketAttribute, SocketStream, TaskGroup

from .._config import OrchestratorConfig
from .._events import EventBus, ProviderCooledDown
from .._job import AttemptOutcome, Job
from .._llm_config import MessageBackendConfig
from .._provider_metadata import ProviderConfig
from .._registry import load_adapter
from .._sentinel import Sentinel, _drain_body, _next_event, _send_simple
from .._sentinel_config import base_url_variable, is_url
from .._supervisor import Supervisor, SupervisorSettings

DRILL_PROMPT = "Reply with the single word: ping"
#: ``base_url="https://host/v1"`` in a command's arguments: (key, origin, path).
_ARG_BASE_URL = re.compile(r'(base_url\s*=\s*)"(https?://[^/"]+)([^"]*)"')
#: Seconds the drill announces; the cooldown the report shows comes from it.
DRILL_RETRY_AFTER = 60
_LIMITED = json.dumps(
    {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Rate limit reached (provider-orchestrator limit drill; no real request)",
        },
    }
).encode()


@dataclass(frozen=True)
class DrillReport:
    """What the drill saw for one provider.

    Attributes:
        skipped: why the provider was not tested (no base URL of ours to set).
        outcome: how the attempt ended (``usage_limit`` is the right answer).
        detected_in: seconds from the CLI's start to the end of its attempt.
        cooldown_until: when the provider would be back, where a cooldown was set.
        message: the attempt's message (redacted like every result).
        requests: requests the CLI made to the mock.
    """

    backend: str
    provider: str
    skipped: str | None = None
    outcome: AttemptOutcome | None = None
    detected_in: float | None = None
    cooldown_until: float | None = None
    cooldown_seconds: float | None = None
    message: str = ""
    requests: int = 0

    @property
    def detected(self) -> bool:
        return self.outcome is AttemptOutcome.USAGE_LIMIT


async def drill(
    config: OrchestratorConfig,
    backends: Sequence[str] = (),
    *,
    job_seconds: float = 60.0,
    base_environment: Mapping[str, str] | None = None,
) -> list[DrillReport]:
    """Run the drill for every provider of ``backends`` (default: all), one at a time.

    Args:
        job_seconds: the drill job's ``timeout``: a limit not seen by then is
            reported as not seen.

    Cancellation: the running CLI's process group is stopped, the mock and the
    sentinel are closed, and the cancellation propagates.
    """
    environment = dict(os.environ if base_environment is None else base_environment)
    async with _LimitedApi() as mock, Sentinel() as sentinel:
        run = _Drill(config, mock, sentinel, environment, job_seconds)
        return [
            await _drill_one(run, backend, provider)
            for backend in backends or list(config.backends)
            for provider in config.providers_for(backend)
        ]


@dataclass(frozen=True)
class _Drill:
    """What every provider's drill shares."""

    config: OrchestratorConfig
    mock: _LimitedApi
    sentinel: Sentinel
    environment: Mapping[str, str]
    job_seconds: float


async def _drill_one(run: _Drill, backend: str, provider: ProviderConfig) -> DrillReport:
    config, mock = run.config, run.mock
    pointed = _pointed_at(config, backend, provider, mock.url)
    if pointed is None:
        return DrillReport(
            backend,
            provider.name,
            skipped="no base URL of ours to point at a mock (a subscription login?)",
        )
    drilled = _config_for(config, backend, pointed)
    bus = EventBus()
    supervisor = Supervisor(
        drilled,
        bus=bus,
        settings=SupervisorSettings(max_cooldown_wait=0),
        base_environment=run.environment,
    )
    supervisor.sentinel = run.sentinel
    before = mock.requests
    job = Job(prompt=DRILL_PROMPT, backend=backend, timeout=run.job_seconds)
    async with bus.subscribe() as events:
        result = await supervisor.run_job(job)
        cooled = [e for e in events.waiting(1000) if isinstance(e, ProviderCooledDown)]
    attempt = result.attempts[0] if result.attempts else None
    return DrillReport(
        backend,
        provider.name,
        outcome=attempt.outcome if attempt else None,
        detected_in=attempt.duration if attempt else None,
        cooldown_until=cooled[0].until if cooled else None,
        cooldown_seconds=cooled[0].until - cooled[0].timestamp if cooled else None,
        message=attempt.message if attempt else (result.error or ""),
        requests=mock.requests - before,
    )


def _pointed_at(
    config: OrchestratorConfig, backend: str, provider: ProviderConfig, mock_url: str
) -> ProviderConfig | None:
    """The provider with its base URL on the mock (same path), or None when it has none.

    The base URL is the adapter's variable (or ``sentinel_env``), else a
    ``base_url="…"`` in the command's arguments (codex's ``-c`` providers).
    """
    variable = base_url_variable(provider, load_adapter(config.backend(backend).adapter))
    upstream = provider.env.get(variable, "") if variable is not None else ""
    if variable is not None and is_url(upstream):
        url = mock_url + urlsplit(upstream).path
        return provider.model_copy(update={"env": {**provider.env, variable: url}})
    args = tuple(_ARG_BASE_URL.sub(lambda m: f'{m[1]}"{mock_url}{m[3]}"', a) for a in provider.args)
    if args == provider.args:
        return None
    return provider.model_copy(update={"args": args})


def _config_for(
    config: OrchestratorConfig, backend: str, provider: ProviderConfig
) -> OrchestratorConfig:
    """The backend with only ``provider``; no retries, no fallback."""
    settings = config.backend(backend).model_copy(
        update={
            "providers": (provider.name,),
            "usage_limit_retry_count": 0,
            "throttle_wait_seconds": 0.0,
        }
    )
    return replace(
        config,
        backends={backend: settings},
        message_backend=MessageBackendConfig(default=backend, order=(backend,)),
        providers={backend: (provider,)},
        warnings=(),
    )


class _LimitedApi:
    """A loopback HTTP server: every POST gets 429 with Retry-After; every GET an empty 200."""

    def __init__(self) -> None:
        self.url = ""
        self.requests = 0
        self._group: TaskGroup | None = None

    async def __aenter__(self) -> _LimitedApi:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.url = f"http://127.0.0.1:{listener.extra(SocketAttribute.local_port)}"
        self._stack = AsyncExitStack()
        self._group = await self._stack.enter_async_context(anyio.create_task_group())
        self._stack.callback(self._group.cancel_scope.cancel)
        self._group.start_soon(self._listen, listener)
        return self

    async def _listen(self, listener: Listener[SocketStream]) -> None:
        async with listener:
            await listener.serve(self._serve)

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _serve(self, stream: SocketStream) -> None:
        import h11

        connection = h11.Connection(h11.SERVER)
        async with stream:
            try:
                while isinstance(request := await _next_event(connection, stream), h11.Request):
                    await _drain_body(connection, stream)
                    if request.method == b"POST":
                        self.requests += 1
                        retry = (("retry-after", str(DRILL_RETRY_AFTER)),)
                        await _send_simple(connection, stream, 429, _LIMITED, retry)
                    else:
                        await _send_simple(connection, stream, 200, b"{}")
                    connection.start_next_cycle()
            except (anyio.BrokenResourceError, anyio.EndOfStream, h11.ProtocolError, OSError):
                return


def describe(report: DrillReport) -> tuple[str, str, str]:
    """(result, classified as, cooldown) for a table row."""
    if report.skipped is not None:
        return ("skipped", "", report.skipped)
    outcome = report.outcome.value if report.outcome else "none"
    seen = f"{report.detected_in:.1f} s" if report.detected_in is not None else "-"
    result = f"limit seen in {seen}" if report.detected else f"NOT seen as a limit ({seen})"
    if report.cooldown_until is None or report.cooldown_seconds is None:
        return (result, outcome, "")
    stamp = time.strftime("%H:%M:%S", time.localtime(report.cooldown_until))
    return (result, outcome, f"{report.cooldown_seconds:.0f} s (until {stamp})")
