"""The job queue on Redis Streams, for many workers on many machines.

Keys under the prefix (``orchestrator`` unless chosen):

==========================  ==================================================
``<p>:jobs``                the stream of submitted jobs (field ``job``: JSON)
                            with the consumer group ``workers``
``<p>:dead``                entries delivered too often: the job, its delivery
                            count and what is known of the last try
``<p>:result:<id>``         the ``JobResult`` JSON, kept for ``result_ttl``
``<p>:failed-job:<id>``     a failed job's JSON, kept as long (for a retry)
``<p>:done:<id>``           a list a waiting submitter blocks on (BLPOP)
``<p>:idem:<key>``          the job id an idempotency key was first used for
``<p>:id:<id>``             marks a job id as used (as long as its result is kept)
==========================  ==================================================

This module is the submitting side (and what both sides share); the workers'
side, reading entries and filing results, is ``_redis_source``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pydantic
import structlog

from ._job import Job, JobResult
from ._redis_connection import connected, key_prefix, until_done

if TYPE_CHECKING:
    from ._redis_connection import RedisClient

logger = structlog.get_logger("orchestrator.redis")

GROUP = "workers"
RESULT_TTL = 7 * 24 * 3600
IDEMPOTENCY_TTL = 7 * 24 * 3600

# Queue a job under its own id, or, when that id was used before (its result may
# still be stored, or it may be running), under the id with a suffix: a submission
# never shares a result with another. Returns the id used.
# KEYS: id marker, suffixed id marker, jobs stream. ARGV: job JSON, suffixed job JSON,
# job id, suffixed job id, ttl.
SUBMIT_UNIQUE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[5]) then
  redis.call('XADD', KEYS[3], '*', 'job', ARGV[1])
  return ARGV[3]
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[5])
redis.call('XADD', KEYS[3], '*', 'job', ARGV[2])
return ARGV[4]
"""

# Queue a job unless its idempotency key was used: the first job's id either way,
# in one step (a submitter dying half-way cannot leave a key without its job).
# KEYS: idempotency key, jobs stream. ARGV: job id, job JSON, ttl.
SUBMIT_ONCE = """
local first = redis.call('GET', KEYS[1])
if first then return first end
redis.call('XADD', KEYS[2], '*', 'job', ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return ARGV[1]
"""


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "orchestrator"

    def for_client(self, client: RedisClient) -> RedisKeys:
        """These keys as ``client`` must see them: on a cluster, under one hash tag."""
        return RedisKeys(key_prefix(client, self.prefix))

    @property
    def jobs(self) -> str:
        return f"{self.prefix}:jobs"

    @property
    def dead(self) -> str:
        return f"{self.prefix}:dead"

    def result(self, job_id: str) -> str:
        return f"{self.prefix}:result:{job_id}"

    def done(self, job_id: str) -> str:
        return f"{self.prefix}:done:{job_id}"

    def failed_job(self, job_id: str) -> str:
        return f"{self.prefix}:failed-job:{job_id}"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    def used_id(self, job_id: str) -> str:
        return f"{self.prefix}:id:{job_id}"


DEFAULT_KEYS = RedisKeys()


class RedisQueue:
    """The submitting side: queue jobs, await their results.

    ``async with RedisQueue.connect(url) as queue:`` opens it on its own client.
    """

    def __init__(self, client: RedisClient, keys: RedisKeys = DEFAULT_KEYS) -> None:
        self._client = client
        self.keys = keys.for_client(client)
        self._submit_once = client.register_script(SUBMIT_ONCE)
        self._submit_unique = client.register_script(SUBMIT_UNIQUE)

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str, prefix: str = "orchestrator") -> AsyncIterator[RedisQueue]:
        async with connected(url) as client:
            yield cls(client, RedisKeys(prefix))

    async def submit(self, job: Job, *, idempotency_key: str | None = None) -> str:
        """Queue ``job``; returns the id its result will have.

        That is ``job.id``, unless the id was used before (a result of an earlier
        submission may still be stored): then ``job.id`` with a suffix
        (``same-1a2b3c4d``), so that the result awaited is this submission's, never an
        old answer. With an idempotency key already used: the first job's id (its
        result is the answer), and nothing is queued.
        """
        if idempotency_key is None:
            suffixed = job.model_copy(update={"id": f"{job.id}-{uuid.uuid4().hex[:8]}"})
            used: object = await self._submit_unique(
                keys=[
                    self.keys.used_id(job.id),
                    self.keys.used_id(suffixed.id),
                    self.keys.jobs,
                ],
                args=[
                    *(job.model_dump_json(), suffixed.model_dump_json()),
                    *(job.id, suffixed.id, RESULT_TTL),
                ],
            )
            return str(used)
        first: object = await self._submit_once(
            keys=[self.keys.idempotency(idempotency_key), self.keys.jobs],
            args=[job.id, job.model_dump_json(), IDEMPOTENCY_TTL],
        )
        return str(first)

    async def dead_letters(self, count: int = 100) -> list[DeadLetter]:
        """The oldest ``count`` entries of the dead-letter stream (``<prefix>:dead``)."""
        entries = await self._client.xrange(self.keys.dead, count=count)
        letters = []
        for entry in entries:
            fields = {str(name): str(value) for name, value in entry.field_values.items()}
            raw = fields.get("job", "")
            letters.append(
                DeadLetter(
                    entry=str(entry.identifier),
                    job_id=job_id_of(raw) or fields.get("entry", ""),
                    job=raw,
                    deliveries=int(fields.get("deliveries", "0")),
                    error=fields.get("error", ""),
                )
            )
        return letters

    async def result(self, job_id: str) -> JobResult:
        """Wait for the job's result (stored by whichever worker ran it); bound it
        with ``anyio.fail_after`` if it may never come."""
        while True:
            stored = await until_done(
                lambda: self._client.get(self.keys.result(job_id)), what="read result"
            )
            if stored is not None:
                return JobResult.model_validate_json(stored)
            # Woken by the worker's RPUSH; the timeout re-checks now and then.
            await until_done(
                lambda: self._client.blpop([self.keys.done(job_id)], timeout=5),
                what="wait for result",
            )


@dataclass(frozen=True)
class DeadLetter:
    """A job that was delivered ``deliveries`` times without finishing."""

    entry: str
    job_id: str
    job: str
    deliveries: int
    error: str


def lost_group(exc: BaseException) -> bool:
    """The stream or consumer group is gone: coredis 6 raises StreamConsumerGroupError
    (no "NOGROUP" in its message), or UnblockedError to a read blocked on a stream that
    was deleted; a script or older path gives a NOGROUP ResponseError."""
    import coredis.exceptions

    lost = (coredis.exceptions.StreamConsumerGroupError, coredis.exceptions.UnblockedError)
    if isinstance(exc, lost):
        return True
    return isinstance(exc, coredis.exceptions.ResponseError) and "NOGROUP" in str(exc)


def job_id_of(raw: str | None) -> str | None:
    try:
        return Job.model_validate_json(raw or "").id
    except pydantic.ValidationError:
        return None


__all__ = ["DeadLetter", "RedisKeys", "RedisQueue"]
