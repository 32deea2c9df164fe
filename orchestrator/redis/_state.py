"""Rotation state on Redis, shared by every worker: one hash per backend.

Fields of ``<prefix>:rot:<backend>``: ``index`` (the pointer; incremented, read
modulo the provider count, so concurrent rotations never lose one; a manual
rotate sets it past the provider in use), ``last_used``, and per provider
``cd:<p>`` (cooldown end, epoch seconds), ``ok:<p>`` and ``fail:<p>`` (counters),
``hr:<p>`` (the latest headroom reading, JSON), ``out:<p>`` (suspended after a 401: the refused
settings' fingerprint). Every change is one atomic command or Lua script, so
workers never overwrite each other.

What a job costs here is kept off its path:

- **Choices** use this process's copy of a backend's rotation, read again once it
  is ``VIEW_FRESH`` seconds old or one of its cooldowns has ended: a provider
  another worker cools down is skipped here within that time, one this process
  cools down at once. (Reading Redis before every job was the largest cost of a job.)
- **Successes** (counters, the pointer of a rotating backend, last used, headroom
  readings) are applied to that copy at once and written to Redis together every
  ``WRITE_BEHIND`` seconds, a few commands for any number of jobs; a status read
  or a fresh view writes them first. Failures, cooldowns and suspensions are
  written before the job goes on.

While Redis is away, the operations wait for it (a job never chooses a provider
from a view it cannot trust) and go on when it is back.
"""

from __future__ import annotations

import collections
import json
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar, cast

import anyio

from .._config import OrchestratorConfig
from .._rotation import ProviderRotation
from .._rotation_store import RotationView
from .._state import NOTHING_USED, LastUsed
from .._state_store import ManualRequest
from ..limits import Headroom
from ._connection import key_prefix, until_done

_N = TypeVar("_N", int, float)

if TYPE_CHECKING:
    from ._connection import RedisClient

# Returns the hash without ended cooldowns, and the providers whose cooldown
# this call ended (each recovery is reported by exactly one caller).
VIEW = """
local now = tonumber(ARGV[1])
local flat = redis.call('HGETALL', KEYS[1])
local kept, recovered = {}, {}
for i = 1, #flat, 2 do
  local field, value = flat[i], flat[i + 1]
  local ends = tonumber(value)
  -- an end that is not a number (or NaN) is dropped like an ended one
  if string.sub(field, 1, 3) == 'cd:' and (not ends or ends ~= ends or ends <= now) then
    redis.call('HDEL', KEYS[1], field)
    table.insert(recovered, string.sub(field, 4))
  else
    table.insert(kept, field)
    table.insert(kept, value)
  end
end
return {kept, recovered}
"""

# Counts a failure; with a cooldown end, keeps the later of the old and new ends.
FAIL = """
redis.call('HINCRBY', KEYS[1], 'fail:' .. ARGV[1], 1)
if ARGV[2] ~= '' then
  local current = tonumber(redis.call('HGET', KEYS[1], 'cd:' .. ARGV[1]))
  if not current or current < tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], 'cd:' .. ARGV[1], ARGV[2])
  end
end
return 1
"""

# Back to the first provider, every cooldown and suspension lifted.
RESET = """
redis.call('HSET', KEYS[1], 'index', 0)
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local field = flat[i]
  if string.sub(field, 1, 3) == 'cd:' or string.sub(field, 1, 4) == 'out:' then
    redis.call('HDEL', KEYS[1], field)
  end
end
return 1
"""


#: Seconds this process chooses from its copy of a backend's rotation before reading it again.
VIEW_FRESH = 0.5
#: Seconds successes gather before they are written to Redis together.
WRITE_BEHIND = 0.05
#: Seconds one write of successes may wait for Redis before it is kept for later.
WRITE_WAIT = 5.0


@dataclass
class _Copy:
    """A backend's rotation as last read (monotonic ``read_at``), with this process's
    own changes since applied to it."""

    rotation: ProviderRotation
    read_at: float

    def usable(self, now: float) -> bool:
        """Fresh enough, and no cooldown in it has ended (the read reports recoveries)."""
        fresh = time.monotonic() - self.read_at < VIEW_FRESH
        return fresh and all(end > now for end in self.rotation.cooldown_until.values())


@dataclass
class _Unwritten:
    """Successes not yet written: increments and field values per backend, last used."""

    increments: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    values: dict[tuple[str, str], str] = field(default_factory=dict)
    last: LastUsed | None = None

    def __bool__(self) -> bool:
        return bool(self.increments or self.values or self.last is not None)

    def merge_older(self, older: _Unwritten) -> None:
        """Put back a batch that could not be written (newer values win)."""
        self.increments.update(older.increments)
        self.values = {**older.values, **self.values}
        if self.last is None:
            self.last = older.last


class RedisRotationStore:
    """``RotationStore`` on a Redis client (which the caller keeps open).

    Run :meth:`write_behind` beside it (the orchestrator does) to have successes
    written every ``WRITE_BEHIND`` seconds; without it they go out with the next read.
    """

    def __init__(self, client: RedisClient, config: OrchestratorConfig, prefix: str):
        self._client = client
        self._config = config
        self._prefix = key_prefix(client, prefix)
        self._view = client.register_script(VIEW)
        self._fail = client.register_script(FAIL)
        self._reset = client.register_script(RESET)
        self._copies: dict[str, _Copy] = {}
        self._unwritten = _Unwritten()
        # Made when first needed: a store built in sync code runs under trio or asyncio.
        self._written: anyio.Event | None = None
        self._flush_lock: anyio.Lock | None = None

    def _key(self, backend: str) -> str:
        return f"{self._prefix}:rot:{backend}"

    async def view(self, backend: str, now: float) -> RotationView:
        copy = self._copies.get(backend)
        if copy is not None and copy.usable(now):
            return RotationView(copy.rotation)
        await self.flush()
        read_at = time.monotonic()
        reply: object = await until_done(
            lambda: self._view(keys=[self._key(backend)], args=[repr(now)]), what="read rotation"
        )
        kept, recovered = cast(tuple[list[str], list[str]], reply)
        fields = dict(zip(kept[::2], kept[1::2], strict=True))
        rotation = self._rotation(backend, fields)
        self._copies[backend] = _Copy(rotation, read_at)
        return RotationView(rotation, tuple(recovered))

    async def record_success(self, backend: str, provider: str, *, advance: bool) -> None:
        self._unwritten.increments[(backend, f"ok:{provider}")] += 1
        self._unwritten.values[(backend, "last_used")] = provider
        if advance and len(self._config.providers[backend]) > 1:
            self._unwritten.increments[(backend, "index")] += 1
        if (copy := self._copies.get(backend)) is not None:
            copy.rotation.succeeded(provider, advance=advance)
        self._wake_writer()

    async def record_failure(
        self, backend: str, provider: str, *, cooldown_until: float | None
    ) -> None:
        until = "" if cooldown_until is None else repr(cooldown_until)
        await until_done(
            lambda: self._fail(keys=[self._key(backend)], args=[provider, until]),
            what="record failure",
        )
        if (copy := self._copies.get(backend)) is not None:
            copy.rotation.failed(provider, cooldown_until)

    async def record_headroom(self, backend: str, provider: str, reading: Headroom) -> None:
        self._unwritten.values[(backend, f"hr:{provider}")] = json.dumps(reading.to_json())
        if (copy := self._copies.get(backend)) is not None:
            copy.rotation.record_headroom(provider, reading)
        self._wake_writer()

    async def suspend(self, backend: str, provider: str, fingerprint: str) -> None:
        await until_done(
            lambda: self._client.hset(self._key(backend), {f"out:{provider}": fingerprint}),
            what="suspend provider",
        )
        if (copy := self._copies.get(backend)) is not None:
            copy.rotation.suspend(provider, fingerprint)

    async def apply(self, request: ManualRequest) -> bool:
        if request.backend not in self._config.backends:
            return False
        await self.flush()
        self._copies.pop(request.backend, None)
        key = self._key(request.backend)
        if request.action == "reset":
            await self._reset(keys=[key], args=[])
        elif len(names := [p.name for p in self._config.providers_for(request.backend)]) > 1:
            if request.past in names:  # past the provider in use (see ManualRequest)
                index = (names.index(request.past) + 1) % len(names)
                await self._client.hset(key, {"index": str(index)})
            else:
                await self._client.hincrby(key, "index", 1)
        return True

    async def set_last(self, last: LastUsed) -> None:
        self._unwritten.last = last
        self._wake_writer()

    async def snapshot(self) -> tuple[dict[str, ProviderRotation], LastUsed]:
        await self.flush()
        async with self._client.pipeline(transaction=False) as pipeline:
            requests = [pipeline.hgetall(self._key(name)) for name in self._config.backends]
            last_request = pipeline.hgetall(f"{self._prefix}:last")
        rotations = {
            name: self._rotation(name, dict(await request))
            for name, request in zip(self._config.backends, requests, strict=True)
        }
        last = dict(await last_request)
        if not last:
            return rotations, NOTHING_USED
        parts = (last.get("backend"), last.get("provider"), last.get("model"))
        return rotations, tuple(part or None for part in parts)  # type: ignore[return-value]

    # -- writing successes ----------------------------------------------------

    async def write_behind(self) -> None:
        """Write successes every ``WRITE_BEHIND`` seconds while there are any, forever;
        cancel it, then :meth:`flush` once more, to stop."""
        while True:
            if not self._unwritten:
                self._written = anyio.Event()
                await self._written.wait()
            await anyio.sleep(WRITE_BEHIND)
            await self.flush()

    async def flush(self) -> None:
        """Write the successes recorded so far.

        A write once started is finished (shielded: cancelling it half-way could leave
        it done in Redis and kept here, to be counted twice); one that Redis does not
        take within ``WRITE_WAIT`` seconds is kept for the next try.
        """
        if self._flush_lock is None:
            self._flush_lock = anyio.Lock()
        async with self._flush_lock:
            unwritten, self._unwritten = self._unwritten, _Unwritten()
            if not unwritten:
                return
            with anyio.CancelScope(shield=True), anyio.move_on_after(WRITE_WAIT) as late:
                await until_done(lambda: self._write(unwritten), what="record successes")
            if late.cancelled_caught:
                self._unwritten.merge_older(unwritten)

    async def _write(self, unwritten: _Unwritten) -> None:
        per_backend: dict[str, dict[str, str]] = collections.defaultdict(dict)
        for (backend, name), value in unwritten.values.items():
            per_backend[backend][name] = value
        async with self._client.pipeline(transaction=False) as pipeline:
            for (backend, name), count in unwritten.increments.items():
                pipeline.hincrby(self._key(backend), name, count)
            for backend, values in per_backend.items():
                pipeline.hset(self._key(backend), values)
            if unwritten.last is not None:
                backend, provider, model = (part or "" for part in unwritten.last)
                fields = {"backend": backend, "provider": provider, "model": model}
                pipeline.hset(f"{self._prefix}:last", fields)

    def _wake_writer(self) -> None:
        if self._written is not None:
            self._written.set()

    def _rotation(self, backend: str, fields: dict[str, str]) -> ProviderRotation:
        names = tuple(provider.name for provider in self._config.providers[backend])
        known = set(names)

        def per_provider(prefix: str) -> dict[str, str]:
            return {
                field[len(prefix) :]: value
                for field, value in fields.items()
                if field.startswith(prefix) and field[len(prefix) :] in known
            }

        last_used = fields.get("last_used")
        # Read defensively: a hand-edited or foreign hash field is dropped, never fatal,
        # and no cooldown outlasts the backend's cap.
        cap = time.time() + self._config.backend(backend).max_cooldown_seconds
        cooldowns = _numbers(per_provider("cd:"), float)
        return ProviderRotation(
            providers=names,
            current_index=_numbers({"i": fields.get("index", "0")}, int).get("i", 0)
            % max(1, len(names)),
            last_used=last_used if last_used in known else None,
            cooldown_until={k: min(v, cap) for k, v in cooldowns.items()},
            successes=_numbers(per_provider("ok:"), int),
            failures=_numbers(per_provider("fail:"), int),
            headroom=_readings(per_provider("hr:")),
            suspended=per_provider("out:"),
        )


def _numbers(saved: dict[str, str], kind: type[_N]) -> dict[str, _N]:
    """The fields that parse as finite, non-negative numbers of ``kind``."""
    numbers: dict[str, _N] = {}
    for name, text in saved.items():
        try:
            value = kind(text)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value) and value >= 0:
            numbers[name] = value
    return numbers


def _readings(saved: dict[str, str]) -> dict[str, Headroom]:
    readings = {}
    for provider, text in saved.items():
        try:
            reading = Headroom.from_json(json.loads(text))
        except ValueError:
            reading = None
        if reading is not None:
            readings[provider] = reading
    return readings
