"""Prometheus: ``/metrics`` on a loopback port, from the event channel (the ``prometheus`` extra).

Metric names (all prefixed ``orchestrator_``): ``jobs_total{outcome}``,
``attempts_total{backend,provider,outcome}``, ``rotations_total{backend,provider}``
(``provider`` is where the job went), ``fallbacks_total{backend}``,
``cooldowns_active{backend,provider}`` (1 while a cooldown lasts),
``jobs_queued``, ``jobs_in_flight`` and ``job_duration_seconds{outcome}``.
Labels are names and outcomes only: never a secret.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._events import (
    AttemptFinished,
    AttemptStarted,
    BackendFellBack,
    Event,
    JobFailed,
    JobQueued,
    JobSucceeded,
    ProviderCooledDown,
    ProviderHeadroom,
    ProviderRecovered,
    ProviderRotated,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

#: Job durations: agents take seconds to an hour.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class PrometheusSink:
    """Counts events into Prometheus metrics and serves them until ``close``.

    Args:
        port: where ``/metrics`` is served (0: a free port, see ``port``).
        host: the listening address; loopback unless chosen otherwise.
        registry: where the metrics live (default: a registry of its own).
    """

    def __init__(
        self, port: int = 9464, host: str = "127.0.0.1", registry: CollectorRegistry | None = None
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.exposition import start_http_server

        self.registry = registry or CollectorRegistry()
        self._jobs = Counter(
            "orchestrator_jobs", "Jobs ended, by outcome", ["outcome"], registry=self.registry
        )
        self._attempts = Counter(
            "orchestrator_attempts",
            "Attempts, by backend, provider and outcome",
            ["backend", "provider", "outcome"],
            registry=self.registry,
        )
        self._rotations = Counter(
            "orchestrator_rotations",
            "Moves to another provider of a backend (provider: where the job went)",
            ["backend", "provider"],
            registry=self.registry,
        )
        self._fallbacks = Counter(
            "orchestrator_fallbacks",
            "Moves to another backend (backend: where the job went)",
            ["backend"],
            registry=self.registry,
        )
        self._utilization = Gauge(
            "orchestrator_provider_utilization",
            "The latest headroom reading: fraction of the provider's tightest window used",
            ["backend", "provider"],
            registry=self.registry,
        )
        self._queued = Gauge("orchestrator_jobs_queued", "Jobs waiting", registry=self.registry)
        self._in_flight = Gauge(
            "orchestrator_jobs_in_flight", "Jobs running", registry=self.registry
        )
        self._duration = Histogram(
            "orchestrator_job_duration_seconds",
            "Job durations, by outcome",
            ["outcome"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._cooldowns = _CooldownCollector()
        self.registry.register(self._cooldowns)
        self._waiting: set[str] = set()
        self._running: set[str] = set()
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.port: int = self._server.server_port

    def __call__(self, event: Event) -> None:
        job_id = event.job_id or ""
        if isinstance(event, JobQueued):
            self._waiting.add(job_id)
        elif isinstance(event, AttemptStarted):
            self._waiting.discard(job_id)
            self._running.add(job_id)
        elif isinstance(event, AttemptFinished):
            outcome = event.outcome.value
            self._attempts.labels(event.backend or "", event.provider or "", outcome).inc()
        elif isinstance(event, ProviderRotated):
            self._rotations.labels(event.backend or "", event.provider or "").inc()
        elif isinstance(event, BackendFellBack):
            self._fallbacks.labels(event.backend or "").inc()
        elif isinstance(event, ProviderCooledDown):
            self._cooldowns.until[(event.backend or "", event.provider or "")] = event.until
        elif isinstance(event, ProviderHeadroom):
            labels = (event.backend or "", event.provider or "")
            self._utilization.labels(*labels).set(event.utilization)
        elif isinstance(event, ProviderRecovered):
            self._cooldowns.until.pop((event.backend or "", event.provider or ""), None)
        elif isinstance(event, JobSucceeded | JobFailed):
            outcome = "succeeded" if isinstance(event, JobSucceeded) else "failed"
            self._jobs.labels(outcome).inc()
            self._duration.labels(outcome).observe(event.duration)
            self._waiting.discard(job_id)
            self._running.discard(job_id)
        self._queued.set(len(self._waiting))
        self._in_flight.set(len(self._running))

    def close(self) -> None:
        """Stop serving ``/metrics``."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _CooldownCollector:
    """``orchestrator_cooldowns_active``: computed at scrape time, so expiry needs no event."""

    def __init__(self) -> None:
        self.until: dict[tuple[str, str], float] = {}

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "orchestrator_cooldowns_active",
            "1 while a provider cools down after a limit",
            labels=["backend", "provider"],
        )
        now = time.time()
        # The scrape runs in the server's thread: list() takes a snapshot at once.
        for (backend, provider), until in list(self.until.items()):
            family.add_metric([backend, provider], 1.0 if until > now else 0.0)
        yield family
