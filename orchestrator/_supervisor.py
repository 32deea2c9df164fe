"""The attempt loop: one job, across providers and backends, to exactly one result.

For each backend in the job's order (its own backend first, then
``[message_backend].order``), providers are tried in rotation order, skipping
those cooling down and those this job already tried. What happens after an
attempt depends only on its outcome:

======================  =================================================
success                 done; ``always_switch_after_execution`` advances
usage_limit             a short announced wait (``throttle_wait_seconds``)
                        is waited out on the same provider, twice at most;
                        else the same provider again up to
                        ``usage_limit_retry_count`` times, then cool it down
                        until the announced reset (else the backend's
                        default) and try the next provider
auth_error              suspended until its settings change (or a manual
                        reset), next provider
transient_error         cool down for ``busy_cooldown_seconds``, next provider
failure, idle timeout,  next provider, no cooldown: an error no rule knows
launch_error            is not the job's fault, and costs one attempt
rejected                the job fails: the CLI refused the job itself
total timeout           the job fails: its time is up
======================  =================================================

Each provider is tried at most once per job (plus its limit retries), so the
loop always ends, even when every backend is limited.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import partial
from pathlib import Path
from typing import NamedTuple

import anyio
import structlog

from ._adapter import Adapter, AttemptRequest, Classification, Invocation, ResumableAdapter
from ._config import OrchestratorConfig
from ._environment import child_environment
from ._errors import OrchestratorError
from ._events import (
    AttemptFinished,
    AttemptStarted,
    BackendFellBack,
    EventBus,
    JobFailed,
    JobSucceeded,
    JobWaiting,
    ProviderCooledDown,
    ProviderHeadroom,
    ProviderRecovered,
    ProviderRotated,
    ProviderSuspended,
)
from ._job import Attempt, AttemptOutcome, Job, JobMode, JobResult, TokenUsage
from ._llm_config import BackendConfig
from ._process import RunLimits, RunResult, run_process
from ._provider_metadata import ProviderConfig
from ._redaction import Redactor, shorten
from ._registry import load_adapter
from ._rotation import ProviderRotation, WaitUntil
from ._rotation_store import MemoryRotationStore, RotationStore
from ._sentinel import Sentinel, Ticket
from ._sentinel_config import held_keys, key_pools, key_variables, sentinel_variables
from ._served_model import model_matches
from .limits import Headroom, follow_log
from .resume import NOTHING, RESUME_AFTER, Carry, WorkCarrier

logger = structlog.get_logger("orchestrator.supervisor")

STDERR_TAIL_LINES = 20
#: Characters of an attempt's message, and of each kept stderr line (after redaction).
MESSAGE_LIMIT = 400
TAIL_LINE_LIMIT = 2000
ROTATE_ON = frozenset(
    {
        AttemptOutcome.USAGE_LIMIT,
        AttemptOutcome.AUTH_ERROR,
        AttemptOutcome.TRANSIENT_ERROR,
        AttemptOutcome.TIMEOUT,
        AttemptOutcome.LAUNCH_ERROR,
        AttemptOutcome.FAILURE,
    }
)
#: Waits of a throttled provider sat out on it, per attempt, before rotating.
THROTTLE_WAITS = 2
#: Passes over every backend one job may make (each after waiting for a reset).
MAX_PASSES = 64


@dataclass(frozen=True)
class SupervisorSettings:
    """Knobs of the attempt loop.

    Attributes:
        default_cooldown: seconds a limited provider is skipped when the CLI
            announced no wait.
        max_cooldown_wait: how long, in all, a job may wait for the earliest
            cooldown to end when every provider of every backend is cooling;
            0 fails it at once with the recovery time.
        kill_grace: seconds between SIGTERM and SIGKILL of an attempt's group.
        cwd_root: jobs may only work inside this directory (symlinks
            resolved); None: anywhere. A backend's ``cwd_root`` overrides it.
    """

    default_cooldown: float = 300.0
    max_cooldown_wait: float = 0.0
    kill_grace: float = 5.0
    cwd_root: Path | None = None


class _Names(NamedTuple):
    job_id: str
    backend: str
    provider: str | None
    model: str | None


def _log_watch(
    invocation: Invocation, environment: Mapping[str, str]
) -> Callable[[], Awaitable[Classification]] | None:
    """Following the CLI's log for limit lines, when it names one (qwen's debug log)."""
    watched = invocation.watched_log
    path = watched.path(environment) if watched is not None else None
    if watched is None or path is None:
        return None
    judge = watched.judge
    return lambda: follow_log(path, judge)


class _SentinelSaw(NamedTuple):
    usage: TokenUsage | None = None
    headroom: Headroom | None = None
    served_models: tuple[str, ...] = ()
    #: ``(limited provider, next provider)`` for each key switched inside a request.
    switches: tuple[tuple[str, str], ...] = ()


class _Next(Enum):
    SUCCEEDED = "succeeded"
    FAIL_JOB = "fail_job"
    NEXT_BACKEND = "next_backend"


@dataclass
class _JobRun:
    """What one job has done so far."""

    job: Job
    deadline: float  # attempts are stopped by then (the job's timeout less the grace)
    attempts: list[Attempt] = field(default_factory=list)
    success: tuple[str, str | None, str | None, Classification] | None = None
    error: str | None = None
    seen: dict[str, ProviderRotation] = field(default_factory=dict)  # the last view per backend
    waited: float = 0.0  # seconds spent waiting for cooldowns to end
    grace: float | None = None  # the kill grace within a job timeout; None: the default
    home: str | None = None  # the backend the job starts on (its model is for that kind)
    carrier: WorkCarrier | None = None  # the agent's work, carried across attempts


class Supervisor:
    """Runs jobs to results against one configuration and its rotation state.

    Args:
        state: where rotation state lives; by default this process's memory.
    """

    def __init__(
        self,
        config: OrchestratorConfig,
        *,
        bus: EventBus | None = None,
        settings: SupervisorSettings = SupervisorSettings(),
        clock: Callable[[], float] = time.time,
        base_environment: Mapping[str, str] | None = None,
        adapter_loader: Callable[[str], Adapter] = load_adapter,
        state: RotationStore | None = None,
    ) -> None:
        self.config = config
        self.bus = bus or EventBus()
        self.settings = settings
        self.clock = clock
        self.state: RotationStore = state or MemoryRotationStore(config.new_rotations())
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._base_environment = dict(os.environ if base_environment is None else base_environment)
        self._adapters = {name: adapter_loader(b.adapter) for name, b in config.backends.items()}
        self._redact = Redactor(config.secret_values)
        self._sentinel_variables = sentinel_variables(config, self._adapters)
        held = held_keys(config, self._adapters, self._sentinel_variables)
        self._pools = key_pools(config, held)
        self._fingerprints = {name: config.fingerprints(name) for name in config.providers}
        self._unusable = {name: config.unusable(name) for name in config.providers}
        #: Set by the orchestrator (which owns it) when a provider asks for it.
        self.sentinel: Sentinel | None = None

    @property
    def wants_sentinel(self) -> bool:
        """Some provider goes through the sentinel (by default, or ``sentinel = true``)."""
        return bool(self._sentinel_variables)

    async def run_job(self, job: Job) -> JobResult:
        """Run ``job`` until it succeeds or nothing is left to try.

        Never raises for a job's own trouble: every failure is in the result.
        Cancellation: the running attempt's process group is stopped and the
        cancellation propagates.
        """
        started = anyio.current_time()
        # The kill grace comes out of the job's time (at most a quarter of it): attempts
        # get SIGTERM by ``deadline`` and SIGKILL by the job's own end.
        run = _JobRun(job, math.inf)
        run.carrier = WorkCarrier(job, self._redact, self._base_environment)
        if job.timeout:
            run.grace = min(self.settings.kill_grace, job.timeout / 4)
            run.deadline = started + job.timeout - run.grace
        try:
            backends = self._backend_order(job)
            run.home = backends[0] if backends else None
        except OrchestratorError as exc:
            run.error = str(exc)
            backends = []
        for _ in range(MAX_PASSES):
            if await self._pass_over_backends(run, backends) is not _Next.NEXT_BACKEND:
                break
            if not backends or not await self._wait_for_a_reset(run):
                run.error = self._exhausted_message(run) if backends else run.error
                break
        return self._finish(run, anyio.current_time() - started)

    async def _pass_over_backends(self, run: _JobRun, backends: list[str]) -> _Next:
        """Each backend in order until one ends the job; NEXT_BACKEND when none did."""
        previous: str | None = None
        for backend in backends:
            if previous is not None:
                self.bus.publish(
                    BackendFellBack(
                        job_id=run.job.id,
                        backend=backend,
                        from_backend=previous,
                        reason="every provider of the backend failed or is limited",
                    )
                )
            step = await self._run_on_backend(run, backend)
            if step is not _Next.NEXT_BACKEND:
                return step
            previous = backend
        return _Next.NEXT_BACKEND

    async def _wait_for_a_reset(self, run: _JobRun) -> bool:
        """With everything cooling, sleep until the earliest reset if the budget allows.

        True when it waited (the caller makes another pass); False when no
        cooldown ends within ``max_cooldown_wait`` (in all) and the deadline.
        """
        earliest = self._earliest_reset(run)
        if earliest is None:
            return False
        until, backend, provider = earliest
        wait = until - self.clock()
        budget = self.settings.max_cooldown_wait - run.waited
        if wait > budget or anyio.current_time() + wait > run.deadline:
            return False
        self.bus.publish(
            JobWaiting(
                job_id=run.job.id,
                backend=backend,
                provider=provider,
                until=until,
                reason="every provider of every backend is cooling down",
            )
        )
        await anyio.sleep(max(wait, 0.0))
        run.waited += max(wait, 0.0)
        return True

    def _earliest_reset(self, run: _JobRun) -> tuple[float, str, str] | None:
        now = self.clock()
        ends = [
            (until, backend, name)
            for backend, rotation in run.seen.items()
            for name, until in rotation.cooldown_until.items()
            if until > now
        ]
        return min(ends) if ends else None

    # -- the loop -------------------------------------------------------------

    def _backend_order(self, job: Job) -> list[str]:
        """The backends the job tries, in order: the one it names (else, for a hard job,
        the high-score backends; else its mode's default), then its mode's fallback order."""
        table = self.config.order_for(noedit=job.mode is JobMode.NOEDIT)
        order = list(table.order)
        hard = list(self.config.high_score) if job.difficulty == "high" else []
        if hard and job.backend is None:
            order = [*hard, *(name for name in order if name not in hard)]
            first = hard[0]
        else:
            first = job.backend or table.default or order[0]
        backend = self.config.backend(first)
        if not backend.enabled:
            raise OrchestratorError(f"Error: backend '{first}' is disabled (job '{job.id}')")
        if job.model and backend.allowed_models and job.model not in backend.allowed_models:
            raise OrchestratorError(
                f"Error: job '{job.id}', field 'model': {job.model!r} is not in "
                f"[backends.{first}] allowed_models ({', '.join(backend.allowed_models)})"
            )
        for name, model in job.models.items():
            target = self.config.backends.get(name)
            if target is None:
                raise OrchestratorError(
                    f"Error: job '{job.id}', field 'models': no backend '{name}' "
                    f"(backends: {', '.join(self.config.backends)})"
                )
            if target.allowed_models and model not in target.allowed_models:
                raise OrchestratorError(
                    f"Error: job '{job.id}', field 'models': {model!r} is not in "
                    f"[backends.{name}] allowed_models ({', '.join(target.allowed_models)})"
                )
        return [first, *(name for name in order if name != first)]

    async def _run_on_backend(self, run: _JobRun, backend_name: str) -> _Next:
        backend = self.config.backend(backend_name)
        if not self.config.providers[backend_name]:
            verdict = await self._attempt_with_retries(run, backend, None)
            return self._after_fallback_attempt(run, backend, verdict)
        tried: set[str] = set()
        previous: str | None = None
        while True:
            choice = await self._choose(run, backend_name, tried)
            if choice is None:
                return _Next.NEXT_BACKEND
            if previous is not None:
                self.bus.publish(
                    ProviderRotated(
                        job_id=run.job.id,
                        backend=backend_name,
                        provider=choice,
                        from_provider=previous,
                        reason=run.attempts[-1].outcome.value,
                    )
                )
            tried.add(choice)
            provider = self.config.provider(backend_name, choice)
            verdict = await self._attempt_with_retries(run, backend, provider)
            # A key pool may have carried the attempt on to other providers' keys.
            choice = run.attempts[-1].provider or choice
            tried.add(choice)
            step = await self._after_attempt(run, backend, choice, verdict)
            if step is not None:
                return step
            previous = choice

    async def _choose(self, run: _JobRun, backend: str, tried: set[str]) -> str | None:
        now = self.clock()
        view = await self.state.view(backend, now)
        for name in view.recovered:
            self.bus.publish(ProviderRecovered(backend=backend, provider=name))
        run.seen[backend] = view.rotation
        near_limit = self.config.backend(backend).rotate_at_utilization
        out = view.rotation.suspended_now(self._fingerprints[backend])
        excluded = tried | out | self._unusable[backend]
        choice = view.rotation.select(now, exclude=excluded, near_limit=near_limit)
        # Everything left is cooling: the next backend first; the job waits
        # for a reset only once every backend is cooling (``_wait_for_a_reset``).
        return None if isinstance(choice, WaitUntil) else choice

    async def _after_attempt(
        self, run: _JobRun, backend: BackendConfig, provider: str, verdict: Classification
    ) -> _Next | None:
        outcome = verdict.outcome
        if outcome is AttemptOutcome.SUCCESS:
            await self.state.record_success(
                backend.name, provider, advance=backend.always_switch_after_execution
            )
            run.success = (backend.name, provider, run.attempts[-1].model, verdict)
            return _Next.SUCCEEDED
        until: float | None = None
        if outcome is AttemptOutcome.USAGE_LIMIT:
            until = self._cooldown_end(backend, verdict.retry_after)
        elif outcome is AttemptOutcome.AUTH_ERROR:
            await self._suspend(backend.name, provider, run.attempts[-1].message)
        elif outcome is AttemptOutcome.TRANSIENT_ERROR and backend.busy_cooldown_seconds > 0:
            until = self.clock() + backend.busy_cooldown_seconds
        await self._record_failure(backend, provider, until, outcome.value, run.job.id)
        if self._job_must_stop(run, verdict):
            return _Next.FAIL_JOB
        return None

    async def _record_failure(
        self,
        backend: BackendConfig,
        provider: str,
        until: float | None,
        reason: str,
        job_id: str,
    ) -> None:
        """A failed attempt (or key) on ``provider``: counted, and cooled down until
        ``until`` when one is given, which every subscriber hears of (with the job whose
        attempt met the limit, so its timeline shows the cooldown it caused)."""
        await self.state.record_failure(backend.name, provider, cooldown_until=until)
        if until is not None:
            self.bus.publish(
                ProviderCooledDown(
                    job_id=job_id,
                    backend=backend.name,
                    provider=provider,
                    until=until,
                    reason=reason,
                )
            )

    async def _suspend(self, backend: str, provider: str, why: str) -> None:
        """A refused credential: out until the provider's settings change (or a reset)."""
        await self.state.suspend(backend, provider, self._fingerprints[backend][provider])
        self.bus.publish(
            ProviderSuspended(
                backend=backend,
                provider=provider,
                reason=f"{why}; out until its settings in provider_metadata.toml change "
                f"or 'orchestrator providers reset {backend}'",
            )
        )

    def _after_fallback_attempt(
        self, run: _JobRun, backend: BackendConfig, verdict: Classification
    ) -> _Next:
        if verdict.outcome is AttemptOutcome.SUCCESS:
            run.success = (backend.name, None, run.attempts[-1].model, verdict)
            return _Next.SUCCEEDED
        return _Next.FAIL_JOB if self._job_must_stop(run, verdict) else _Next.NEXT_BACKEND

    def _job_must_stop(self, run: _JobRun, verdict: Classification) -> bool:
        """True, with the job's error set, when no other provider may be tried."""
        if anyio.current_time() >= run.deadline:
            run.error = f"Error: job '{run.job.id}' timed out after {run.job.timeout} s"
            return True
        if verdict.outcome not in ROTATE_ON:
            last = run.attempts[-1]
            reason = last.message or verdict.outcome.value
            run.error = (
                f"Error: job '{run.job.id}' failed on {last.backend}/{last.provider}: {reason}"
            )
            return True
        return False

    def _cooldown_end(self, backend: BackendConfig, wait: float | None) -> float:
        """When a provider limited now comes back: the announced wait, else the default,
        never longer than ``max_cooldown_seconds`` (nor infinite, nor NaN)."""
        default = backend.usage_limit_cooldown_seconds
        fallback = self.settings.default_cooldown if default is None else default
        chosen = wait if wait is not None and not math.isnan(wait) else fallback
        return self.clock() + min(max(0.0, chosen), backend.max_cooldown_seconds)

    # -- one attempt ----------------------------------------------------------

    async def _attempt_with_retries(
        self, run: _JobRun, backend: BackendConfig, provider: ProviderConfig | None
    ) -> Classification:
        retries = backend.usage_limit_retry_count
        throttle_waits = THROTTLE_WAITS
        while True:
            verdict = await self._attempt(run, backend, provider)
            if verdict.outcome is not AttemptOutcome.USAGE_LIMIT:
                return verdict
            wait = verdict.retry_after
            if (
                wait is not None
                and wait <= backend.throttle_wait_seconds
                and throttle_waits > 0
                and anyio.current_time() + wait < run.deadline
            ):
                throttle_waits -= 1
                await anyio.sleep(wait)
                continue
            if retries <= 0:
                return verdict
            retries -= 1
            await anyio.sleep(backend.usage_limit_retry_wait_seconds)

    async def _attempt(
        self, run: _JobRun, backend: BackendConfig, provider: ProviderConfig | None
    ) -> Classification:
        job = run.job
        adapter = self._adapters[backend.name]
        carrier = run.carrier
        assert carrier is not None
        # Where its CLI's home is; built only when work is carried (not on the hot path).
        home = partial(child_environment, provider, self._base_environment)
        number = len(run.attempts) + 1
        refusal = self._cwd_refusal(job, backend)
        carried = NOTHING if refusal is not None else await carrier.before(backend, adapter, home)
        request = AttemptRequest(
            job,
            backend,
            provider,
            self._time_zone(provider),
            job_model_applies=self._job_model_applies(run, backend),
            resume_session=carried.session,
            prompt_override=carried.prompt,
        )
        model = request.model
        names = _Names(job.id, backend.name, provider.name if provider else None, model)
        if refusal is not None:
            # The job's own fault: every provider would refuse it the same way.
            self._publish_started(names, number)
            verdict = Classification(AttemptOutcome.REJECTED, refusal)
            return self._record(run, names, number, verdict, None, 0.0, "")
        try:
            invocation = adapter.build(request)
        except OrchestratorError as exc:
            self._publish_started(names, number)
            verdict = Classification(AttemptOutcome.LAUNCH_ERROR, str(exc))
            return self._record(run, names, number, verdict, None, 0.0, "")
        limiters = self._limiters_for(backend, provider)
        started: list[float] = []  # when the attempt started, once it has
        try:
            async with AsyncExitStack() as stack:
                for limiter in limiters:
                    await stack.enter_async_context(limiter)
                self._publish_started(names, number, carried, invocation.session_id)
                started.append(anyio.current_time())
                result, seen = await self._run(run, invocation, provider, adapter, request)
        except anyio.get_cancelled_exc_class():
            if started:  # every attempt_started gets its end, also when it is cancelled
                self._publish_finished(
                    names,
                    number,
                    Classification(AttemptOutcome.CANCELLED),
                    exit_code=None,
                    duration=anyio.current_time() - started[0],
                    message="cancelled (its process group was stopped)",
                    session_id=invocation.session_id,
                )
            raise
        verdict = result.verdict or adapter.classify(request, result.output)
        if verdict.usage is None and seen.usage is not None:
            verdict = replace(verdict, usage=seen.usage)
        reading = verdict.headroom or seen.headroom
        if reading is not None and provider is not None:
            await self._keep_headroom(backend, provider.name, reading)
        served = seen.served_models[-1] if seen.served_models else None
        verdict = self._check_served_model(names, backend, served, verdict)
        if seen.switches:  # the rest of the attempt ran on the pool's next keys
            names = names._replace(provider=seen.switches[-1][1])
            went = " -> ".join([seen.switches[0][0], *(to for _, to in seen.switches)])
            note = f"key pool: {went} inside the same requests"
            verdict = replace(
                verdict, message=f"{note}; {verdict.message}" if verdict.message else note
            )
        stdout = result.output.stdout
        session = invocation.session_id or verdict.session_id
        if session is None and verdict.outcome in RESUME_AFTER:
            # Ended by a live verdict before the CLI's result was read (codex's thread id).
            session = adapter.session_in(stdout) if isinstance(adapter, ResumableAdapter) else None
        await carrier.after(
            backend, adapter, number, verdict.outcome, session, stdout, home, carried
        )
        return self._record(
            run,
            names,
            number,
            verdict,
            result.output.exit_code,
            result.duration,
            result.output.stderr,
            stdout_truncated=result.output.stdout_truncated,
            session_id=session,
            carried=carried,
            wire_usage=seen.usage,
            served_model=served,
        )

    def _check_served_model(
        self,
        names: _Names,
        backend: BackendConfig,
        served: str | None,
        verdict: Classification,
    ) -> Classification:
        """A provider that served another model than asked: logged (``warn``), or the
        attempt fails so that the job moves on (``fail``)."""
        asked = names.model
        if served is None or asked is None or model_matches(asked, served):
            return verdict
        text = f"the provider served model {served!r}, not {asked!r}"
        logger.warning(
            "served model differs",
            job=names.job_id,
            backend=names.backend,
            provider=names.provider,
            asked=asked,
            served=served,
        )
        if backend.on_model_mismatch == "fail" and verdict.outcome is AttemptOutcome.SUCCESS:
            return Classification(AttemptOutcome.FAILURE, f"{text} (on_model_mismatch = fail)")
        return replace(verdict, message=f"{verdict.message}; {text}" if verdict.message else text)

    def _cwd_refusal(self, job: Job, backend: BackendConfig) -> str | None:
        """Why the job may not work in its ``cwd``: not a directory, or outside the root."""
        if job.cwd is None:
            return None
        if not job.cwd.is_dir():
            return f"the job's working directory {str(job.cwd)!r} is not a directory"
        root = backend.cwd_root or self.settings.cwd_root
        if root is None:
            return None
        resolved, allowed = job.cwd.resolve(), root.expanduser().resolve()
        if resolved.is_relative_to(allowed):
            return None
        where = f"[backends.{backend.name}] cwd_root" if backend.cwd_root else "--cwd-root"
        return (
            f"the job's working directory {str(job.cwd)!r} resolves to {str(resolved)!r}, "
            f"outside the allowed root {str(allowed)!r} ({where})"
        )

    def _publish_started(
        self,
        names: _Names,
        number: int,
        carried: Carry = NOTHING,
        session_id: str | None = None,
    ) -> None:
        self.bus.publish(
            AttemptStarted(
                attempt=number,
                job_id=names.job_id,
                backend=names.backend,
                provider=names.provider,
                model=names.model,
                session_id=session_id,
                resumed_from=carried.resumed_from,
                handed_over_from=carried.handed_over_from,
            )
        )

    async def _run(
        self,
        run: _JobRun,
        invocation: Invocation,
        provider: ProviderConfig | None,
        adapter: Adapter,
        request: AttemptRequest,
    ) -> tuple[RunResult, _SentinelSaw]:
        """The process's result, and what the sentinel saw, if it watched."""
        job = run.job
        remaining = run.deadline - anyio.current_time()
        environment = child_environment(provider, self._base_environment, invocation.env)
        variable = self._sentinel_variable(provider)
        limits = RunLimits(
            timeout=remaining if remaining != math.inf else None,
            idle_timeout=self._idle_timeout(job, request.backend, adapter),
            kill_grace=self.settings.kill_grace if run.grace is None else run.grace,
        )
        async with AsyncExitStack() as stack:
            ticket = None
            if variable is not None and self.sentinel is not None:
                ticket = await stack.enter_async_context(
                    self.sentinel.ticket(environment[variable])
                )
                environment[variable] = ticket.url
                if provider is not None:
                    ticket.hold(environment, key_variables(provider, adapter))
                    self._offer_pool(run, request.backend, provider, ticket)
            result = await run_process(
                invocation.argv,
                env=environment,
                cwd=job.cwd,
                stdin=invocation.stdin,
                limits=limits,
                scanner=adapter.scanner(request),
                external=ticket.verdict
                if ticket is not None
                else _log_watch(invocation, environment),
            )
            if ticket is None:
                return result, _SentinelSaw()
            return result, _SentinelSaw(
                ticket.usage, ticket.headroom, ticket.served_models, tuple(ticket.switches)
            )

    def _offer_pool(
        self, run: _JobRun, backend: BackendConfig, provider: ProviderConfig, ticket: Ticket
    ) -> None:
        """Give the ticket the keys of the provider's pool that may be used now (not
        cooling down, suspended, unusable or already tried by this job)."""
        members = self._pools.get((backend.name, provider.name))
        if not members:
            return
        now = self.clock()
        seen = run.seen.get(backend.name)
        out = set(self._unusable[backend.name])
        out |= {a.provider for a in run.attempts if a.backend == backend.name and a.provider}
        if seen is not None:
            out |= seen.suspended_now(self._fingerprints[backend.name])
            out |= {name for name in members if seen.is_cooling(name, now)}
        others = [
            (name, self.config.provider(backend.name, name).env)
            for name in members
            if name not in out
        ]
        if others:
            ticket.pool(provider.name, others, partial(self._key_limited, run, backend))

    async def _key_limited(
        self,
        run: _JobRun,
        backend: BackendConfig,
        limited: str,
        chosen: str,
        verdict: Classification,
    ) -> None:
        """A pool's key was limited inside a request: it cools down as after an attempt,
        and the job goes on with the next key (a rotation, without a new process)."""
        until = self._cooldown_end(backend, verdict.retry_after)
        await self._record_failure(
            backend, limited, until, AttemptOutcome.USAGE_LIMIT.value, run.job.id
        )
        self.bus.publish(
            ProviderRotated(
                job_id=run.job.id,
                backend=backend.name,
                provider=chosen,
                from_provider=limited,
                reason="usage_limit: the same request sent again with the next key of the pool",
            )
        )

    async def _keep_headroom(
        self, backend: BackendConfig, provider: str, reading: Headroom
    ) -> None:
        """Record a headroom reading and announce it (new jobs avoid a provider near its limit)."""
        await self.state.record_headroom(backend.name, provider, reading)
        self.bus.publish(
            ProviderHeadroom(
                backend=backend.name,
                provider=provider,
                utilization=reading.utilization,
                resets_at=reading.resets_at,
                near_limit=reading.is_near_limit(backend.rotate_at_utilization, self.clock()),
            )
        )

    @staticmethod
    def _idle_timeout(job: Job, backend: BackendConfig, adapter: Adapter) -> float | None:
        """The job's idle timeout, else the backend's, else the adapter's; 0 is none."""
        chosen = job.idle_timeout
        if chosen is None:
            chosen = backend.idle_timeout
        if chosen is None:
            chosen = getattr(adapter, "default_idle_timeout", None)
        return chosen or None

    def _time_zone(self, provider: ProviderConfig | None) -> str | None:
        """The child's ``TZ``: the provider's setting, else the inherited one."""
        if provider is not None and "TZ" in provider.env:
            return provider.env["TZ"]
        return self._base_environment.get("TZ")

    def _sentinel_variable(self, provider: ProviderConfig | None) -> str | None:
        if provider is None:
            return None
        return self._sentinel_variables.get((provider.backend, provider.name))

    def _limiters_for(
        self, backend: BackendConfig, provider: ProviderConfig | None
    ) -> list[anyio.CapacityLimiter]:
        """The backend's and the provider's concurrency limiters, where configured."""
        wanted = [(backend.name, backend.max_concurrency)]
        if provider is not None:
            wanted.append((f"{backend.name}.{provider.name}", provider.max_concurrency))
        limiters = []
        for key, tokens in wanted:
            if tokens is not None:
                if key not in self._limiters:  # created lazily: they need a running loop
                    self._limiters[key] = anyio.CapacityLimiter(tokens)
                limiters.append(self._limiters[key])
        return limiters

    def _record(
        self,
        run: _JobRun,
        names: _Names,
        number: int,
        verdict: Classification,
        exit_code: int | None,
        duration: float,
        stderr: str,
        *,
        stdout_truncated: bool = False,
        session_id: str | None = None,
        carried: Carry = NOTHING,
        wire_usage: TokenUsage | None = None,
        served_model: str | None = None,
    ) -> Classification:
        # Redact first, cut after: no cut may leave part of a secret behind.
        message = shorten(self._redact(verdict.message), MESSAGE_LIMIT)
        lines = self._redact(stderr).splitlines()[-STDERR_TAIL_LINES:]
        tail = tuple(shorten(line, TAIL_LINE_LIMIT) for line in lines)
        run.attempts.append(
            Attempt(
                backend=names.backend,
                provider=names.provider,
                model=names.model,
                outcome=verdict.outcome,
                exit_code=exit_code,
                duration=duration,
                message=message,
                retry_after=verdict.retry_after,
                stderr_tail=tail,
                stdout_truncated=stdout_truncated,
                session_id=session_id,
                resumed_from=carried.resumed_from,
                handed_over_from=carried.handed_over_from,
                served_model=served_model,
            )
        )
        self._publish_finished(
            names,
            number,
            verdict,
            exit_code=exit_code,
            duration=duration,
            message=message,
            session_id=session_id,
            wire_usage=wire_usage,
            served_model=served_model,
        )
        return verdict

    def _publish_finished(
        self,
        names: _Names,
        number: int,
        verdict: Classification,
        *,
        exit_code: int | None,
        duration: float,
        message: str,
        session_id: str | None = None,
        wire_usage: TokenUsage | None = None,
        served_model: str | None = None,
    ) -> None:
        self.bus.publish(
            AttemptFinished(
                attempt=number,
                outcome=verdict.outcome,
                exit_code=exit_code,
                duration=duration,
                message=message,
                usage=verdict.usage,
                session_id=session_id,
                wire_usage=wire_usage,
                served_model=served_model,
                job_id=names.job_id,
                backend=names.backend,
                provider=names.provider,
                model=names.model,
            )
        )

    # -- the result -----------------------------------------------------------

    def _finish(self, run: _JobRun, duration: float) -> JobResult:
        job = run.job
        if run.success is not None:
            backend, provider, model, verdict = run.success
            self.bus.publish(
                JobSucceeded(
                    job_id=job.id,
                    backend=backend,
                    provider=provider,
                    model=model,
                    duration=duration,
                    usage=verdict.usage,
                )
            )
            return JobResult(
                job_id=job.id,
                status="succeeded",
                output=verdict.answer,
                output_truncated=bool(run.attempts) and run.attempts[-1].stdout_truncated,
                backend=backend,
                provider=provider,
                model=model,
                attempts=tuple(run.attempts),
                session_id=verdict.session_id,
                usage=verdict.usage,
                metadata=job.metadata,
            )
        error = shorten(self._redact(run.error or "Error: the job did not run"), 4 * MESSAGE_LIMIT)
        self.bus.publish(JobFailed(job_id=job.id, duration=duration, error=error))
        last = run.attempts[-1] if run.attempts else None
        return JobResult(
            job_id=job.id,
            status="failed",
            # Where it failed last: the attempt the error is most likely about.
            backend=last.backend if last else None,
            provider=last.provider if last else None,
            model=last.model if last else None,
            attempts=tuple(run.attempts),
            error=error,
            metadata=job.metadata,
        )

    def _exhausted_message(self, run: _JobRun) -> str:
        now = self.clock()
        waits = [
            (until, f"{backend}/{name}")
            for backend, rotation in run.seen.items()
            for name, until in rotation.cooldown_until.items()
            if until > now
        ]
        text = f"Error: job '{run.job.id}' failed on every provider of every backend"
        if waits:
            until, which = min(waits)
            text += f"; the first to recover is {which} in {until - now:.0f} s"
        out = [
            f"{backend}/{name}"
            for backend, rotation in run.seen.items()
            for name in sorted(rotation.suspended_now(self._fingerprints[backend]))
        ]
        if out:
            text += f"; refused credentials keep {', '.join(out)} out until their settings change"
        return text

    def _job_model_applies(self, run: _JobRun, backend: BackendConfig) -> bool:
        """The job's ``model`` is for the backend it starts on and those of its kind."""
        home = run.home
        return home is None or self.config.backend(home).adapter == backend.adapter
