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

A worker reads with XREADGROUP; the entry stays pending (unacknowledged)
while the job runs, and the worker renews its claim (XCLAIM ... JUSTID)
every third of the visibility timeout. A worker that dies stops renewing:
after the visibility timeout any worker takes the entry over (XAUTOCLAIM) and
runs it again; past ``max_deliveries`` it goes to the dead-letter stream with
a failed result instead. A result is stored, and the entry acknowledged, in
one script that first checks the entry is still this worker's: a job is
completed once, even if a stalled worker wakes up after losing it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import pydantic
import structlog

from ._job import Job, JobResult
from ._redis_connection import connected, key_prefix, redis_errors, until_done
from ._worker_source import Delivery

if TYPE_CHECKING:
    from ._redis_connection import RedisClient

logger = structlog.get_logger("orchestrator.redis")

GROUP = "workers"
#: Own pending entries looked at after a cut-off read (more than any worker runs at once).
OWN_PENDING_SCAN = 1000
#: Entries this worker finished that it remembers, so that no late reply runs one again.
FINISHED_REMEMBERED = 4096
RESULT_TTL = 7 * 24 * 3600
IDEMPOTENCY_TTL = 7 * 24 * 3600

# Store the result and acknowledge, only while the entry is still pending for
# this consumer, or is gone altogether (Redis lost its data: nobody else can
# run it, so the result is filed); 0 when another worker took it over.
# A failed job's text is kept beside its result, so that it can be retried.
# KEYS: jobs stream, result key, done list, failed job key. ARGV: group, entry id,
# consumer, result JSON, ttl, the job JSON when it failed (else empty).
FINISH = """
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
local mine = type(pending) == 'table' and pending.err == nil and #pending > 0
if not mine and #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) > 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
if ARGV[6] ~= '' then redis.call('SET', KEYS[4], ARGV[6], 'EX', ARGV[5]) end
redis.call('RPUSH', KEYS[3], '1')
redis.call('EXPIRE', KEYS[3], ARGV[5])
if mine then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
return 1
"""

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

# Give a job back (a drained worker): a fresh entry, the old one acknowledged
# (or already gone with Redis's data); 0 when another worker took it over.
# KEYS: jobs stream. ARGV: group, entry id, consumer, job JSON.
REQUEUE = """
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
local mine = type(pending) == 'table' and pending.err == nil and #pending > 0
if not mine and #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) > 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'job', ARGV[4])
if mine then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
return 1
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


class RedisQueue:
    """The submitting side: queue jobs, await their results.

    ``async with RedisQueue.connect(url) as queue:`` opens it on its own client.
    """

    def __init__(self, client: RedisClient, keys: RedisKeys = RedisKeys()) -> None:
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
                    job_id=_job_id_of(raw) or fields.get("entry", ""),
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


class RedisJobSource:
    """The worker side: deliveries from the stream, results back to Redis.

    Args:
        visibility_timeout: seconds after which a silent worker's job is taken over.
        max_deliveries: deliveries after which a job goes to the dead-letter stream.
    """

    def __init__(
        self,
        url: str,
        keys: RedisKeys = RedisKeys(),
        *,
        visibility_timeout: float = 60.0,
        max_deliveries: int = 3,
        block: float = 1.0,
    ) -> None:
        self._url = url
        self.keys = keys
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._visibility_ms = int(visibility_timeout * 1000)
        self._max_deliveries = max_deliveries
        self._block_ms = int(block * 1000)
        self._in_flight: set[str] = set()
        self._finished: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._stopping = False
        self._next_reclaim = 0.0
        self._check_own_pending = False
        self._cursor = "0-0"  # where the next XAUTOCLAIM scan starts
        self.label = f"redis stream {keys.jobs}"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with connected(self._url, wait=True) as client:
            self._client = client
            self.keys = self.keys.for_client(client)
            self.label = f"redis stream {self.keys.jobs}"
            self._finish = client.register_script(FINISH)
            self._requeue = client.register_script(REQUEUE)
            await until_done(self._create_group, what="create consumer group")
            async with self._claims_renewed():
                yield

    @asynccontextmanager
    async def _claims_renewed(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            group.start_soon(self._renew_claims)
            try:
                yield
            finally:
                group.cancel_scope.cancel()

    def stop_taking(self) -> None:
        self._stopping = True

    async def take(self) -> Delivery | None:
        while not self._stopping:
            try:
                delivery = await self._take_one()
            except redis_errors() as exc:
                # A read cut off may have been delivered without reaching us.
                self._check_own_pending = True
                logger.warning("redis unavailable, retrying", step="read jobs", error=str(exc))
                await anyio.sleep(0.5)
                continue
            except Exception as exc:
                if not lost_group(exc):
                    raise
                # Redis lost its data (a restart without persistence, FLUSHALL, a
                # failover to an empty replica): make the group again and go on.
                logger.warning("the job stream or its group is gone; recreating it")
                await until_done(self._create_group, what="recreate the consumer group")
                continue
            if delivery is not None:
                return delivery
        return None

    async def finish(self, delivery: Delivery, result: JobResult) -> bool:
        """Store the result and acknowledge; False when the entry was no longer ours."""
        entry = delivery.token
        done: object = await until_done(
            lambda: self._finish(
                keys=[
                    self.keys.jobs,
                    self.keys.result(result.job_id),
                    self.keys.done(result.job_id),
                    self.keys.failed_job(result.job_id),
                ],
                args=[
                    *(GROUP, entry, self.consumer, result.model_dump_json(), RESULT_TTL),
                    delivery.raw if result.status == "failed" else "",
                ],
            ),
            what="store result",
        )
        self._forget(entry)
        if not done:
            logger.warning("job was taken over by another worker", job=result.job_id)
        return bool(done)

    async def requeue(self, delivery: Delivery) -> None:
        entry = delivery.token
        await until_done(
            lambda: self._requeue(
                keys=[self.keys.jobs], args=[GROUP, entry, self.consumer, delivery.raw]
            ),
            what="requeue job",
        )
        self._forget(entry)

    # -- reading --------------------------------------------------------------

    async def _create_group(self) -> None:
        import coredis.exceptions

        with contextlib.suppress(coredis.exceptions.StreamDuplicateConsumerGroupError):
            await self._client.xgroup_create(self.keys.jobs, GROUP, "0", mkstream=True)

    async def _take_one(self) -> Delivery | None:
        if self._check_own_pending:
            lost = await self._own_lost_entry()
            if lost is not None:
                return lost
        while anyio.current_time() >= self._next_reclaim:  # until none is left to take over
            self._next_reclaim = anyio.current_time() + self._visibility_ms / 3000
            reclaimed = await self._reclaim()
            if reclaimed is not None:
                return reclaimed
        reply = await self._client.xreadgroup(
            GROUP, self.consumer, streams={self.keys.jobs: ">"}, count=1, block=self._block_ms
        )
        if not reply:
            return None
        for entry in reply.get(self.keys.jobs, ()):
            identifier = str(entry.identifier)
            if self._known(identifier):  # picked up meanwhile as a cut-off delivery
                return None
            raw = entry.field_values.get("job")
            return self._delivery(identifier, str(raw) if raw else None)
        return None

    def _known(self, entry: str) -> bool:
        """Running here, or finished here: another path to it must not run it again.

        A slot's read can be slow to return an entry (Redis restarting) while another
        slot, after a failed read, finds that entry among this worker's pending ones;
        whichever comes second must let it be.
        """
        return entry in self._in_flight or entry in self._finished

    def _forget(self, entry: str) -> None:
        """The entry is done here: remembered (boundedly) as finished."""
        self._in_flight.discard(entry)
        self._finished[entry] = None
        while len(self._finished) > FINISHED_REMEMBERED:
            self._finished.popitem(last=False)

    async def _own_lost_entry(self) -> Delivery | None:
        """An entry Redis delivered to this worker whose reply was lost with the
        connection: it is this worker's already, so it runs now rather than
        after the visibility timeout. Cleared once none is left.

        Listed with XPENDING and read with XRANGE: neither counts as a delivery
        (re-reading with XREADGROUP id 0 would raise the delivery count of
        every job this worker is running, and dead-letter them early).
        """
        pending: Any = await self._client.xpending(
            self.keys.jobs, GROUP, "-", "+", OWN_PENDING_SCAN, consumer=self.consumer
        )
        for info in pending:
            identifier = str(info.identifier)
            if self._known(identifier):
                continue
            entries = await self._client.xrange(self.keys.jobs, identifier, identifier)
            if self._known(identifier):  # its slow read came back meanwhile
                continue
            if not entries:  # pending, but deleted from the stream: nothing to run
                await self._client.xack(self.keys.jobs, GROUP, [identifier])
                continue
            raw = entries[0].field_values.get("job")
            logger.info("picked up a job whose delivery was cut off", entry=identifier)
            return self._delivery(identifier, str(raw) if raw else None)
        self._check_own_pending = False
        return None

    async def _reclaim(self) -> Delivery | None:
        """Take over one entry whose worker went silent; dead-letter it past the limit.

        After a takeover the next ``take`` looks again at once, so a dead
        worker's entries are all taken over as fast as slots come free,
        rather than one per third of the visibility timeout.
        """
        reply: Any = await self._client.xautoclaim(
            self.keys.jobs, GROUP, self.consumer, self._visibility_ms, self._cursor, count=1
        )
        cursor, entries = str(reply[0]), reply[1]
        self._cursor = cursor
        if cursor != "0-0":  # more entries beyond this one: look again next time
            self._next_reclaim = anyio.current_time()
        if not entries:
            return None
        entry = entries[0]
        if self._known(str(entry.identifier)):  # this worker's own, running or just done
            return None
        self._next_reclaim = anyio.current_time()
        pending = await self._client.xpending(
            self.keys.jobs, GROUP, entry.identifier, entry.identifier, 1
        )
        deliveries = pending[0].delivered if pending else 1  # type: ignore[union-attr]
        raw = entry.field_values.get("job")
        if deliveries > self._max_deliveries:
            await self._dead_letter(entry.identifier, raw, deliveries)
            return None
        logger.info("took over a silent worker's job", entry=entry.identifier, delivery=deliveries)
        return self._delivery(entry.identifier, raw)

    async def _dead_letter(self, entry: str, raw: str | None, deliveries: int) -> None:
        error = (
            f"Error: job delivered {deliveries} times without finishing "
            f"(max_deliveries {self._max_deliveries}); its workers stopped while running it"
        )
        job_id = _job_id_of(raw) or entry
        result = JobResult(job_id=job_id, status="failed", error=error)
        async with self._client.pipeline(transaction=True) as pipeline:
            pipeline.xadd(
                self.keys.dead,
                {"job": raw or "", "entry": entry, "deliveries": str(deliveries), "error": error},
            )
            pipeline.set(self.keys.result(job_id), result.model_dump_json(), ex=RESULT_TTL)
            pipeline.rpush(self.keys.done(job_id), ["1"])
            pipeline.expire(self.keys.done(job_id), RESULT_TTL)
            pipeline.xack(self.keys.jobs, GROUP, [entry])
            pipeline.xdel(self.keys.jobs, [entry])
        logger.warning("job dead-lettered", job=job_id, deliveries=deliveries)

    def _delivery(self, entry: str, raw: str | None) -> Delivery:
        self._in_flight.add(entry)
        label = f"entry {entry}"
        try:
            job = Job.model_validate_json(raw or "")
        except pydantic.ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(part) for part in problem["loc"]) or "job"
            rejection = f"Error: queue {label}, field '{field}': {problem['msg'].lower()}"
            return Delivery(label, None, rejection, token=entry, raw=raw or "", name=entry)
        return Delivery(label, job, None, token=entry, raw=raw or "", name=job.id)

    async def _renew_claims(self) -> None:
        """Keep this worker's entries from looking abandoned while their jobs run."""
        interval = max(0.05, self._visibility_ms / 3000)
        while True:
            await anyio.sleep(interval)
            if not self._in_flight:
                continue
            try:
                await self._client.xclaim(
                    self.keys.jobs, GROUP, self.consumer, 0, list(self._in_flight), justid=True
                )
            except redis_errors() as exc:
                logger.warning("could not renew job claims", error=str(exc))
            except Exception as exc:
                if not lost_group(exc):
                    raise
                # The entries are gone with the group; their jobs still file results.
                logger.warning("could not renew job claims: the consumer group is gone")


def lost_group(exc: BaseException) -> bool:
    """The stream or consumer group is gone: coredis 6 raises StreamConsumerGroupError
    (no "NOGROUP" in its message), or UnblockedError to a read blocked on a stream that
    was deleted; a script or older path gives a NOGROUP ResponseError."""
    import coredis.exceptions

    lost = (coredis.exceptions.StreamConsumerGroupError, coredis.exceptions.UnblockedError)
    if isinstance(exc, lost):
        return True
    return isinstance(exc, coredis.exceptions.ResponseError) and "NOGROUP" in str(exc)


def _job_id_of(raw: str | None) -> str | None:
    try:
        return Job.model_validate_json(raw or "").id
    except pydantic.ValidationError:
        return None


__all__ = ["DeadLetter", "RedisJobSource", "RedisKeys", "RedisQueue"]
