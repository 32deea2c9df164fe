"""Prometheus: the metrics a failover leaves, scraped from /metrics over HTTP."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import (
    Job,
    Orchestrator,
    PrometheusSink,
    ProviderCooledDown,
    ProviderRecovered,
    load_config,
)

from .conftest import WriteConfig
from .fakes.config_text import backend, provider

pytestmark = pytest.mark.anyio


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` from a real HTTP scrape."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


DONE = (("outcome", "succeeded"),)


async def scrape_when(
    port: int, sample: tuple[str, tuple[tuple[str, str], ...]], value: float
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape until ``sample`` reaches ``value``: the sink counts in its own task."""
    with anyio.fail_after(10):
        while True:
            metrics = await anyio.to_thread.run_sync(scrape, port)
            if metrics.get(sample) == value:
                return metrics
            await anyio.sleep(0.02)


async def test_jobs_attempts_rotations_and_cooldowns_are_served(
    write_config: WriteConfig,
) -> None:
    sink = PrometheusSink(port=0)
    directory = write_config(
        backend("agent", ["busy", "spare"]),
        provider("agent", "busy", "limit", API_KEY="sk-secret-busy")
        + provider("agent", "spare", API_KEY="sk-secret-spare"),
    )
    try:
        async with Orchestrator(load_config(directory, environ={}), sinks=[sink]) as orch:
            for _ in range(3):
                await orch.run(Job(prompt="hello"))
            metrics = await scrape_when(sink.port, ("orchestrator_jobs_total", DONE), 3)
    finally:
        sink.close()
    assert metrics[("orchestrator_jobs_total", (("outcome", "succeeded"),))] == 3
    busy = (("backend", "agent"), ("outcome", "usage_limit"), ("provider", "busy"))
    spare = (("backend", "agent"), ("outcome", "success"), ("provider", "spare"))
    assert metrics[("orchestrator_attempts_total", busy)] == 1  # cooled down after one
    assert metrics[("orchestrator_attempts_total", spare)] == 3
    rotated = (("backend", "agent"), ("provider", "spare"))
    assert metrics[("orchestrator_rotations_total", rotated)] == 1
    cooling = (("backend", "agent"), ("provider", "busy"))
    assert metrics[("orchestrator_cooldowns_active", cooling)] == 1
    assert metrics[("orchestrator_jobs_in_flight", ())] == 0
    assert metrics[("orchestrator_jobs_queued", ())] == 0
    assert metrics[("orchestrator_job_duration_seconds_count", (("outcome", "succeeded"),))] == 3
    assert "sk-secret" not in repr(metrics)


def test_cooldowns_end_by_time_or_recovery_and_the_server_stops() -> None:
    sink = PrometheusSink(port=0)
    port = sink.port
    try:
        sink(ProviderCooledDown(backend="b", provider="old", until=time.time() - 1, reason="limit"))
        sink(
            ProviderCooledDown(backend="b", provider="new", until=time.time() + 60, reason="limit")
        )
        sink(
            ProviderCooledDown(backend="b", provider="back", until=time.time() + 60, reason="limit")
        )
        sink(ProviderRecovered(backend="b", provider="back"))
        metrics = scrape(port)
    finally:
        sink.close()
    active = {
        dict(labels)["provider"]: value
        for (name, labels), value in metrics.items()
        if name == "orchestrator_cooldowns_active"
    }
    assert active == {"old": 0, "new": 1}
    with pytest.raises(httpx.ConnectError):
        scrape(port)


def test_queue_depth_and_in_flight_follow_the_jobs() -> None:
    from orchestrator import AttemptStarted, JobQueued, JobSucceeded

    sink = PrometheusSink(port=0)
    try:
        for number in range(3):
            sink(JobQueued(job_id=f"j{number}"))
        sink(AttemptStarted(job_id="j0", attempt=1))
        sink(AttemptStarted(job_id="j0", attempt=2))  # a second attempt: still one job
        middle = scrape(sink.port)
        sink(JobSucceeded(job_id="j0", duration=1.0))
        after = scrape(sink.port)
    finally:
        sink.close()
    assert (
        middle[("orchestrator_jobs_queued", ())],
        middle[("orchestrator_jobs_in_flight", ())],
    ) == (2, 1)
    assert (
        after[("orchestrator_jobs_queued", ())],
        after[("orchestrator_jobs_in_flight", ())],
    ) == (2, 0)


def test_headroom_readings_are_a_utilization_gauge() -> None:
    """Each provider's latest headroom reading is served as orchestrator_provider_utilization."""
    from orchestrator import ProviderHeadroom

    sink = PrometheusSink(port=0)
    try:
        for used in (0.5, 0.93):
            sink(
                ProviderHeadroom(
                    backend="claude",
                    provider="max",
                    utilization=used,
                    resets_at=None,
                    near_limit=used > 0.9,
                )
            )
        labels = (("backend", "claude"), ("provider", "max"))
        assert scrape(sink.port)[("orchestrator_provider_utilization", labels)] == 0.93
    finally:
        sink.close()
