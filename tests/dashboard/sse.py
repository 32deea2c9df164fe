"""A minimal server-sent events reader over a raw loopback socket, for tests.

httpx's line iterators nest async generators that trio reports as garbage
collected unfinished; a plain socket has no such layers. Chunked framing is
left in: chunk-size lines never start with ``data:``, so records still read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
from anyio.abc import SocketStream


class EventReader:
    def __init__(self, stream: SocketStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self, within: float = 10) -> dict[str, Any]:
        """The next ``data:`` record, parsed (within ``within`` seconds)."""
        with anyio.fail_after(within):
            while True:
                line, newline, rest = self._buffer.partition(b"\n")
                if newline:
                    self._buffer = rest
                    if line.startswith(b"data: "):
                        record: dict[str, Any] = json.loads(line.removeprefix(b"data: "))
                        return record
                    continue
                self._buffer += await self._stream.receive()


@asynccontextmanager
async def event_stream(
    url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[EventReader]:
    """GET ``url`` (``http://127.0.0.1:PORT/api/events``) and read its events."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    async with await anyio.connect_tcp(parts.hostname, parts.port) as stream:
        await stream.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        reader = EventReader(stream)
        await _skip_headers(reader)
        yield reader


async def _skip_headers(reader: EventReader) -> None:
    with anyio.fail_after(10):
        while b"\r\n\r\n" not in reader._buffer:
            reader._buffer += await reader._stream.receive()
    head, _, reader._buffer = reader._buffer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    assert b" 200 " in status, status
