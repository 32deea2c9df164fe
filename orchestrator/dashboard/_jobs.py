"""What the dashboard knows of jobs, built from the event stream alone.

Events are the one record every mode shares (the spool's ``events.jsonl``, the
Redis stream), and they carry the whole failover story: each attempt's
provider, outcome, limit text and cooldown. :class:`JobBook` folds them into
one :class:`JobView` per job, a tally per provider for today, and the minute
buckets the chart draws. It is bounded: the oldest finished jobs are forgotten.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from .._events import (
    AttemptFinished,
    AttemptStarted,
    BackendFellBack,
    Event,
    JobFailed,
    JobQueued,
    JobSucceeded,
    JobWaiting,
    ProviderCooledDown,
    ProviderRotated,
)
from .._job import TokenUsage

JobState = Literal["queued", "running", "waiting", "succeeded", "failed"]
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "waiting", "succeeded", "failed")
#: Jobs remembered; past this the oldest finished ones are dropped first.
JOBS_KEPT = 2000
#: Minutes of history the chart draws.
CHART_MINUTES = 60


@dataclass
class AttemptView:
    """One attempt on the job's timeline."""

    number: int
    backend: str | None
    provider: str | None
    model: str | None
    started_at: float
    outcome: str | None = None
    exit_code: int | None = None
    duration: float | None = None
    message: str = ""
    session_id: str | None = None
    resumed_from: int | None = None
    handed_over_from: int | None = None
    served_model: str | None = None
    tokens: int | None = None
    #: The cooldown this attempt's limit put its provider in, and why.
    cooled_until: float | None = None
    cooled_reason: str | None = None


@dataclass
class JobView:
    """A job as far as the events tell: its state, attempts and failovers."""

    job_id: str
    state: JobState
    first_seen: float
    updated_at: float
    backend: str | None = None
    provider: str | None = None
    finished_at: float | None = None
    duration: float | None = None
    error: str | None = None
    waiting_until: float | None = None
    failovers: int = 0
    attempts: list[AttemptView] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")


@dataclass
class ProviderTally:
    """A provider's counts for the current (local) day, from the events seen."""

    day: str
    attempts: int = 0
    limited: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class Failover:
    """The latest move away from a provider or backend."""

    at: float
    job_id: str | None
    backend: str | None
    from_where: str | None
    to_where: str | None
    reason: str


class JobBook:
    """Jobs, per-provider tallies and chart buckets, updated one event at a time."""

    def __init__(self, *, keep: int = JOBS_KEPT) -> None:
        self._jobs: collections.OrderedDict[str, JobView] = collections.OrderedDict()
        self._keep = keep
        self.tallies: dict[tuple[str, str], ProviderTally] = {}
        self.last_failover: Failover | None = None
        #: Minute (Unix seconds // 60) -> [jobs finished, failovers].
        self.minutes: dict[int, list[int]] = {}

    def record(self, event: Event) -> None:
        """Fold one event in (events of no job still count for tallies and the chart)."""
        if _is_failover(event):
            self._failover(event)
        if isinstance(event, AttemptFinished):
            self._tally(event)
        if event.job_id is None:
            return
        job = self._job(event)
        job.updated_at = max(job.updated_at, event.timestamp)
        _apply(job, event)
        if isinstance(event, JobSucceeded | JobFailed):
            self._bucket(event.timestamp)[0] += 1

    def record_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.record(event)

    def job(self, job_id: str) -> JobView | None:
        return self._jobs.get(job_id)

    def jobs(
        self, *, state: str | None = None, backend: str | None = None, text: str | None = None
    ) -> list[JobView]:
        """Newest first, filtered by state, backend (any attempt's) and id substring."""
        chosen = []
        for job in reversed(self._jobs.values()):
            if state and job.state != state:
                continue
            if backend and all(attempt.backend != backend for attempt in job.attempts):
                continue
            if text and text.lower() not in job.job_id.lower():
                continue
            chosen.append(job)
        return chosen

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(JOB_STATES, 0)
        for job in self._jobs.values():
            counts[job.state] += 1
        return counts

    def tally(self, backend: str, provider: str) -> ProviderTally:
        """Today's counts (a tally from an earlier day reads as zero)."""
        today = _today()
        found = self.tallies.get((backend, provider))
        return found if found is not None and found.day == today else ProviderTally(today)

    def chart(self, now: float | None = None) -> list[tuple[int, int, int]]:
        """``(minute, jobs finished, failovers)`` for each of the last ``CHART_MINUTES``."""
        last = int((time.time() if now is None else now) // 60)
        minutes = range(last - CHART_MINUTES + 1, last + 1)
        return [(minute, *self.minutes.get(minute, (0, 0))) for minute in minutes]

    def _job(self, event: Event) -> JobView:
        assert event.job_id is not None
        job = self._jobs.get(event.job_id)
        if job is None:
            job = JobView(event.job_id, "queued", event.timestamp, event.timestamp)
            self._jobs[event.job_id] = job
            self._forget_oldest()
        else:
            self._jobs.move_to_end(event.job_id)
        return job

    def _forget_oldest(self) -> None:
        while len(self._jobs) > self._keep:
            oldest = next((key for key, job in self._jobs.items() if job.finished), None)
            self._jobs.pop(oldest if oldest is not None else next(iter(self._jobs)))

    def _failover(self, event: Event) -> None:
        if isinstance(event, ProviderRotated):
            moved = (event.from_provider, event.provider)
        else:
            assert isinstance(event, BackendFellBack)
            moved = (event.from_backend, event.backend)
        self.last_failover = Failover(
            event.timestamp, event.job_id, event.backend, *moved, event.reason
        )
        self._bucket(event.timestamp)[1] += 1

    def _tally(self, event: AttemptFinished) -> None:
        if event.backend is None or event.provider is None:
            return
        key = (event.backend, event.provider)
        tally = self.tally(*key)
        self.tallies[key] = tally
        tally.attempts += 1
        tally.limited += event.outcome == "usage_limit"
        tally.tokens += _tokens(event.wire_usage or event.usage) or 0

    def _bucket(self, moment: float) -> list[int]:
        minute = int(moment // 60)
        bucket = self.minutes.setdefault(minute, [0, 0])
        oldest = minute - CHART_MINUTES
        for stale in [key for key in self.minutes if key <= oldest]:
            del self.minutes[stale]
        return bucket


def _apply(job: JobView, event: Event) -> None:
    """One event's change to its job."""
    if isinstance(event, JobQueued):
        return
    if isinstance(event, AttemptStarted):
        job.state = "running"
        job.waiting_until = None
        job.backend, job.provider = event.backend, event.provider
        job.attempts.append(
            AttemptView(
                number=event.attempt,
                backend=event.backend,
                provider=event.provider,
                model=event.model,
                started_at=event.timestamp,
                session_id=event.session_id,
                resumed_from=event.resumed_from,
                handed_over_from=event.handed_over_from,
            )
        )
    elif isinstance(event, AttemptFinished):
        _finish_attempt(job, event)
    elif isinstance(event, ProviderCooledDown):
        attempt = _latest_on(job, event.backend, event.provider)
        if attempt is not None:
            attempt.cooled_until, attempt.cooled_reason = event.until, event.reason
    elif _is_failover(event):
        job.failovers += 1
    elif isinstance(event, JobWaiting):
        job.state, job.waiting_until = "waiting", event.until
    elif isinstance(event, JobSucceeded | JobFailed):
        job.state = "succeeded" if isinstance(event, JobSucceeded) else "failed"
        job.finished_at, job.duration = event.timestamp, event.duration
        job.error = event.error if isinstance(event, JobFailed) else None
        job.waiting_until = None


def _is_failover(event: Event) -> bool:
    """A move away from a provider or backend; a manual rotate is a person's choice."""
    if isinstance(event, ProviderRotated):
        return not event.reason.startswith("manual")
    return isinstance(event, BackendFellBack)


def _finish_attempt(job: JobView, event: AttemptFinished) -> None:
    attempt = next((a for a in reversed(job.attempts) if a.number == event.attempt), None)
    if attempt is None:  # its start was before the events the dashboard read
        attempt = AttemptView(
            event.attempt,
            event.backend,
            event.provider,
            event.model,
            event.timestamp - event.duration,
        )
        job.attempts.append(attempt)
    attempt.outcome = str(event.outcome)
    attempt.exit_code, attempt.duration = event.exit_code, event.duration
    attempt.message = event.message
    attempt.session_id = event.session_id or attempt.session_id
    attempt.served_model = event.served_model
    attempt.tokens = _tokens(event.wire_usage or event.usage)


def _latest_on(job: JobView, backend: str | None, provider: str | None) -> AttemptView | None:
    for attempt in reversed(job.attempts):
        if attempt.backend == backend and attempt.provider == provider:
            return attempt
    return None


def _tokens(usage: TokenUsage | None) -> int | None:
    if usage is None:
        return None
    if usage.total_tokens is not None:
        return usage.total_tokens
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    return (usage.input_tokens or 0) + (usage.output_tokens or 0)


def _today() -> str:
    return time.strftime("%Y-%m-%d")
