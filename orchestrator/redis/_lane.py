"""A connection of its own for the calls a job waits on.

Through coredis' client a request goes out through the connection's writer task
and comes back through its reader task. After an idle moment each of those hops
costs a wake-up: a PING round trip takes 0.7-0.9 ms where the socket itself takes
0.3 ms (``tests/benchmarks/bench_lane.py``). Every job waits on three such round
trips: its submit, the worker's blocking read that it ends, and its result.

A **lane** does those calls itself: it writes the request, then reads the reply
with coredis' own RESP3 parser, one request (or one pipelined batch) at a time,
with no task behind it. It is made from a coredis client's settings (address,
TLS context, user, password, database) and speaks to that one server; on a Redis
Cluster there is no lane and the calls go through coredis, which follows the
cluster's redirects (see :func:`open_lane`).

A lane that cannot trust its connection (an error, a timeout, a cancelled call,
or a server that closed it while idle) drops it, and the next call connects
again. Failures are raised as coredis' ``ConnectionError`` or ``TimeoutError``,
so callers wait out outages as they do for the client's own calls.
"""

from __future__ import annotations

import select
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

if TYPE_CHECKING:
    import coredis.commands.script

    from ._connection import RedisClient

#: A command: its name, then its arguments.
Command = Sequence[str | int | bytes]
#: What a connection that went away raises (as coredis' ConnectionError to callers).
_CUT_OFF = (OSError, anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)
#: Seconds to connect (and log in) when the client has no connect timeout of its own.
CONNECT_TIMEOUT = 10.0
#: Seconds beyond its own block a blocking call may take before its lane gives up on
#: the connection (a network gone silent).
BLOCK_GRACE = 10.0


def pack(commands: Sequence[Command]) -> bytes:
    """Commands in RESP, ready for the socket (arguments as bulk strings)."""
    parts: list[bytes] = []
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for argument in command:
            data = argument if isinstance(argument, bytes) else str(argument).encode()
            parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class Lane:
    """``await lane.call("XREADGROUP", ...)``: the decoded reply, or the Redis error raised.

    Calls are served one at a time (a caller waits for the one before it).
    """

    def __init__(self, location: object, settings: dict[str, Any]) -> None:
        self._location = location
        self._settings = settings
        self._stream: anyio.abc.ByteStream | None = None
        self._lock = anyio.Lock(fast_acquire=True)
        self._parser: Any = None  # coredis' RESP3 parser, one per connection
        self.connects = 0  # connections made, for tests and diagnostics

    @property
    def busy(self) -> bool:
        """A call is in progress: a caller that must not wait for it goes elsewhere."""
        return self._lock.locked()

    async def call(self, *command: str | int | bytes) -> Any:
        """One command's reply (bound a blocking one with ``anyio.fail_after``: a call
        cut off drops the connection)."""
        (reply,) = await self.pipeline([command])
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        """The replies of ``commands``, sent together; a Redis error is returned in its
        place (as coredis' exception), not raised."""
        import coredis.exceptions

        async with self._lock:
            try:
                stream = await self._connected()
                await stream.send(pack(commands))
                return [await self._reply(stream) for _ in commands]
            except _CUT_OFF as exc:
                await self._drop()
                raise coredis.exceptions.ConnectionError(f"Redis lane: {exc!r}") from exc
            except BaseException:
                # Cancelled half-way (or timed out): whatever reply is still to come
                # would be read as the next call's.
                await self._drop()
                raise

    async def script(
        self, script: coredis.commands.script.Script[str], keys: Sequence[str], args: Command
    ) -> Any:
        """Run a registered script by its digest, sending its text once when the
        server does not know it yet (a restart, a SCRIPT FLUSH, a failover)."""
        import coredis.exceptions

        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except coredis.exceptions.NoScriptError:
            return await self.call("EVAL", str(script.script), len(keys), *keys, *args)

    async def aclose(self) -> None:
        """Close the connection; a call still waiting on it (a blocking wait in a task
        that outlived the lane's owner) ends with ``ConnectionError``."""
        await self._drop()

    async def _connected(self) -> anyio.abc.ByteStream:
        if self._stream is not None and self._closed_while_idle(self._stream):
            await self._drop()
        if self._stream is None:
            self._stream = await self._connect()
            self.connects += 1
        return self._stream

    async def _connect(self) -> anyio.abc.ByteStream:
        from coredis.connection import TCPLocation, UnixDomainSocketLocation

        location, settings = self._location, self._settings
        tls: ssl.SSLContext | None = settings.get("ssl_context")
        with anyio.fail_after(settings.get("connect_timeout") or CONNECT_TIMEOUT):
            if isinstance(location, UnixDomainSocketLocation):
                stream: anyio.abc.ByteStream = await anyio.connect_unix(location.path)
            elif isinstance(location, TCPLocation) and tls is not None:
                stream = await anyio.connect_tcp(
                    location.host, location.port, ssl_context=tls, tls_standard_compatible=False
                )
            elif isinstance(location, TCPLocation):
                stream = await anyio.connect_tcp(location.host, location.port)
            else:  # pragma: no cover - coredis 6 has no other kind
                raise TypeError(f"a lane cannot connect to {location!r}")
            try:
                await self._log_in(stream)
            except BaseException:
                await anyio.aclose_forcefully(stream)
                raise
        return stream

    async def _log_in(self, stream: anyio.abc.ByteStream) -> None:
        """HELLO 3 (with AUTH when the client has a user or password), then SELECT."""
        settings = self._settings
        hello: list[str | int | bytes] = ["HELLO", 3]
        provider = settings.get("credential_provider")
        if provider is not None:
            credentials = await provider.get_credentials()
            hello += ["AUTH", credentials.username, credentials.password or ""]
        elif settings.get("username") or settings.get("password"):
            hello += ["AUTH", settings.get("username") or "default", settings.get("password") or ""]
        commands: list[Command] = [hello]
        if settings.get("db"):
            commands.append(["SELECT", settings["db"]])
        from coredis.parser import Parser

        self._parser = Parser()
        await stream.send(pack(commands))
        for _ in commands:
            reply = await self._reply(stream)
            if isinstance(reply, Exception):
                raise reply

    async def _reply(self, stream: anyio.abc.ByteStream) -> Any:
        from coredis.constants.resp import DataType
        from coredis.parser import NotEnoughData

        while True:
            parsed = self._parser.parse(decode=True, encoding="utf-8")
            if isinstance(parsed, NotEnoughData):
                self._parser.feed(await stream.receive())
            elif parsed[0] != DataType.PUSH:  # none are asked for; skipped if one comes
                return parsed[1]

    @staticmethod
    def _closed_while_idle(stream: anyio.abc.ByteStream) -> bool:
        """The server closed the connection (an idle timeout) or sent what nobody
        asked for: a request sent on it would be lost or misread."""
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if raw is None:
            return False
        poller = select.poll()  # not select(): it refuses descriptors past 1023
        poller.register(raw.fileno(), select.POLLIN)
        try:
            return bool(poller.poll(0))  # end of stream, or bytes nobody asked for
        except OSError:
            return True

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await anyio.aclose_forcefully(stream)


async def run_script(
    script: coredis.commands.script.Script[str],
    keys: Sequence[str],
    args: Command,
    *,
    lane: Lane | None,
) -> Any:
    """``script`` over ``lane``, or through coredis' client where there is no lane."""
    if lane is not None:
        return await lane.script(script, keys, args)
    return await script(keys=keys, args=args)


@asynccontextmanager
async def open_lane(client: RedisClient) -> AsyncIterator[Lane | None]:
    """A lane to the server ``client`` talks to, closed on the way out; None for a
    cluster client (its calls must follow the cluster's redirects)."""
    import coredis

    if isinstance(client, coredis.RedisCluster):
        yield None
        return
    pool = client.connection_pool
    lane = Lane(pool.location, dict(pool.connection_kwargs))
    try:
        yield lane
    finally:
        with anyio.CancelScope(shield=True):
            await lane.aclose()


__all__ = ["BLOCK_GRACE", "Lane", "open_lane", "pack", "run_script"]
