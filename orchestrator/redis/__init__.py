"""Redis for many workers on many machines (the ``redis`` extra: coredis 6).

``from orchestrator.redis import RedisQueue, redis_event_feed``:

- ``RedisQueue.connect(url)``: submit jobs for ``orchestrator worker --redis``
  processes and await their results; read the dead letters.
- ``redis_event_feed(url)``: every worker's events, live, for a telemetry sink.
- ``Orchestrator(config, redis_url=url)`` (in ``orchestrator``) runs jobs in
  this process with the rotation state and events shared through Redis.
"""

from __future__ import annotations

from ._events import redis_event_feed
from ._queue import DeadLetter, RedisKeys, RedisQueue

__all__ = ["DeadLetter", "RedisKeys", "RedisQueue", "redis_event_feed"]
