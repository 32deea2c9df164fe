"""Rotation state on Redis, shared by every worker: one hash per backend.

Fields of ``<prefix>:rot:<backend>``: ``index`` (the pointer; incremented, read
modulo the provider count, so concurrent rotations never lose one; a manual
rotate sets it past the provider in use), ``last_used``, and per provider
``cd:<p>`` (cooldown end, epoch seconds), ``ok:<p>`` and ``fail:<p>`` (counters),
``hr:<p>`` (the latest headroom reading, JSON), ``out:<p>`` (suspended after a 401: the refused
settings' fingerprint). Every change is one atomic
command or Lua script, so workers never overwrite each other: a provider one
worker cools down is skipped by all of them on their next choice. While
Redis is away, the operations wait for it (a job never chooses a provider
from a view it cannot trust) and go on when it is back.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, TypeVar, cast

from ._config import OrchestratorConfig
from ._redis_connection import key_prefix, until_done
from ._rotation import ProviderRotation
from ._rotation_store import RotationView
from ._state import NOTHING_USED, LastUsed
from ._state_store import ManualRequest
from .limits import Headroom

_N = TypeVar("_N", int, float)

if TYPE_CHECKING:
    from ._redis_connection import RedisClient

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


class RedisRotationStore:
    """``RotationStore`` on a Redis client (which the caller keeps open)."""

    def __init__(self, client: RedisClient, config: OrchestratorConfig, prefix: str):
        self._client = client
        self._config = config
        self._prefix = key_prefix(client, prefix)
        self._view = client.register_script(VIEW)
        self._fail = client.register_script(FAIL)
        self._reset = client.register_script(RESET)

    def _key(self, backend: str) -> str:
        return f"{self._prefix}:rot:{backend}"

    async def view(self, backend: str, now: float) -> RotationView:
        reply: object = await until_done(
            lambda: self._view(keys=[self._key(backend)], args=[repr(now)]), what="read rotation"
        )
        kept, recovered = cast(tuple[list[str], list[str]], reply)
        fields = dict(zip(kept[::2], kept[1::2], strict=True))
        return RotationView(self._rotation(backend, fields), tuple(recovered))

    async def record_success(self, backend: str, provider: str, *, advance: bool) -> None:
        key = self._key(backend)

        async def record() -> None:
            async with self._client.pipeline(transaction=True) as pipeline:
                pipeline.hincrby(key, f"ok:{provider}", 1)
                pipeline.hset(key, {"last_used": provider})
                if advance and len(self._config.providers[backend]) > 1:
                    pipeline.hincrby(key, "index", 1)

        await until_done(record, what="record success")

    async def record_failure(
        self, backend: str, provider: str, *, cooldown_until: float | None
    ) -> None:
        until = "" if cooldown_until is None else repr(cooldown_until)
        await until_done(
            lambda: self._fail(keys=[self._key(backend)], args=[provider, until]),
            what="record failure",
        )

    async def record_headroom(self, backend: str, provider: str, reading: Headroom) -> None:
        value = json.dumps(reading.to_json())
        await until_done(
            lambda: self._client.hset(self._key(backend), {f"hr:{provider}": value}),
            what="record headroom",
        )

    async def suspend(self, backend: str, provider: str, fingerprint: str) -> None:
        await until_done(
            lambda: self._client.hset(self._key(backend), {f"out:{provider}": fingerprint}),
            what="suspend provider",
        )

    async def apply(self, request: ManualRequest) -> bool:
        if request.backend not in self._config.backends:
            return False
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
        backend, provider, model = (part or "" for part in last)
        fields = {"backend": backend, "provider": provider, "model": model}
        await until_done(
            lambda: self._client.hset(f"{self._prefix}:last", fields), what="record last used"
        )

    async def snapshot(self) -> tuple[dict[str, ProviderRotation], LastUsed]:
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
