"""What the pages and ``/api/`` show, as plain JSON-ready data: one builder per view,
shared by the templates and the API so both always say the same thing.

Nothing here reads a secret: the status carries names, cooldowns and counts only,
events carry no keys, and results are shown without their output.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .._event_text import describe_event
from .._events import Event
from .._job import JobResult
from .._status import OrchestratorStatus, ProviderStatus
from ._jobs import JobBook, JobView
from ._queue_view import QueueView


def status_view(status: OrchestratorStatus, book: JobBook, now: float) -> dict[str, Any]:
    """``/api/status``: every backend's providers in rotation order, with state and counts."""
    failover = book.last_failover
    return {
        "generated_at": now,
        "backends": [
            {
                "name": backend.name,
                "enabled": backend.enabled,
                "model": backend.model,
                "current": next((p.name for p in backend.providers if p.current), None),
                "providers": [
                    _provider(backend.name, position, provider, book)
                    for position, provider in enumerate(backend.providers, 1)
                ],
            }
            for backend in status.backends
        ],
        "last_used": {
            "backend": status.last_backend,
            "provider": status.last_provider,
            "model": status.last_model,
        },
        "jobs": book.counts(),
        "last_failover": asdict(failover) if failover is not None else None,
    }


def _provider(
    backend: str, position: int, provider: ProviderStatus, book: JobBook
) -> dict[str, Any]:
    tally = book.tally(backend, provider.name)
    return {
        "position": position,
        "name": provider.name,
        "description": provider.description,
        "current": provider.current,
        "state": provider_state(provider),
        "cooldown_until": provider.cooldown_until,
        "cooldown_left": provider.cooldown_left,
        "utilization": provider.utilization,
        "utilization_resets_at": provider.utilization_resets_at,
        "near_limit": provider.near_limit,
        "unusable": provider.unusable,
        "successes": provider.successes,
        "failures": provider.failures,
        "attempts_today": tally.attempts,
        "limited_today": tally.limited,
        "tokens_today": tally.tokens,
        "key_held": provider.key_held,
        "key_pool": list(provider.key_pool),
    }


def provider_state(provider: ProviderStatus) -> str:
    """One word for the row's colour: unusable, suspended, cooling, near_limit or ready."""
    if provider.unusable:
        return "unusable"
    if provider.suspended:
        return "suspended"
    if provider.cooldown_until is not None:
        return "cooling"
    if provider.near_limit:
        return "near_limit"
    return "ready"


def job_view(job: JobView, queue: QueueView | None = None) -> dict[str, Any]:
    """A job with its attempt chain (``/api/jobs/<id>``, the timeline)."""
    data = asdict(job)
    data["retryable"] = (
        queue is not None and job.state == "failed" and job.job_id in queue.retryable
    )
    data["dead_lettered"] = queue is not None and job.job_id in queue.dead
    return data


def jobs_view(book: JobBook, queue: QueueView, filters: dict[str, str]) -> dict[str, Any]:
    """``/api/jobs``: the jobs the events named (newest first), filtered, plus the queue's
    own listing of what no event names yet."""
    state, backend, text = (filters.get(key) or None for key in ("state", "backend", "q"))
    jobs = book.jobs(state=state, backend=backend, text=text)
    known = {job.job_id for job in jobs}
    waiting = [
        {"name": queued.name, "since": queued.since}
        for queued in queue.queued
        if queued.name not in known and (text is None or text.lower() in queued.name.lower())
    ]
    return {
        "jobs": [job_view(job, queue) for job in jobs],
        "queued": waiting if state in (None, "queued") and backend is None else [],
        "queued_total": queue.queued_total,
        "running_in_store": len(queue.running),
        "counts": book.counts(),
    }


def result_view(result: JobResult | None) -> dict[str, Any] | None:
    """The stored result without its output (an answer can quote anything)."""
    if result is None:
        return None
    return result.model_dump(mode="json", exclude={"output", "metadata"}) | {
        "output_chars": len(result.output)
    }


def feed_view(events: list[Event]) -> list[dict[str, Any]]:
    """The live feed, newest first: time, kind, job and one readable line."""
    return [
        {
            "timestamp": event.timestamp,
            "kind": event.kind,
            "job_id": event.job_id,
            "text": describe_event(event, with_time=False, with_job=False),
        }
        for event in reversed(events)
    ]
