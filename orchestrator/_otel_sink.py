"""OpenTelemetry: a span per job, a child span per attempt, and counters (the ``otel`` extra).

Spans and instruments come from the providers given, else from the process's
global ones (set by ``opentelemetry-instrument`` or the application), so the
exporters are whatever the operator already runs. Times come from the events,
so a span covers exactly the job or attempt. Attributes are names and
outcomes only; no secret ever reaches a span (events carry none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._events import (
    AttemptFinished,
    AttemptStarted,
    BackendFellBack,
    Event,
    JobFailed,
    JobQueued,
    JobSucceeded,
    ProviderCooledDown,
    ProviderRotated,
)
from ._job import AttemptOutcome

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

SCOPE = "provider-orchestrator"


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _attributes(**values: Any) -> dict[str, Any]:
    """OpenTelemetry attributes may not be None: those are left out."""
    return {f"orchestrator.{name}": value for name, value in values.items() if value is not None}


class OpenTelemetrySink:
    """Spans ``job`` > ``attempt``; counters of jobs, attempts and rotations; job durations.

    Args:
        tracer_provider: where spans go (default: the global provider).
        meter_provider: where metrics go (default: the global provider).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        from opentelemetry import metrics, trace

        self._trace = trace
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(SCOPE)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(SCOPE)
        self._jobs = meter.create_counter(
            "orchestrator.jobs", unit="{job}", description="Jobs ended, by outcome"
        )
        self._attempts = meter.create_counter(
            "orchestrator.attempts",
            unit="{attempt}",
            description="Attempts, by backend, provider and outcome",
        )
        self._rotations = meter.create_counter(
            "orchestrator.rotations", unit="{rotation}", description="Moves to another provider"
        )
        self._fallbacks = meter.create_counter(
            "orchestrator.fallbacks", unit="{fallback}", description="Moves to another backend"
        )
        self._duration = meter.create_histogram(
            "orchestrator.job.duration", unit="s", description="Job durations, by outcome"
        )
        self._jobs_open: dict[str, Span] = {}
        self._attempts_open: dict[tuple[str, int], Span] = {}

    def __call__(self, event: Event) -> None:
        job_id = event.job_id
        if isinstance(event, JobQueued) and job_id is not None:
            self._job_span(job_id, event.timestamp, event.backend)
        elif isinstance(event, AttemptStarted) and job_id is not None:
            self._start_attempt(job_id, event)
        elif isinstance(event, AttemptFinished):
            self._finish_attempt(job_id, event)
        elif isinstance(event, ProviderRotated):
            self._rotations.add(1, _attributes(backend=event.backend, provider=event.provider))
            self._note(event, "provider_rotated", from_provider=event.from_provider)
        elif isinstance(event, BackendFellBack):
            self._fallbacks.add(1, _attributes(backend=event.backend))
            self._note(event, "backend_fell_back", from_backend=event.from_backend)
        elif isinstance(event, ProviderCooledDown):
            self._note(event, "provider_cooled_down", until=event.until)
        elif isinstance(event, JobSucceeded | JobFailed) and job_id is not None:
            self._finish_job(job_id, event)

    def close(self) -> None:
        """End what is still open (the channel closed under running jobs)."""
        for span in [*self._attempts_open.values(), *self._jobs_open.values()]:
            span.set_status(self._trace.StatusCode.ERROR, "not finished when telemetry stopped")
            span.end()
        self._attempts_open.clear()
        self._jobs_open.clear()

    def _job_span(self, job_id: str, timestamp: float, backend: str | None) -> Span:
        span = self._jobs_open.get(job_id)
        if span is None:
            span = self._tracer.start_span(
                "job", start_time=_ns(timestamp), attributes=_attributes(job_id=job_id)
            )
            if backend is not None:
                span.set_attribute("orchestrator.requested_backend", backend)
            self._jobs_open[job_id] = span
        return span

    def _start_attempt(self, job_id: str, event: AttemptStarted) -> None:
        parent = self._job_span(job_id, event.timestamp, None)
        span = self._tracer.start_span(
            "attempt",
            context=self._trace.set_span_in_context(parent),
            start_time=_ns(event.timestamp),
            attributes=_attributes(
                job_id=event.job_id,
                attempt=event.attempt,
                backend=event.backend,
                provider=event.provider,
                model=event.model,
            ),
        )
        self._attempts_open[(job_id, event.attempt)] = span

    def _finish_attempt(self, job_id: str | None, event: AttemptFinished) -> None:
        labels = _attributes(
            backend=event.backend, provider=event.provider, outcome=event.outcome.value
        )
        self._attempts.add(1, labels)
        span = self._attempts_open.pop((job_id or "", event.attempt), None)
        if span is None:
            return
        span.set_attributes(_attributes(outcome=event.outcome.value, exit_code=event.exit_code))
        if event.usage is not None:
            span.set_attributes(
                _attributes(
                    input_tokens=event.usage.input_tokens,
                    output_tokens=event.usage.output_tokens,
                )
            )
        if event.outcome is not AttemptOutcome.SUCCESS:
            span.set_status(self._trace.StatusCode.ERROR, event.message or event.outcome.value)
        span.end(end_time=_ns(event.timestamp))

    def _note(self, event: Event, name: str, **values: Any) -> None:
        span = self._jobs_open.get(event.job_id or "")
        if span is not None:
            attributes = _attributes(backend=event.backend, provider=event.provider, **values)
            span.add_event(name, attributes, timestamp=_ns(event.timestamp))

    def _finish_job(self, job_id: str, event: JobSucceeded | JobFailed) -> None:
        outcome = "succeeded" if isinstance(event, JobSucceeded) else "failed"
        self._jobs.add(1, _attributes(outcome=outcome))
        self._duration.record(event.duration, _attributes(outcome=outcome))
        span = self._jobs_open.pop(job_id, None) or self._job_span_closed(job_id, event)
        span.set_attributes(
            _attributes(
                outcome=outcome, backend=event.backend, provider=event.provider, model=event.model
            )
        )
        if isinstance(event, JobFailed):
            span.set_status(self._trace.StatusCode.ERROR, event.error)
        span.end(end_time=_ns(event.timestamp))

    def _job_span_closed(self, job_id: str, event: JobSucceeded | JobFailed) -> Span:
        """A job that ended without being queued here (a rejected job file)."""
        span = self._job_span(job_id, event.timestamp - event.duration, None)
        del self._jobs_open[job_id]
        return span
