"""The worker side of the Redis queue: deliveries from the stream, results back.

Round trips, not processes, are what a job through Redis costs (each one costs
the client far more than the command in it), so one worker process talks to
Redis through two tasks shared by all its slots:

- The **filer** stores every result that is waiting in one script call
  (``FILE_RESULTS``), which also reads the next entries for the slots those
  results free. Under load a job costs two round trips, its read (riding on an
  earlier result) and its result, and both are shared with every other job
  finishing at the same moment.
- The **reader** serves slots still idle with one blocking XREADGROUP for all of
  them, takes over silent workers' entries, and picks up deliveries cut off with
  a connection. After handing entries out it lets their jobs start before it
  reads again (``REARM_DELAY``).

The read and the filing each go over a lane of their own (``_lane``: one
connection, no writer or reader task in between), the two calls a job waits on;
on a cluster, and for everything else, coredis' client.

Entries are only ever read for slots that are free: nothing waits in this
worker while another one idles. An entry stays pending (unacknowledged) while
its job runs, and the worker renews its claims (XCLAIM ... JUSTID) every third
of the visibility timeout. A worker that dies stops renewing: after the
visibility timeout any worker takes the entry over (XAUTOCLAIM) and runs it
again; past ``max_deliveries`` it goes to the dead-letter stream with a failed
result instead. A result is stored, and its entry acknowledged, only while the
entry is still this worker's: a job is completed once, even if a stalled worker
wakes up after losing it.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import anyio
import pydantic
import structlog

from .._job import Job, JobResult
from .._worker_source import Delivery
from ._connection import connected, redis_errors, until_done
from ._lane import BLOCK_GRACE, open_lane, run_script
from ._queue import DEFAULT_KEYS, GROUP, RESULT_TTL, RedisKeys, job_id_of, lost_group

if TYPE_CHECKING:
    from ._connection import RedisClient

logger = structlog.get_logger("orchestrator.redis")

#: Own pending entries looked at after a cut-off read (more than any worker runs at once).
OWN_PENDING_SCAN = 1000
#: Entries this worker finished that it remembers, so that no late reply runs one again.
FINISHED_REMEMBERED = 4096
#: Results filed in one script call at most.
FILING_BATCH = 64
#: Seconds the reader lets pass after handing out entries before it reads again, so
#: that those jobs start first (an entry arriving meanwhile waits that long at most).
REARM_DELAY = 0.001
#: Seconds the reader waits for the slots' last read when the worker stops, beyond its block.
READ_GRACE = 5.0

# Store each result and acknowledge its entry, only while the entry is still pending
# for this consumer, or is gone altogether (Redis lost its data: nobody else can run
# it, so the result is filed); 0 for an entry another worker took over. A failed
# job's text is kept beside its result, so that it can be retried. Then read up to
# ARGV[4] new entries for the slots these results free.
# KEYS: the jobs stream, then per result: its result key, done list, failed job key.
# ARGV: group, consumer, ttl, entries to read, then per result: entry id, result JSON,
# the job JSON when it failed (else empty).
# Returns {stored flags, {entry id, job JSON, ...}}.
FILE_RESULTS = """
local group, consumer, ttl = ARGV[1], ARGV[2], ARGV[3]
local stored = {}
for i = 1, (#KEYS - 1) / 3 do
  local entry, result, job = ARGV[3 * i + 2], ARGV[3 * i + 3], ARGV[3 * i + 4]
  local pending = redis.pcall('XPENDING', KEYS[1], group, entry, entry, 1, consumer)
  local mine = type(pending) == 'table' and pending.err == nil and #pending > 0
  if not mine and #redis.call('XRANGE', KEYS[1], entry, entry) > 0 then
    stored[i] = 0
  else
    redis.call('SET', KEYS[3 * i - 1], result, 'EX', ttl)
    if job ~= '' then redis.call('SET', KEYS[3 * i + 1], job, 'EX', ttl) end
    redis.call('RPUSH', KEYS[3 * i], '1')
    redis.call('EXPIRE', KEYS[3 * i], ttl)
    if mine then
      redis.call('XACK', KEYS[1], group, entry)
      redis.call('XDEL', KEYS[1], entry)
    end
    stored[i] = 1
  end
end
local entries = {}
if tonumber(ARGV[4]) > 0 then
  local read = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', ARGV[4],
                           'STREAMS', KEYS[1], '>')
  if type(read) == 'table' and read.err == nil and read[1] then
    for _, item in ipairs(read[1][2]) do
      local job = ''
      for j = 1, #item[2], 2 do
        if item[2][j] == 'job' then job = item[2][j + 1] end
      end
      table.insert(entries, item[1])
      table.insert(entries, job)
    end
  end
end
return {stored, entries}
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


@dataclass(eq=False)
class _Filing:
    """A result on its way to Redis; ``read``: its slot wants the next entry."""

    delivery: Delivery
    result: JobResult
    read: bool
    done: anyio.Event = field(default_factory=anyio.Event)
    stored: bool = False


class RedisJobSource:
    """The worker side: deliveries from the stream, results back to Redis.

    Args:
        visibility_timeout: seconds after which a silent worker's job is taken over.
        max_deliveries: deliveries after which a job goes to the dead-letter stream.
        block: seconds an idle read waits on the stream before looking around again.
    """

    def __init__(
        self,
        url: str,
        keys: RedisKeys = DEFAULT_KEYS,
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
        self._ready: collections.deque[Delivery] = collections.deque()
        self._waiting = 0  # slots blocked in take()
        self._outbox: list[_Filing] = []
        # Loop-bound objects are made in ``running``, so that a source built in sync
        # code runs under trio or asyncio.
        self._arrived: anyio.Event | None = None
        self._reader_wake: anyio.Event | None = None
        self._filer_wake: anyio.Event | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with (
            connected(self._url, wait=True) as client,
            open_lane(client) as read_lane,
            open_lane(client) as filing_lane,
        ):
            self._client: RedisClient = client
            self._read_lane, self._filing_lane = read_lane, filing_lane
            self.keys = self.keys.for_client(client)
            self.label = f"redis stream {self.keys.jobs}"
            self._file_results = client.register_script(FILE_RESULTS)
            self._requeue = client.register_script(REQUEUE)
            await until_done(self._create_group, what="create consumer group")
            self._arrived, self._reader_wake = anyio.Event(), anyio.Event()
            self._filer_wake = anyio.Event()
            reader_done = anyio.Event()
            async with anyio.create_task_group() as group:
                group.start_soon(self._renew_claims)
                group.start_soon(self._file_forever)
                group.start_soon(self._read_forever, reader_done)
                try:
                    yield
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._wind_down(reader_done)
                    group.cancel_scope.cancel()

    async def _wind_down(self, reader_done: anyio.Event) -> None:
        """Let the read in flight come back, then hand back what no slot took."""
        self.stop_taking()
        with anyio.move_on_after(self._block_ms / 1000 + READ_GRACE):
            await reader_done.wait()
            for filing in list(self._outbox):  # results whose callers were cancelled
                await filing.done.wait()
            while self._ready:
                await self.requeue(self._ready.popleft())

    def stop_taking(self) -> None:
        self._stopping = True
        for event in (self._arrived, self._reader_wake):
            if event is not None:
                event.set()

    async def take(self) -> Delivery | None:
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._stopping or self._arrived is None or self._reader_wake is None:
                return None
            arrived = self._arrived
            self._waiting += 1
            self._reader_wake.set()
            try:
                await arrived.wait()
            finally:
                self._waiting -= 1

    async def finish(self, delivery: Delivery, result: JobResult) -> bool:
        """Store the result and acknowledge; False when the entry was no longer ours.

        The result goes out with the others waiting, and the next entry for the slot
        it frees comes back with it (``take`` finds it ready).
        """
        assert self._filer_wake is not None, "finish() outside running()"
        filing = _Filing(delivery, result, read=not self._stopping)
        self._outbox.append(filing)
        self._filer_wake.set()
        await filing.done.wait()
        if not filing.stored:
            logger.warning("job was taken over by another worker", job=result.job_id)
        return filing.stored

    async def requeue(self, delivery: Delivery) -> None:
        entry = delivery.token
        await until_done(
            lambda: self._requeue(
                keys=[self.keys.jobs], args=[GROUP, entry, self.consumer, delivery.raw]
            ),
            what="requeue job",
        )
        self._forget(entry)

    # -- filing ---------------------------------------------------------------

    async def _file_forever(self) -> None:
        while True:
            assert self._filer_wake is not None
            if not self._outbox:
                await self._filer_wake.wait()
                self._filer_wake = anyio.Event()
                continue
            batch = self._outbox[:FILING_BATCH]
            del self._outbox[:FILING_BATCH]
            reads = 0 if self._stopping else sum(filing.read for filing in batch)
            reply = await until_done(
                functools.partial(self._file, batch, reads), what="store results"
            )
            stored, entries = cast(tuple[list[int], list[str]], reply)
            for filing, flag in zip(batch, stored, strict=True):
                filing.stored = bool(flag)
                self._forget(filing.delivery.token)
                filing.done.set()
            fresh = (self._delivery(entry, raw) for entry, raw in _pairs(entries))
            self._hand_out(delivery for delivery in fresh if delivery is not None)

    async def _file(self, batch: list[_Filing], reads: int) -> object:
        keys = [self.keys.jobs]
        args: list[str | int] = [GROUP, self.consumer, RESULT_TTL, reads]
        for filing in batch:
            job_id = filing.result.job_id
            keys += [self.keys.result(job_id), self.keys.done(job_id)]
            keys.append(self.keys.failed_job(job_id))
            failed = filing.result.status == "failed"
            args += [filing.delivery.token, filing.result.model_dump_json()]
            args.append(filing.delivery.raw if failed else "")
        try:
            return await run_script(self._file_results, keys, args, lane=self._filing_lane)
        except redis_errors():
            if reads:  # entries read before the reply was lost are this worker's now
                self._check_own_pending = True
            raise

    # -- reading --------------------------------------------------------------

    async def _read_forever(self, done: anyio.Event) -> None:
        try:
            while not self._stopping:
                assert self._reader_wake is not None
                wanted = self._waiting - len(self._ready)
                if wanted <= 0:
                    await self._reader_wake.wait()
                    self._reader_wake = anyio.Event()
                    continue
                if self._hand_out(await self._read_safely(wanted)):
                    # The slots just served start their jobs before the next read
                    # goes out: a job waits on its start, an idle slot on nothing.
                    await anyio.sleep(REARM_DELAY)
        finally:
            done.set()

    async def _read_safely(self, wanted: int) -> list[Delivery]:
        try:
            return await self._read(wanted)
        except redis_errors() as exc:
            # A read cut off may have been delivered without reaching us.
            self._check_own_pending = True
            logger.warning("redis unavailable, retrying", step="read jobs", error=str(exc))
            await anyio.sleep(0.5)
        except Exception as exc:
            if not lost_group(exc):
                raise
            # Redis lost its data (a restart without persistence, FLUSHALL, a
            # failover to an empty replica): make the group again and go on.
            logger.warning("the job stream or its group is gone; recreating it")
            await until_done(self._create_group, what="recreate the consumer group")
        return []

    def _hand_out(self, deliveries: collections.abc.Iterable[Delivery]) -> bool:
        """Make ``deliveries`` ready for ``take``; False when there were none."""
        before = len(self._ready)
        self._ready.extend(deliveries)
        if len(self._ready) == before:
            return False
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = anyio.Event()
        return True

    async def _create_group(self) -> None:
        import coredis.exceptions

        with contextlib.suppress(coredis.exceptions.StreamDuplicateConsumerGroupError):
            await self._client.xgroup_create(self.keys.jobs, GROUP, "0", mkstream=True)

    async def _read(self, wanted: int) -> list[Delivery]:
        """Up to ``wanted`` deliveries: a cut-off one, a silent worker's, or new ones."""
        if self._check_own_pending:
            lost = await self._own_lost_entry()
            if lost is not None:
                return [lost]
        while anyio.current_time() >= self._next_reclaim:  # until none is left to take over
            self._next_reclaim = anyio.current_time() + self._visibility_ms / 3000
            reclaimed = await self._reclaim()
            if reclaimed is not None:
                return [reclaimed]
        deliveries = (self._delivery(entry, raw) for entry, raw in await self._read_new(wanted))
        return [delivery for delivery in deliveries if delivery is not None]

    async def _read_new(self, wanted: int) -> list[tuple[str, str | None]]:
        """Up to ``wanted`` new entries (id, job JSON), waiting up to the block for one."""
        if self._read_lane is None:  # a cluster: through coredis, which follows redirects
            reply = await self._client.xreadgroup(
                GROUP,
                self.consumer,
                streams={self.keys.jobs: ">"},
                count=wanted,
                block=self._block_ms,
            )
            entries = (reply or {}).get(self.keys.jobs, ())
            return [(str(e.identifier), _job_field(e.field_values)) for e in entries]
        # XREADGROUP ... BLOCK in RESP3: {stream: [[id, [field, value, ...]], ...]}, or
        # null when the block ran out.
        with anyio.fail_after(self._block_ms / 1000 + BLOCK_GRACE):
            streams = await self._read_lane.call(
                *("XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", wanted),
                *("BLOCK", self._block_ms, "STREAMS", self.keys.jobs, ">"),
            )
        read = (streams or {}).get(self.keys.jobs) or []
        return [(str(entry), _job_field(_as_dict(fields))) for entry, fields in read]

    def _known(self, entry: str) -> bool:
        """Running here, or finished here: another path to it must not run it again.

        A read can be slow to return an entry (Redis restarting) while the reader,
        after a failed read, finds that entry among this worker's pending ones;
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
            logger.info("picked up a job whose delivery was cut off", entry=identifier)
            return self._delivery(identifier, _job_field(entries[0].field_values))
        self._check_own_pending = False
        return None

    async def _reclaim(self) -> Delivery | None:
        """Take over one entry whose worker went silent; dead-letter it past the limit.

        After a takeover the next read looks again at once, so a dead
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
        raw = _job_field(entry.field_values)
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
        job_id = job_id_of(raw) or entry
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

    def _delivery(self, entry: str, raw: str | None) -> Delivery | None:
        """The delivery of ``entry``; None when it is known here already (see ``_known``)."""
        if self._known(entry):
            return None
        self._in_flight.add(entry)
        label = f"entry {entry}"
        try:
            job = Job.model_validate_json(raw or "")
        except pydantic.ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in problem["loc"]) or "job"
            rejection = f"Error: queue {label}, field '{where}': {problem['msg'].lower()}"
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


def _as_dict(flat: list[str] | None) -> dict[str, str]:
    """``[field, value, field, value...]`` as a dict (a deleted entry's fields: None)."""
    values = flat or []
    return dict(zip(values[::2], values[1::2], strict=True))


def _job_field(fields: Any) -> str | None:
    raw = fields.get("job")
    return str(raw) if raw else None


def _pairs(flat: list[str]) -> list[tuple[str, str | None]]:
    """``[id, job, id, job...]`` as pairs (an entry without a job field: None)."""
    return [(str(flat[i]), str(flat[i + 1]) or None) for i in range(0, len(flat), 2)]


__all__ = ["RedisJobSource"]
