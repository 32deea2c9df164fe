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

import functools
import itertools
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import anyio
import pydantic
import structlog

from .._job import Job, JobResult
from ._coalesce import Coalescer
from ._connection import connected, key_prefix, until_done
from ._lane import BLOCK_GRACE, Lane, open_lane, run_script

if TYPE_CHECKING:
    from ._connection import RedisClient

logger = structlog.get_logger("orchestrator.redis")

GROUP = "workers"
RESULT_TTL = 7 * 24 * 3600
IDEMPOTENCY_TTL = 7 * 24 * 3600
#: Results fetched by one MGET at most.
RESULTS_PER_READ = 500
#: Done lists one blocking wait for results watches at most (the first jobs awaited).
WAKE_KEYS = 64
#: Seconds a wait for results blocks before it looks at every result again.
RESULT_RECHECK = 5

# Queue jobs, in one step each (a submitter dying half-way cannot leave a key
# without its job). Per job, by its mode:
# - 'unique': under its own id, or, when that id was used before (its result may
#   still be stored, or it may be running), under the id with a suffix, so that a
#   submission never shares a result with another;
# - 'once': unless its idempotency key was used; the first job's id either way.
# KEYS: the jobs stream, then per job: its id marker (or idempotency key), the
# suffixed id's marker (or the idempotency key again).
# ARGV: the id markers' ttl, the idempotency keys' ttl, then per job: mode, job JSON,
# suffixed job JSON, job id, suffixed job id.
# Returns the id each job is queued (or was first queued) under.
SUBMIT = """
local ids = {}
for i = 1, (#KEYS - 1) / 2 do
  local a = 2 + 5 * (i - 1)
  local mode, key = ARGV[a + 1], KEYS[2 * i]
  if mode == 'once' then
    local first = redis.call('GET', key)
    if first then
      ids[i] = first
    else
      redis.call('XADD', KEYS[1], '*', 'job', ARGV[a + 2])
      redis.call('SET', key, ARGV[a + 4], 'EX', ARGV[2])
      ids[i] = ARGV[a + 4]
    end
  elseif redis.call('SET', key, '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[a + 2])
    ids[i] = ARGV[a + 4]
  else
    redis.call('SET', KEYS[2 * i + 1], '1', 'EX', ARGV[1])
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[a + 3])
    ids[i] = ARGV[a + 5]
  end
end
return ids
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

    ``async with RedisQueue.connect(url) as queue:`` opens it on its own client, with
    two lanes (see ``_lane``) to a single server: one for submits, one for a wait
    for results (a second wait at the same time goes through the client).
    """

    def __init__(
        self,
        client: RedisClient,
        keys: RedisKeys = DEFAULT_KEYS,
        *,
        submit_lane: Lane | None = None,
        wait_lane: Lane | None = None,
    ) -> None:
        self._client = client
        self.keys = keys.for_client(client)
        self._submit_script = client.register_script(SUBMIT)
        self._submissions: Coalescer[_Submission, str] = Coalescer(self._submit_many)
        self._submit_lane = submit_lane
        self._wait_lane = wait_lane

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str, prefix: str = "orchestrator") -> AsyncIterator[RedisQueue]:
        async with (
            connected(url) as client,
            open_lane(client) as submit_lane,
            open_lane(client) as wait_lane,
        ):
            yield cls(client, RedisKeys(prefix), submit_lane=submit_lane, wait_lane=wait_lane)

    async def submit(self, job: Job, *, idempotency_key: str | None = None) -> str:
        """Queue ``job``; returns the id its result will have.

        That is ``job.id``, unless the id was used before (a result of an earlier
        submission may still be stored): then ``job.id`` with a suffix
        (``same-1a2b3c4d``), so that the result awaited is this submission's, never an
        old answer. With an idempotency key already used: the first job's id (its
        result is the answer), and nothing is queued.

        Submissions made at the same time (from many tasks) go to Redis together,
        in one script call.
        """
        return await self._submissions(_Submission(job, idempotency_key))

    async def _submit_many(self, submissions: list[_Submission]) -> list[str]:
        keys = [self.keys.jobs]
        args: list[str | int] = [RESULT_TTL, IDEMPOTENCY_TTL]
        for submission in submissions:
            job, once = submission.job, submission.idempotency_key
            if once is not None:
                keys += [self.keys.idempotency(once)] * 2
                args += ["once", job.model_dump_json(), "", job.id, ""]
                continue
            suffixed = job.model_copy(update={"id": f"{job.id}-{uuid.uuid4().hex[:8]}"})
            keys += [self.keys.used_id(job.id), self.keys.used_id(suffixed.id)]
            args += ["unique", job.model_dump_json(), suffixed.model_dump_json()]
            args += [job.id, suffixed.id]
        ids = await run_script(self._submit_script, keys, args, lane=self._submit_lane)
        return [str(job_id) for job_id in cast(list[str], ids)]

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
        async with aclosing(self.results([job_id])) as results:
            return await anext(results)

    async def results(self, job_ids: Iterable[str]) -> AsyncGenerator[JobResult, None]:
        """Each job's result as it lands (those found together in the order asked);
        bound it with ``anyio.fail_after``.

        However many jobs are awaited, each round trip blocks until one of the first
        of them is done and reads their results with it: a round trip per batch of
        results, not per result.
        """
        waiting = dict.fromkeys(job_ids)  # in the order asked; found ones leave it
        look_at = list(waiting)  # every one at first: many may be done
        stored = await self._stored(look_at)
        while True:
            for job_id in look_at:
                if job_id in stored:
                    del waiting[job_id]
                    yield JobResult.model_validate_json(stored[job_id])
            if not waiting:
                return
            # Block until a worker's RPUSH for one of the first jobs awaited (results
            # mostly land in that order), and read those jobs' results right after
            # it, in the same round trip. A timeout looks at all of them again.
            look_at = list(itertools.islice(waiting, WAKE_KEYS))
            woke, stored = await until_done(
                functools.partial(self._wait_and_read, look_at), what="wait for result"
            )
            if not woke:
                look_at = list(waiting)
                stored = await self._stored(look_at)

    async def _wait_and_read(self, job_ids: list[str]) -> tuple[bool, dict[str, str]]:
        """Wait (up to ``RESULT_RECHECK`` s) for one of ``job_ids`` to be done, then
        read their results: one round trip. The worker stores a result before it
        pushes to the done list, in one script, so a wake finds its result."""
        done_keys = [self.keys.done(i) for i in job_ids]
        result_keys = [self.keys.result(i) for i in job_ids]
        lane = self._wait_lane
        if lane is not None and not lane.busy:
            with anyio.fail_after(RESULT_RECHECK + BLOCK_GRACE):
                replies = await lane.pipeline(
                    [["BLPOP", *done_keys, RESULT_RECHECK], ["MGET", *result_keys]]
                )
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            woke, texts = replies
        else:
            async with self._client.pipeline(transaction=False) as pipeline:
                woke_reply = pipeline.blpop(done_keys, timeout=RESULT_RECHECK)
                texts_reply = pipeline.mget(result_keys)
            woke, texts = await woke_reply, await texts_reply
        found = zip(job_ids, texts, strict=True)
        return woke is not None, {i: text for i, text in found if text is not None}

    async def _stored(self, job_ids: list[str]) -> dict[str, str]:
        """The results stored of ``job_ids``: one MGET per ``RESULTS_PER_READ``."""
        stored: dict[str, str] = {}
        for start in range(0, len(job_ids), RESULTS_PER_READ):
            chunk = job_ids[start : start + RESULTS_PER_READ]
            read = functools.partial(self._client.mget, [self.keys.result(i) for i in chunk])
            texts = await until_done(read, what="read results")
            stored.update((i, t) for i, t in zip(chunk, texts, strict=True) if t is not None)
        return stored


@dataclass(frozen=True)
class _Submission:
    job: Job
    idempotency_key: str | None


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
