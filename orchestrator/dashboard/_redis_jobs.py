"""The Redis job stream seen by the dashboard: entries not yet delivered (queued), entries
pending with a worker (running), dead letters, and a retry that submits a failed or
dead-lettered job again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pydantic

from .._job import Job
from ..redis._queue import GROUP, RedisKeys, RedisQueue, lost_group
from ._queue_view import QueuedJob, QueueView, RetryError

if TYPE_CHECKING:
    from ..redis._connection import RedisClient

#: Entries listed from a stream at most.
LISTED = 500


async def redis_queue_view(
    client: RedisClient, keys: RedisKeys, failed: Sequence[str]
) -> QueueView:
    """Queued and running entries, dead letters, and which of ``failed`` can run again."""
    pending_ids = await _pending_ids(client, keys)
    view = QueueView()
    for entry in await client.xrange(keys.jobs, count=LISTED):
        identifier = str(entry.identifier)
        name = _job_id(entry.field_values.get("job")) or identifier
        if identifier in pending_ids:
            view.running.append(name)
        else:
            view.queued.append(QueuedJob(name, int(identifier.split("-")[0]) / 1000))
    view.queued_total = max(len(view.queued), await client.xlen(keys.jobs) - len(pending_ids))
    for entry in await client.xrange(keys.dead, count=LISTED):
        job_id = _job_id(entry.field_values.get("job"))
        if job_id is not None:
            view.dead.add(job_id)
    view.retryable = set(view.dead)
    chosen = list(failed)[-LISTED:]
    if chosen:
        async with client.pipeline(transaction=False) as pipeline:
            replies = [pipeline.exists([keys.failed_job(job_id)]) for job_id in chosen]
        view.retryable |= {
            job_id for job_id, reply in zip(chosen, replies, strict=True) if await reply
        }
    return view


async def retry_on_redis(client: RedisClient, keys: RedisKeys, job_id: str) -> str:
    """Submit the job again (under a new id: the old one's result is still kept);
    its dead letter or kept text is removed once it is queued."""
    raw, dead_entry = await _dead_letter(client, keys, job_id)
    if raw is None:
        raw = await client.get(keys.failed_job(job_id))
    if raw is None:
        raise RetryError(
            f"Error: job {job_id}: neither dead-lettered nor a failed job whose text is kept"
        )
    try:
        job = Job.model_validate_json(raw)
    except pydantic.ValidationError:
        raise RetryError(f"Error: job {job_id}: its kept text is not a valid job") from None
    new_id = await RedisQueue(client, keys).submit(job)
    if dead_entry is not None:
        await client.xdel(keys.dead, [dead_entry])
    else:
        await client.delete([keys.failed_job(job_id)])
    return new_id


async def _dead_letter(
    client: RedisClient, keys: RedisKeys, job_id: str
) -> tuple[str | None, str | None]:
    for entry in await client.xrange(keys.dead, count=LISTED * 10):
        raw = entry.field_values.get("job")
        if raw and _job_id(raw) == job_id:
            return str(raw), str(entry.identifier)
    return None, None


async def _pending_ids(client: RedisClient, keys: RedisKeys) -> set[str]:
    try:
        pending: Any = await client.xpending(keys.jobs, GROUP, "-", "+", LISTED * 10)
    except Exception as exc:
        if not lost_group(exc):
            raise
        return set()  # no stream or group yet (no worker started): nothing runs
    return {str(info.identifier) for info in pending}


def _job_id(raw: object) -> str | None:
    try:
        return Job.model_validate_json(str(raw or "")).id
    except pydantic.ValidationError:
        return None
