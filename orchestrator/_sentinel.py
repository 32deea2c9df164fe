"""The sentinel: a loopback reverse proxy that sees each provider's answers as they come.

Real CLIs hide usage limits: given HTTP 429, Qwen Code retries silently for
minutes. For a provider with ``sentinel = true`` the child's base-URL variable
points here instead, at ``http://127.0.0.1:PORT/t/<token>``, a token per
attempt; the sentinel forwards every request to the provider's real base URL
and streams the answer back byte for byte (SSE included, nothing buffered
whole). What it sees goes to that attempt's :class:`Ticket`:

- a 429, or a quota error in the protocol's own shape (OpenAI
  ``insufficient_quota``, Anthropic ``rate_limit_error``, Gemini
  ``RESOURCE_EXHAUSTED``), is a usage-limit verdict, with the wait from
  Retry-After, else the rate-limit reset headers (``limits``), else the
  body: the supervisor ends the attempt at once;
- a 401 is an auth-error verdict;
- token usage in answers (OpenAI, Anthropic and Gemini shapes) is summed;
- every answer's rate-limit headers give the provider's headroom (how much
  of its window is used), kept on the ticket: the latest reading wins.

A request with an unknown token gets 403 and is never forwarded; one whose
path would leave the provider's base path (``..``, encoded or not) gets 400. Headers
pass through as the CLI sent them and are never logged.

Keyholder: the sentinel can hold an attempt's API keys (:meth:`Ticket.hold`). The
child then gets a placeholder in each key variable, valid for that attempt only,
and the sentinel puts the real key where the placeholder is (the ``Authorization``,
``x-api-key`` or ``x-goog-api-key`` header, a ``key=`` query), for that attempt's
upstream only: an agent that prints its environment shows nothing worth stealing.

httpx (on anyio) talks to the provider; h11 speaks HTTP/1.1 to the CLI.
Both are core dependencies: the sentinel is on by default (see
``_sentinel_config``).
"""

from __future__ import annotations

import email.utils
import functools
import json
import secrets
import time
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import structlog
from anyio.abc import Listener, SocketAttribute, SocketStream, TaskGroup

from ._adapter import Classification
from ._errors import UsageError
from ._job import AttemptOutcome, TokenUsage
from .limits import Headroom, headroom_from_headers, parse_retry_after, reset_from_headers

if TYPE_CHECKING:
    import h11
    import httpx

logger = structlog.get_logger("orchestrator.sentinel")

#: Texts in an error body that mean "quota or rate limit", per protocol.
LIMIT_MARKERS = (
    "insufficient_quota",
    "rate_limit_exceeded",
    "rate_limit_error",
    "RESOURCE_EXHAUSTED",
)
#: Hop-by-hop headers: about one connection, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers the sentinel sets itself instead of passing on.
NOT_FORWARDED = HOP_BY_HOP | {"host", "accept-encoding"}
#: Error bodies kept to judge them; answers are only scanned line by line.
ERROR_BODY_LIMIT = 64 * 1024
#: The largest request body forwarded (a long context is a few MB).
REQUEST_BODY_LIMIT = 64 * 1024 * 1024
#: Seconds to reach a provider, and the longest a provider may go silent mid-answer.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 600.0
#: A line longer than this is not scanned for usage (it is still forwarded).
LINE_LIMIT = 1024 * 1024
READ_SIZE = 64 * 1024


@dataclass
class _Counts:
    """One request's token counts (the largest of each seen in its answer), and the
    model its answer says served it."""

    input: int = 0
    output: int = 0
    total: int = 0
    model: str | None = None

    def see(self, input_tokens: int, output_tokens: int, total_tokens: int) -> None:
        self.input = max(self.input, input_tokens)
        self.output = max(self.output, output_tokens)
        self.total = max(self.total, total_tokens)


@dataclass
class Ticket:
    """One attempt's claim on the sentinel: its URL, and what was seen on it.

    Attributes:
        url: the base URL the child gets instead of the provider's.
        requests: requests forwarded for this attempt.
        headroom: the latest headroom the provider's answers announced.
    """

    token: str
    url: str
    upstream: str
    requests: int = 0
    headroom: Headroom | None = None
    _verdict: Classification | None = None
    _seen: anyio.Event = field(default_factory=anyio.Event)
    _counts: list[_Counts] = field(default_factory=list)
    _in_flight: set[anyio.CancelScope] = field(default_factory=set)
    #: ``{placeholder: real key}``: what the sentinel puts back into requests.
    _keys: dict[str, str] = field(default_factory=dict, repr=False)
    _placeholders: dict[str, str] = field(default_factory=dict, repr=False)
    #: The provider whose key requests carry now, and the key pool's next ones.
    provider: str | None = None
    _pool: list[tuple[str, dict[str, str]]] = field(default_factory=list, repr=False)
    _on_switch: Callable[[str, str, Classification], Awaitable[None]] | None = None
    #: ``(limited provider, next provider)`` for each switch inside a request.
    switches: list[tuple[str, str]] = field(default_factory=list)

    def hold(self, environment: dict[str, str], variables: tuple[str, ...]) -> list[str]:
        """Take the keys in ``variables`` out of the child's ``environment``: each gets a
        placeholder for this attempt, and any other variable holding the same key does too.

        Returns the variables that now hold a placeholder.
        """
        held = []
        for variable in variables:
            real = environment.get(variable)
            if not real or real in self._keys.values() or real in self._keys:
                continue
            placeholder = f"orchestrator-key-{len(self._keys) + 1}-{self.token}"
            self._keys[placeholder] = real
            self._placeholders[variable] = placeholder
            for name, value in environment.items():
                if value == real:
                    environment[name] = placeholder
                    held.append(name)
        return held

    def pool(
        self,
        provider: str,
        others: Sequence[tuple[str, Mapping[str, str]]],
        on_switch: Callable[[str, str, Classification], Awaitable[None]],
    ) -> None:
        """Keys to go on with inside the same request when this one is limited: each of
        ``others`` is a provider of the same endpoint and model with its settings (its
        key in the same variables). ``on_switch(from, to, verdict)`` is awaited at each
        switch, before the request is sent again."""
        self.provider = provider
        for name, settings in others:
            keys = {
                placeholder: settings[variable]
                for variable, placeholder in self._placeholders.items()
                if settings.get(variable)
            }
            if keys:
                self._pool.append((name, keys))
        self._on_switch = on_switch

    @property
    def can_switch(self) -> bool:
        return bool(self._pool) and self._on_switch is not None

    async def switch_key(self, verdict: Classification) -> None:
        """The current key is limited: go on with the next key of the pool."""
        assert self._on_switch is not None
        name, keys = self._pool.pop(0)
        limited = self.provider or "?"
        self.provider = name
        self._keys.update(keys)
        self.switches.append((limited, name))
        await self._on_switch(limited, name, verdict)

    def headers_with_keys(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The request's headers with the real keys put back (as they are, holding none)."""
        if not self._keys:
            return headers
        return [(name, self.with_keys(value)) for name, value in headers]

    def with_keys(self, text: str) -> str:
        """``text`` (a header value, a path and query) with the real keys put back."""
        for placeholder, real in self._keys.items():
            if placeholder in text:
                text = text.replace(placeholder, real)
        return text

    def end(self) -> None:
        """The attempt is over: its requests still waiting on the provider are cancelled
        (their upstream connections closed, not left hanging on a silent provider)."""
        for scope in self._in_flight:
            scope.cancel()

    async def verdict(self) -> Classification:
        """Wait for the first limit or auth verdict on this attempt."""
        await self._seen.wait()
        assert self._verdict is not None
        return self._verdict

    @property
    def reported(self) -> Classification | None:
        """The verdict, if one was seen (before the CLI got the response)."""
        return self._verdict

    @property
    def served_models(self) -> tuple[str, ...]:
        """The models the provider's answers named (``model``, ``message.model``,
        ``modelVersion``), in order, each once."""
        return tuple(dict.fromkeys(c.model for c in self._counts if c.model))

    @property
    def usage(self) -> TokenUsage | None:
        """Token counts summed over the attempt's requests, as soon as each is seen."""
        if not any(c.input or c.output or c.total for c in self._counts):
            return None
        return TokenUsage(
            input_tokens=sum(c.input for c in self._counts),
            output_tokens=sum(c.output for c in self._counts),
            total_tokens=sum(c.total or c.input + c.output for c in self._counts),
        )

    def report(self, verdict: Classification) -> None:
        if self._verdict is None:
            self._verdict = verdict
            self._seen.set()

    def new_request(self) -> _Counts:
        self.requests += 1
        counts = _Counts()
        self._counts.append(counts)
        return counts


class Sentinel:
    """``async with Sentinel() as sentinel``: listening on 127.0.0.1 until the block ends."""

    def __init__(
        self, *, connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT
    ) -> None:
        try:
            import h11  # noqa: F401
            import httpx
        except ImportError:
            raise UsageError(
                "Error: the sentinel needs httpx and h11, which provider-orchestrator depends "
                "on: reinstall it (pip install --force-reinstall provider-orchestrator), or "
                "set sentinel = false on the providers"
            ) from None
        self._tickets: dict[str, Ticket] = {}
        self._client = httpx.AsyncClient(
            # Answers may pause for long (thinking); a provider silent for read_timeout
            # is hung. Either way the attempt's end cancels its requests (Ticket.end).
            timeout=httpx.Timeout(30.0, connect=connect_timeout, read=read_timeout),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            follow_redirects=False,
        )
        self._group: TaskGroup | None = None
        self.port = 0

    async def __aenter__(self) -> Sentinel:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(SocketAttribute.local_port)
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._listen, listener)
        return self

    async def _listen(self, listener: Listener[SocketStream]) -> None:
        async with listener:
            await listener.serve(self._serve_connection)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        self._group.cancel_scope.cancel()
        try:
            return await self._group.__aexit__(exc_type, exc, traceback)
        finally:
            with anyio.CancelScope(shield=True):
                await self._client.aclose()

    @asynccontextmanager
    async def ticket(self, upstream: str) -> AsyncIterator[Ticket]:
        """A fresh token for one attempt, forwarding to ``upstream``, valid inside the block."""
        token = secrets.token_urlsafe(18)
        ticket = Ticket(token, f"http://127.0.0.1:{self.port}/t/{token}", upstream.rstrip("/"))
        self._tickets[token] = ticket
        try:
            yield ticket
        finally:
            del self._tickets[token]
            ticket.end()

    # -- one connection from a CLI ------------------------------------------------

    async def _serve_connection(self, stream: SocketStream) -> None:
        import h11

        connection = h11.Connection(h11.SERVER)
        async with stream:
            try:
                while True:
                    event = await _next_event(connection, stream)
                    if not isinstance(event, h11.Request):
                        return
                    await self._serve_request(connection, stream, event)
                    if connection.our_state is not h11.DONE or (
                        connection.their_state is not h11.DONE
                    ):
                        return
                    connection.start_next_cycle()
            except (anyio.BrokenResourceError, anyio.EndOfStream, h11.ProtocolError, OSError):
                return  # the CLI went away (often: its attempt was ended)

    async def _serve_request(
        self, connection: h11.Connection, stream: SocketStream, request: h11.Request
    ) -> None:
        target = request.target.decode("latin-1")
        ticket = self._ticket_for(target)
        if ticket is None:
            await _drain_body(connection, stream)
            await _send_simple(connection, stream, 403, b'{"error":"unknown sentinel token"}')
            return
        rest = target.split("/", 3)[3] if target.count("/") >= 3 else ""
        if _leaves_base_path(rest):
            await _drain_body(connection, stream)
            await _send_simple(connection, stream, 400, b'{"error":"path outside the base URL"}')
            return
        with anyio.CancelScope() as scope:
            ticket._in_flight.add(scope)
            try:
                await self._forward(connection, stream, request, ticket, rest)
            finally:
                ticket._in_flight.discard(scope)

    async def _forward(
        self,
        connection: h11.Connection,
        stream: SocketStream,
        request: h11.Request,
        ticket: Ticket,
        rest: str,
    ) -> None:
        import httpx

        url = f"{ticket.upstream}/{rest}" if rest else ticket.upstream
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers
            if name.decode("latin-1").lower() not in NOT_FORWARDED
        ]
        # Uncompressed answers, so that their usage and errors can be read.
        headers.append(("accept-encoding", "identity"))
        # The body is read whole (bounded) before it is sent: a request body streamed
        # through an async generator would be left unfinished, and only collected by
        # the garbage collector, whenever the attempt ends while it is being sent. It is
        # also what a key pool sends again.
        body = await _read_body(connection, stream)
        if body is None:
            await _send_simple(connection, stream, 413, b'{"error":"request body too large"}')
            return
        while True:
            counts = ticket.new_request()
            upstream_request = self._client.build_request(
                request.method.decode("ascii"),
                # The keyholder: real keys only on the way to this upstream.
                ticket.with_keys(url),
                headers=ticket.headers_with_keys(headers),
                content=body,
            )
            # Not httpx's own body stream, an async generator that an attempt ended mid-send
            # leaves unfinished (a ResourceWarning under trio): an iterator object.
            upstream_request.stream = _body_stream(body)
            try:
                response = await self._client.send(upstream_request, stream=True)
            except httpx.TimeoutException as exc:
                logger.warning("provider did not answer in time", error=type(exc).__name__)
                await _send_simple(connection, stream, 504, b'{"error":"provider timed out"}')
                return
            except httpx.HTTPError as exc:
                logger.warning("provider unreachable", error=type(exc).__name__)
                await _send_simple(connection, stream, 502, b'{"error":"provider unreachable"}')
                return
            chunks = response.aiter_raw(READ_SIZE)
            try:
                held, verdict = await self._judge(response, chunks, ticket, counts)
                if (
                    verdict is not None
                    and verdict.outcome is AttemptOutcome.USAGE_LIMIT
                    and ticket.can_switch
                ):
                    # Nothing reached the CLI yet: the same request goes again with the
                    # pool's next key, and the CLI never sees this 429.
                    await _close(chunks)
                    await response.aclose()
                    await ticket.switch_key(verdict)
                    continue
                if verdict is not None:
                    logger.info("provider limit seen", status=response.status_code)
                    ticket.report(verdict)
                await self._relay(connection, stream, response, held, counts)
            except httpx.HTTPError as exc:  # cut off or silent mid-answer: the answer ends
                logger.warning("provider stopped answering", error=type(exc).__name__)
            finally:
                with anyio.CancelScope(shield=True):
                    await _close(chunks)  # never left for the garbage collector
                    await response.aclose()
            return

    def _ticket_for(self, target: str) -> Ticket | None:
        parts = target.split("?", 1)[0].split("/")
        if len(parts) < 3 or parts[1] != "t":
            return None
        return self._tickets.get(parts[2])

    async def _judge(
        self,
        response: httpx.Response,
        chunks: AsyncIterator[bytes],
        ticket: Ticket,
        counts: _Counts,
    ) -> tuple[_HeldAnswer, Classification | None]:
        """Read an error answer's (small) body and judge it, before the CLI gets a byte;
        an answer's headroom headers are kept on the ticket."""
        reading = headroom_from_headers(response.headers, time.time())
        if reading is not None:
            ticket.headroom = reading
        watcher = _ResponseWatcher(response, counts)
        held = _HeldAnswer(watcher, chunks)
        if response.status_code < 400:
            return held, None
        size = 0
        async for chunk in held.chunks:
            held.head.append(chunk)
            watcher.feed(chunk)
            size += len(chunk)
            if size >= ERROR_BODY_LIMIT:
                break
        return held, watcher.verdict(time.time())

    async def _relay(
        self,
        connection: h11.Connection,
        stream: SocketStream,
        response: httpx.Response,
        held: _HeldAnswer,
        counts: _Counts,
    ) -> None:
        """Relay the response: what was read to judge it, then the rest as it comes, its
        usage counted line by line before each chunk is passed on."""
        import h11

        headers = [
            (name, value)
            for name, value in response.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        status = response.status_code
        await _send(connection, stream, h11.Response(status_code=status, headers=headers))
        for chunk in held.head:
            await _send(connection, stream, h11.Data(data=chunk))
        async for chunk in held.chunks:
            held.watcher.feed(chunk)
            await _send(connection, stream, h11.Data(data=chunk))
        await _send(connection, stream, h11.EndOfMessage())


def _body_stream(body: bytes) -> httpx.AsyncByteStream:
    """A request body already read whole, sent in one piece by an async iterator object
    (not an async generator): nothing is left unfinished when a send is cut."""
    return _body_class()(body)


@functools.cache
def _body_class() -> Callable[[bytes], httpx.AsyncByteStream]:
    import httpx  # lazily, as everywhere here: the sentinel says how to repair a bad install

    class Body(httpx.AsyncByteStream):
        def __init__(self, body: bytes) -> None:
            self._body = body

        def __aiter__(self) -> AsyncIterator[bytes]:
            return _Once(self._body)

    return Body


class _Once:
    """Yields one chunk (none for an empty body), then stops."""

    def __init__(self, chunk: bytes) -> None:
        self._chunk = chunk

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        chunk, self._chunk = self._chunk, b""
        if not chunk:
            raise StopAsyncIteration
        return chunk


async def _close(chunks: AsyncIterator[bytes]) -> None:
    """Close a response's chunk generator now rather than at garbage collection."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


@dataclass
class _HeldAnswer:
    """An upstream answer being judged: the chunks read so far, and the rest to come."""

    watcher: _ResponseWatcher
    chunks: AsyncIterator[bytes]
    head: list[bytes] = field(default_factory=list)


class _ResponseWatcher:
    """Judges one upstream response from its status, headers and body, as it passes."""

    def __init__(self, response: httpx.Response, counts: _Counts) -> None:
        self.status = response.status_code
        self.counts = counts
        self.retry_after_header = response.headers.get("retry-after")
        self.headers = response.headers
        encoding = response.headers.get("content-encoding", "identity").lower()
        # A compressed body cannot be read line by line; the status still counts.
        self._readable = encoding in ("", "identity")
        self._error_body = bytearray()
        self._line = bytearray()

    def feed(self, chunk: bytes) -> None:
        if not self._readable:
            return
        if self.status >= 400:
            room = ERROR_BODY_LIMIT - len(self._error_body)
            self._error_body += chunk[:room]
            return
        self._line += chunk
        while (end := self._line.find(b"\n")) >= 0:
            self._scan_line(bytes(self._line[:end]))
            del self._line[: end + 1]
        if self._line.rstrip().endswith(b"}"):  # a JSON answer without a newline
            self._scan_line(bytes(self._line))
        if len(self._line) > LINE_LIMIT:
            self._line.clear()

    def verdict(self, now: float) -> Classification | None:
        text = self._error_body.decode("utf-8", errors="replace")
        if self.status == 429 or (self.status >= 400 and _has_limit_marker(text)):
            retry_after = _retry_after(self.retry_after_header, now)
            if retry_after is None:
                reset = reset_from_headers(self.headers, now)
                retry_after = None if reset is None else reset - now
            if retry_after is None:
                retry_after = parse_retry_after(text, now)
            return Classification(
                AttemptOutcome.USAGE_LIMIT,
                f"usage limit: the provider answered HTTP {self.status} (seen by the sentinel)",
                retry_after=retry_after,
            )
        if self.status == 401:
            return Classification(
                AttemptOutcome.AUTH_ERROR,
                "auth error: the provider answered HTTP 401 (seen by the sentinel)",
            )
        return None

    def _scan_line(self, line: bytes) -> None:
        wants_model = self.counts.model is None and b'"model' in line  # model, modelVersion
        if b"sage" not in line and not wants_model:  # "usage", "usageMetadata"
            return
        text = line.strip()
        if text.startswith(b"data:"):
            text = text[5:].strip()
        try:
            value = json.loads(text)
        except ValueError:
            return
        for input_tokens, output_tokens, total_tokens in _usage_objects(value):
            self.counts.see(input_tokens, output_tokens, total_tokens)
        if wants_model:
            self.counts.model = _served_model(value)


def _usage_objects(value: Any) -> list[tuple[int, int, int]]:
    """(input, output, total) from every usage object in ``value``, in any protocol's shape."""
    found: list[tuple[int, int, int]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if key in ("usage", "usageMetadata") and isinstance(inner, dict):
                    found.append(_counts(inner))
                elif isinstance(inner, dict | list):
                    stack.append(inner)
    return found


def _served_model(value: Any) -> str | None:
    """The model an answer names: OpenAI's ``model``, Anthropic's ``message.model``, the
    Responses API's ``response.model``, Gemini's ``modelVersion``."""
    if not isinstance(value, dict):
        return None
    for holder in (value, value.get("message"), value.get("response")):
        if isinstance(holder, dict):
            for key in ("model", "modelVersion"):
                model = holder.get(key)
                if isinstance(model, str) and model:
                    return model
    return None


def _counts(usage: dict[str, Any]) -> tuple[int, int, int]:
    def first(*names: str) -> int:
        for name in names:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return 0

    return (
        first("input_tokens", "prompt_tokens", "promptTokenCount"),
        first("output_tokens", "completion_tokens", "candidatesTokenCount"),
        first("total_tokens", "totalTokenCount"),
    )


def _leaves_base_path(rest: str) -> bool:
    """``..`` or ``.`` segments (encoded or not), or a backslash: the request would reach
    the upstream outside the provider's base path, so it is refused."""
    path = rest.split("?", 1)[0]
    for _ in range(3):  # %252e%252e is %2e%2e once decoded, .. twice
        decoded = urllib.parse.unquote(path)
        if decoded == path:
            break
        path = decoded
    return "\\" in path or any(segment in (".", "..") for segment in path.split("/"))


def _has_limit_marker(text: str) -> bool:
    return any(marker in text for marker in LIMIT_MARKERS)


def _retry_after(header: str | None, now: float) -> float | None:
    """Retry-After in seconds, from its seconds or HTTP-date form."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


# -- h11 plumbing ----------------------------------------------------------------


async def _next_event(connection: h11.Connection, stream: SocketStream) -> Any:
    import h11

    while True:
        event = connection.next_event()
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await stream.receive(READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = b""
        connection.receive_data(data)


async def _body(connection: h11.Connection, stream: SocketStream) -> AsyncGenerator[bytes, None]:
    """The request body as it arrives, for httpx to stream upstream."""
    import h11

    while True:
        event = await _next_event(connection, stream)
        if isinstance(event, h11.Data):
            yield bytes(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return


async def _read_body(connection: h11.Connection, stream: SocketStream) -> bytes | None:
    """The whole request body; None (the rest drained) past ``REQUEST_BODY_LIMIT``."""
    parts: list[bytes] = []
    size = 0
    async with aclosing(_body(connection, stream)) as chunks:
        async for chunk in chunks:
            size += len(chunk)
            if size > REQUEST_BODY_LIMIT:
                break
            parts.append(chunk)
    if size > REQUEST_BODY_LIMIT:
        await _drain_body(connection, stream)
        return None
    return b"".join(parts)


async def _drain_body(connection: h11.Connection, stream: SocketStream) -> None:
    async with aclosing(_body(connection, stream)) as chunks:
        async for _ in chunks:
            pass


async def _send_simple(
    connection: h11.Connection,
    stream: SocketStream,
    status: int,
    body: bytes,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> None:
    import h11

    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    headers += extra_headers
    await _send(connection, stream, h11.Response(status_code=status, headers=headers))
    await _send(connection, stream, h11.Data(data=body))
    await _send(connection, stream, h11.EndOfMessage())


async def _send(connection: h11.Connection, stream: SocketStream, event: Any) -> None:
    data = connection.send(event)
    if data:
        await stream.send(data)
