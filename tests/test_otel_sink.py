"""OpenTelemetry: a job span, a child span per attempt, and the counters, read in memory."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from orchestrator import Job, OpenTelemetrySink, Orchestrator, load_config

from .conftest import WriteConfig
from .fakes.config_text import backend, provider

pytestmark = pytest.mark.anyio


async def test_a_failover_job_is_a_span_with_an_attempt_span_each(
    write_config: WriteConfig,
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    sink = OpenTelemetrySink(tracer_provider, MeterProvider(metric_readers=[reader]))
    directory = write_config(
        backend("agent", ["busy", "spare"]),
        provider("agent", "busy", "limit", API_KEY="sk-secret-busy")
        + provider("agent", "spare", API_KEY="sk-secret-spare"),
    )
    async with Orchestrator(load_config(directory, environ={}), sinks=[sink]) as orch:
        result = await orch.run(Job(id="job-1", prompt="hello"))
    assert result.provider == "spare"

    spans = {(span.name, attrs(span).get("orchestrator.provider")): span
             for span in exporter.get_finished_spans()}  # fmt: skip
    job = spans[("job", "spare")]
    busy, spare = spans[("attempt", "busy")], spans[("attempt", "spare")]
    for attempt in (busy, spare):
        assert attempt.parent is not None
        assert attempt.parent.span_id == span_id_of(job)
    assert attrs(busy)["orchestrator.outcome"] == "usage_limit"
    assert busy.status.status_code is StatusCode.ERROR
    assert attrs(spare)["orchestrator.outcome"] == "success"
    assert attrs(job)["orchestrator.outcome"] == "succeeded"
    assert attrs(job)["orchestrator.job_id"] == "job-1"
    times = [job.start_time, busy.start_time, busy.end_time, spare.start_time]
    times += [spare.end_time, job.end_time]
    assert times == sorted(t or 0 for t in times)  # nested, in order, none missing
    # The cooldown names the job whose attempt met the limit: it is on the job's span.
    assert [event.name for event in job.events] == ["provider_cooled_down", "provider_rotated"]
    text = repr([(s.attributes, s.events, s.status.description) for s in spans.values()])
    assert "sk-secret" not in text

    attempts = {
        (point.attributes["orchestrator.provider"], point.attributes["orchestrator.outcome"]):
            point.value
        for point in points(reader, "orchestrator.attempts")
    }  # fmt: skip
    assert attempts == {("busy", "usage_limit"): 1, ("spare", "success"): 1}
    jobs = points(reader, "orchestrator.jobs")
    assert [(p.attributes["orchestrator.outcome"], p.value) for p in jobs] == [("succeeded", 1)]
    assert points(reader, "orchestrator.rotations")[0].value == 1
    assert points(reader, "orchestrator.job.duration")[0].count == 1


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def span_id_of(span: Any) -> int:
    span_id: int = span.context.span_id
    return span_id


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    """The data points of one metric, as the SDK collected them."""
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def test_a_failed_job_span_is_an_error_and_open_spans_end_on_close(
    write_config: WriteConfig,
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OpenTelemetrySink(tracer_provider, MeterProvider())
    directory = write_config(backend("agent", ["only"]), provider("agent", "only", "fail"))
    async with Orchestrator(load_config(directory, environ={}), sinks=[sink]) as orch:
        result = await orch.run(Job(prompt="x"))
    assert result.status == "failed"
    job = next(span for span in exporter.get_finished_spans() if span.name == "job")
    assert job.status.status_code is StatusCode.ERROR
    assert attrs(job)["orchestrator.outcome"] == "failed"
