"""Serving the dashboard with hypercorn under whichever loop runs (trio or asyncio).

The listening socket is bound here, before hypercorn starts, so that a port
in use is a clear error and port 0 tells which port it got.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import sniffio
from hypercorn.config import Config, Sockets

from .._errors import UsageError
from ._access import is_loopback
from ._app import create_app
from ._hub import Dashboard

#: Environment variable holding the token (rather than the command line, where `ps` shows it).
TOKEN_VARIABLE = "ORCHESTRATOR_DASHBOARD_TOKEN"
DEFAULT_LISTEN = "127.0.0.1:8765"
#: Seconds open pages (event streams) get to close when the dashboard stops.
GRACE = 1.0


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def parse_listen(text: str, option: str = "--listen") -> Listen:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6); a usage error (exit 2) otherwise."""
    host, colon, port = text.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"Error: {option} '{text}' is not HOST:PORT (e.g. {DEFAULT_LISTEN})")
    return Listen(host, int(port))


def check_exposure(listen: Listen, token: str | None, option: str = "--listen") -> None:
    """Beyond loopback, a token is required: anyone who can reach the port could rotate
    providers and re-run jobs."""
    if not listen.loopback and not token:
        raise UsageError(
            f"Error: {option} {listen.host}:{listen.port} is reachable beyond this machine; "
            f"give a token with --http-token or ${TOKEN_VARIABLE}"
        )


class _BoundConfig(Config):
    """Hypercorn's config, serving a socket bound beforehand."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def create_sockets(self) -> Sockets:
        return Sockets(secure_sockets=[], insecure_sockets=[self._sock], quic_sockets=[])


@asynccontextmanager
async def serving(dashboard: Dashboard, listen: Listen, token: str | None) -> AsyncIterator[str]:
    """Serve ``dashboard`` for the block; yields its address (``http://host:port/``).

    The dashboard's own work (following events) runs for the block too. Leaving
    the block closes open pages' event streams and stops serving within ``GRACE``.
    """
    check_exposure(listen, token)
    sock = _bind(listen)
    config = _BoundConfig(sock)
    config.graceful_timeout = GRACE
    config.loglevel = "WARNING"
    config.accesslog = None
    app = create_app(dashboard, token=token, loopback_only=listen.loopback)
    stop = anyio.Event()
    port = sock.getsockname()[1]
    host = f"[{listen.host}]" if ":" in listen.host else listen.host
    try:
        async with dashboard.running(), anyio.create_task_group() as group:
            group.start_soon(_serve, app, config, stop)
            try:
                yield f"http://{host}:{port}/"
            finally:
                dashboard.channel.close()  # open pages' event streams end first
                stop.set()
    finally:
        sock.close()


async def _serve(app: object, config: Config, stop: anyio.Event) -> None:
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as serve_on_trio

        await serve_on_trio(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    else:
        from hypercorn.asyncio import serve as serve_on_asyncio

        await serve_on_asyncio(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


def _bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    try:
        sock = socket.create_server((listen.host, listen.port), family=family, backlog=128)
    except OSError as exc:
        raise UsageError(
            f"Error: cannot listen on {listen.host}:{listen.port}: {exc.strerror or exc}"
        ) from None
    sock.setblocking(False)
    return sock
