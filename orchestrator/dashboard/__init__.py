"""The live dashboard: every provider's state, every job's path, every failover.

``orchestrator dashboard`` serves it on its own; ``orchestrator worker --http``
serves it from the worker. Pages are rendered by the server (Starlette and
Jinja2, served by hypercorn on trio or asyncio), update themselves from
server-sent events, and the same data is JSON under ``/api/``.

Needs the ``dashboard`` extra: ``pip install 'provider-orchestrator[dashboard]'``.

Dependency direction: this package reads the orchestrator's state, events and
queues through their own modules; nothing in the orchestrator imports it.
"""

from __future__ import annotations

from ._hub import Dashboard
from ._server import (
    DEFAULT_LISTEN,
    TOKEN_VARIABLE,
    Listen,
    check_exposure,
    parse_listen,
    serving,
)
from ._sources import DashboardSource, RedisSource, StateFileSource

__all__ = [
    "DEFAULT_LISTEN",
    "TOKEN_VARIABLE",
    "Dashboard",
    "DashboardSource",
    "Listen",
    "RedisSource",
    "StateFileSource",
    "check_exposure",
    "parse_listen",
    "serving",
]
