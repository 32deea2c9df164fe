"""Mock LLM APIs on 127.0.0.1 for the real agent CLIs, one server per provider.

One protocol per server, chosen at start: ``openai-chat`` (chat completions,
qwen), ``openai-responses`` (the Responses API, codex), ``anthropic``
(Messages, claude) and ``gemini`` (generateContent / streamGenerateContent).
Each answers in one mode:

===================  =========================================================
``answer``           a normal reply (streamed when the request asks for it)
``rate-limit``       HTTP 429 with ``Retry-After: 30``
``rate-limit-bare``  HTTP 429 without Retry-After
``quota``            quota exhausted, in the protocol's own error shape
``unauthorized``     HTTP 401
``server-error``     HTTP 500
``hang``             reads the request and never answers (until stopped)
``cut``              starts a streamed answer, then closes the connection
                     mid-answer
``tool``             a call of a harmless tool the CLI declared (listing or
                     reading files, arguments filled from the tool's schema):
                     the agent works, then asks again with the tool's result
``plan-limit``       a subscription's spent plan, as the provider answers it:
                     Anthropic 429 with ``anthropic-ratelimit-unified-*``
                     headers (status rejected, reset in two hours); OpenAI
                     Responses 429 ``usage_limit_reached`` with ``resets_at``
                     (what codex's ChatGPT plans get); ``reset_at`` says when
===================  =========================================================

Standard library only (``ThreadingHTTPServer`` in a thread), so that it does
not share an event loop with the orchestrator under test. Requests are
counted and their paths kept, model calls' bodies too (what the tests read to
see which conversation reached a provider), and the credential each model call
carried (``Authorization``, ``x-api-key``, ``x-goog-api-key`` or ``key=``), so
that a test sees which key reached the provider; they are dummies, kept in
memory only. ``script`` gives one mode per model call
(the last repeats): ``["tool", "rate-limit-bare"]`` is an agent that did some
work and then hit its limit.

Run one by hand: ``python -m tests.e2e.mock_api --protocol openai-chat --mode answer``.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, get_args

Protocol = Literal["openai-chat", "openai-responses", "anthropic", "gemini"]
Mode = Literal[
    "answer",
    "rate-limit",
    "rate-limit-bare",
    "quota",
    "unauthorized",
    "server-error",
    "hang",
    "plan-limit",
    "tool",
    "cut",
]
PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)
MODES: tuple[Mode, ...] = get_args(Mode)
USAGE = {"input": 11, "output": 7}
#: A fixed "created" time: the same request gets the same bytes back.
CREATED = 1_700_000_000
RATE_LIMITED = "Number of requests has exceeded your rate limit"


class MockApi:
    """A mock API server: ``with MockApi("anthropic", "answer", "hello") as api``.

    Attributes:
        requests: paths of the requests that reached the API (model calls and
            the CLIs' side requests alike), in order.
    """

    def __init__(
        self,
        protocol: Protocol,
        mode: Mode,
        answer: str = "mock answer",
        port: int = 0,
        answer_headers: dict[str, str] | None = None,
        script: Sequence[Mode] = (),
        whole_request_usage: bool = False,
        served_model: str | None = None,
        limited_keys: Iterable[str] = (),
    ) -> None:
        self.protocol = protocol
        self.mode = mode
        #: One mode per model call, the last repeating; empty: ``mode`` for every call.
        self.script = tuple(script)
        #: The bodies of the model calls, in order (JSON as sent).
        self.bodies: list[dict[str, Any]] = []
        #: The credential each model call carried, in order ("" when none).
        self.credentials: list[str] = []
        #: Report each request's whole size as its input tokens (what a provider bills).
        self.whole_request_usage = whole_request_usage
        #: The model answers name; None: the one each request asked for.
        self.served_model = served_model
        #: Keys this mock answers 429 for, whatever the mode (one spent key of several).
        self.limited_keys = frozenset(limited_keys)
        #: Sent with every answer, e.g. rate-limit headers announcing little headroom.
        self.answer_headers = dict(answer_headers or {})
        self.answer = answer
        self.requests: list[str] = []
        #: When each request arrived (Unix seconds), in the same order.
        self.arrivals: list[float] = []
        #: The model each model call asked for (the body's ``model``, or Gemini's path).
        self.models: list[str] = []
        #: When a plan-limit answer says the limit resets (Unix seconds).
        self.reset_at = int(time.time()) + 7200
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def model_requests(self) -> int:
        """Requests that asked for a model's answer (not the CLIs' side requests)."""
        with self._lock:
            return sum(1 for path in self.requests if _is_model_call(path))

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)
            self.arrivals.append(time.time())

    @property
    def first_model_request_at(self) -> float | None:
        """When the first model call arrived (Unix seconds), if one did."""
        with self._lock:
            calls = zip(self.requests, self.arrivals, strict=True)
            return next((when for path, when in calls if _is_model_call(path)), None)

    def __enter__(self) -> MockApi:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()  # releases the hanging handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)  # a quick stop: tests start many

    def wait_stopping(self) -> None:
        self._stopping.wait()


class _QuietServer(ThreadingHTTPServer):
    """A client killed mid-request (the point of several tests) is not an error."""

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _is_model_call(path: str) -> bool:
    path = path.split("?", 1)[0]
    return path.endswith(("/chat/completions", "/responses", "/messages")) or (
        ":generateContent" in path or ":streamGenerateContent" in path
    )


def _handler_for(api: MockApi) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        mock = api

    return Handler


class _Handler(BaseHTTPRequestHandler):
    mock: MockApi
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle and
    # delayed ACKs add 40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests look at ``requests``, not at a log."""

    def do_GET(self) -> None:
        self._read_body()
        self.mock.record(self.path)
        if self.path.split("?", 1)[0].rstrip("/").endswith("/models"):
            self._json(HTTPStatus.OK, {"object": "list", "data": [], "models": []})
        else:
            self._json(HTTPStatus.OK, {})

    def do_HEAD(self) -> None:
        self.mock.record(self.path)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self._read_body()
        self.mock.record(self.path)
        if not _is_model_call(self.path):
            self._side_request()
            return
        request = _loads(body)
        credential = _credential(self.headers, self.path)
        with self.mock._lock:
            calls = len(self.mock.bodies)
            self.mock.bodies.append(request)
            self.mock.credentials.append(credential)
            self.mock.models.append(_requested_model(self.path, request))
        script = self.mock.script
        mode = script[min(calls, len(script) - 1)] if script else self.mock.mode
        if credential in self.mock.limited_keys:
            mode = "rate-limit-bare"
        _WHOLE_REQUEST.set(self.mock.whole_request_usage)
        _SERVED.set(self.mock.served_model or _requested_model(self.path, request) or "mock-model")
        if mode == "hang":
            self.mock.wait_stopping()
            self.close_connection = True
            return
        if mode == "plan-limit":
            status, payload, headers = _plan_limit(self.mock.protocol, self.mock.reset_at)
            self._json(status, payload, headers)
            return
        if mode == "cut":
            self._cut_stream()
            return
        if mode not in ("answer", "tool"):
            status, payload, headers = _error(self.mock.protocol, mode)
            self._json(status, payload, headers)
            return
        streaming = bool(request.get("stream")) or ":streamGenerateContent" in self.path
        if mode == "tool":
            self._stream_events(_tool_call(self.mock.protocol, request, calls))
            return
        if not streaming:
            reply = _reply(self.mock.protocol, self.mock.answer, request)
            self._json(HTTPStatus.OK, reply, self.mock.answer_headers)
            return
        self._stream_events(_stream(self.mock.protocol, self.mock.answer, request))

    def _cut_stream(self) -> None:
        """A 200 and the start of an answer, then the connection closed mid-answer."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._chunk(b'data: {"choices": [{"delta": {"content": "half an ans')
        self.close_connection = True
        self.connection.shutdown(2)

    def _stream_events(self, events: Iterable[str]) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for name, value in self.mock.answer_headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            self._chunk(event.encode())
        self._chunk(b"")

    # -- helpers ---------------------------------------------------------------

    def _side_request(self) -> None:
        """Token counting, telemetry and the like: a harmless empty success."""
        path = self.path.split("?", 1)[0]
        if path.endswith("/count_tokens"):
            self._json(HTTPStatus.OK, {"input_tokens": USAGE["input"]})
        elif path.endswith(":countTokens"):
            self._json(HTTPStatus.OK, {"totalTokens": USAGE["input"]})
        else:
            self._json(HTTPStatus.OK, {})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        return b""

    def _json(
        self, status: HTTPStatus, payload: object, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _credential(headers: Any, path: str) -> str:
    """The API key a request carried, in whichever place its protocol puts it."""
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return str(bearer[7:])
    for name in ("x-api-key", "x-goog-api-key"):
        if headers.get(name):
            return str(headers[name])
    query = urllib.parse.parse_qs(path.split("?", 1)[1]) if "?" in path else {}
    return query.get("key", [""])[0]


def _requested_model(path: str, request: dict[str, Any]) -> str:
    if "/models/" in path:  # Gemini: .../models/MODEL:streamGenerateContent
        return path.split("/models/", 1)[1].split(":", 1)[0]
    return str(request.get("model", ""))


def _loads(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- errors, in each protocol's own shape ---------------------------------------


def _plan_limit(protocol: Protocol, reset_at: int) -> tuple[HTTPStatus, object, dict[str, str]]:
    """A subscription whose plan is spent until ``reset_at``, in the provider's own shape."""
    if protocol == "anthropic":
        headers = {
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(reset_at),
            "anthropic-ratelimit-unified-representative-claim": "five_hour",
        }
        limited = {"type": "rate_limit_error", "message": "Rate limited"}
        return HTTPStatus.TOO_MANY_REQUESTS, {"type": "error", "error": limited}, headers
    error: dict[str, object] = {
        "type": "usage_limit_reached",
        "message": "The usage limit has been reached",
        "plan_type": "plus",
        "resets_at": reset_at,
        "resets_in_seconds": max(0, reset_at - int(time.time())),
    }
    return HTTPStatus.TOO_MANY_REQUESTS, {"error": error}, {}


def _error(protocol: Protocol, mode: Mode) -> tuple[HTTPStatus, object, dict[str, str]]:
    status = {
        "rate-limit": HTTPStatus.TOO_MANY_REQUESTS,
        "rate-limit-bare": HTTPStatus.TOO_MANY_REQUESTS,
        "quota": HTTPStatus.TOO_MANY_REQUESTS,
        "unauthorized": HTTPStatus.UNAUTHORIZED,
        "server-error": HTTPStatus.INTERNAL_SERVER_ERROR,
    }[mode]
    headers = {"Retry-After": "30"} if mode == "rate-limit" else {}
    if protocol == "anthropic":
        kind, message = {
            "rate-limit": ("rate_limit_error", "Number of requests has exceeded your rate limit"),
            "rate-limit-bare": (
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            ),
            "quota": ("rate_limit_error", "You have reached your specified API usage limits"),
            "unauthorized": ("authentication_error", "invalid x-api-key"),
            "server-error": ("api_error", "Internal server error"),
        }[mode]
        return status, {"type": "error", "error": {"type": kind, "message": message}}, headers
    if protocol == "gemini":
        state, message = {
            "rate-limit": ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
            "rate-limit-bare": ("RESOURCE_EXHAUSTED", "Resource has been exhausted."),
            "quota": (
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
            ),
            "unauthorized": ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
            "server-error": ("INTERNAL", "An internal error has occurred."),
        }[mode]
        error = {"code": int(status), "message": message, "status": state}
        return status, {"error": error}, headers
    kind, code, message = {
        "rate-limit": ("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
        "rate-limit-bare": ("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
        "quota": (
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        "unauthorized": ("invalid_request_error", "invalid_api_key", "Incorrect API key provided"),
        "server-error": ("server_error", None, "The server had an error processing your request"),
    }[mode]
    error = {"message": message, "type": kind, "param": None, "code": code}
    return status, {"error": error}, headers


# -- answers ---------------------------------------------------------------------


def _sse(data: object, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def _reply(protocol: Protocol, answer: str, request: dict[str, Any]) -> object:
    model = _SERVED.get()
    if protocol == "openai-chat":
        return {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": _openai_usage(request),
        }
    if protocol == "openai-responses":
        return _response_object(model, answer, "completed", request)
    if protocol == "anthropic":
        return {
            "id": "msg_mock",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens(request), "output_tokens": USAGE["output"]},
        }
    return _gemini_chunk(answer, request)


def _stream(protocol: Protocol, answer: str, request: dict[str, Any]) -> Iterator[str]:
    model = _SERVED.get()
    if protocol == "openai-chat":
        yield from _chat_stream(model, answer, request)
    elif protocol == "openai-responses":
        yield from _responses_stream(model, answer, request)
    elif protocol == "anthropic":
        yield from _anthropic_stream(model, answer, request)
    else:
        yield _sse(_gemini_chunk(answer, request))


def input_tokens(request: dict[str, Any]) -> int:
    """The "input tokens" a mock reports: the characters of the last prompt text it
    finds (so that tests can tell whose answer a count came from), else 11; with
    ``whole_request_tokens``, an estimate of everything sent (see there)."""
    if _WHOLE_REQUEST.get():
        return whole_request_tokens(request)
    texts: list[str] = []
    stack: list[Any] = [request.get("messages") or request.get("contents") or request.get("input")]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, list) and item:
            stack.append(item[-1])
        elif isinstance(item, dict):
            stack.extend(item.get(key) for key in ("content", "parts", "text") if key in item)
    return len(texts[0]) if texts else USAGE["input"]


#: The model a request's answer names, set in its handler thread.
_SERVED: contextvars.ContextVar[str] = contextvars.ContextVar("served", default="mock-model")
#: Set in a request's handler thread when its mock counts whole requests.
_WHOLE_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("whole", default=False)


def whole_request_tokens(request: dict[str, Any]) -> int:
    """What a provider would bill as input: the whole request (system prompt, tools and
    every message of the conversation so far), at about 4 characters a token."""
    return max(1, len(json.dumps(request)) // 4)


def _openai_usage(request: dict[str, Any]) -> dict[str, int]:
    prompt = input_tokens(request)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": USAGE["output"],
        "total_tokens": prompt + USAGE["output"],
    }


def _chat_stream(model: str, answer: str, request: dict[str, Any]) -> Iterator[str]:
    ident, created = "chatcmpl-mock", CREATED

    def chunk(delta: dict[str, str], finish: str | None, **extra: object) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
            **extra,
        }
        return _sse(body)

    yield chunk({"role": "assistant", "content": answer}, None)
    yield chunk({}, "stop", usage=_openai_usage(request))
    yield "data: [DONE]\n\n"


def _response_object(
    model: str, answer: str, status: str, request: dict[str, Any]
) -> dict[str, Any]:
    prompt = input_tokens(request)
    message = {
        "id": "msg_mock",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": answer, "annotations": []}],
    }
    return {
        "id": "resp_mock",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": model,
        "output": [message] if status == "completed" else [],
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": USAGE["output"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + USAGE["output"],
        },
    }


def _responses_stream(model: str, answer: str, request: dict[str, Any]) -> Iterator[str]:
    created = _response_object(model, answer, "in_progress", request)
    done = _response_object(model, answer, "completed", request)
    item = done["output"][0]
    started = {**item, "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": created}),
        ("response.in_progress", {"response": created}),
        ("response.output_item.added", {"output_index": 0, "item": started}),
        (
            "response.content_part.added",
            {"item_id": item["id"], "output_index": 0, "content_index": 0, "part": part},
        ),
        (
            "response.output_text.delta",
            {"item_id": item["id"], "output_index": 0, "content_index": 0, "delta": answer},
        ),
        (
            "response.output_text.done",
            {"item_id": item["id"], "output_index": 0, "content_index": 0, "text": answer},
        ),
        (
            "response.content_part.done",
            {
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "part": {**part, "text": answer},
            },
        ),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": done}),
    ]
    for number, (kind, data) in enumerate(events):
        yield _sse({"type": kind, "sequence_number": number, **data}, kind)


def _anthropic_message(ident: str, model: str, request: dict[str, Any]) -> dict[str, Any]:
    """A streamed Messages answer's ``message_start`` message."""
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens(request), "output_tokens": 1},
    }


def _anthropic_stream(model: str, answer: str, request: dict[str, Any]) -> Iterator[str]:
    message = _anthropic_message("msg_mock", model, request)
    yield _sse({"type": "message_start", "message": message}, "message_start")
    block = {"type": "text", "text": ""}
    start = {"type": "content_block_start", "index": 0, "content_block": block}
    yield _sse(start, "content_block_start")
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": answer},
    }
    yield _sse(delta, "content_block_delta")
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": USAGE["output"]},
    }
    yield _sse(end, "message_delta")
    yield _sse({"type": "message_stop"}, "message_stop")


def _gemini_chunk(answer: str, request: dict[str, Any]) -> dict[str, Any]:
    prompt = input_tokens(request)
    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": answer}], "role": "model"},
        "index": 0,
        "finishReason": "STOP",
    }
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": USAGE["output"],
            "totalTokenCount": prompt + USAGE["output"],
        },
        "modelVersion": _SERVED.get(),
    }


#: Tools that change nothing, best first: the "tool" mode calls the first one declared.
HARMLESS_TOOLS = (
    "list_directory",
    "LS",
    "Glob",
    "glob",
    "read_file",
    "Read",
    "shell",
    "exec_command",
)
#: What a tool call lists (a path the tool reads, or a command it runs).
TOOL_TARGET = "."


def declared_tools(protocol: Protocol, request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: JSON schema of its arguments}`` for each function the request declares."""
    found: dict[str, dict[str, Any]] = {}
    for tool in request.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        if protocol == "gemini":
            for declaration in tool.get("functionDeclarations") or []:
                schema = declaration.get("parametersJsonSchema") or declaration.get("parameters")
                found[declaration.get("name", "")] = schema or {}
        elif protocol == "anthropic":
            found[tool.get("name", "")] = tool.get("input_schema") or {}
        elif protocol == "openai-chat":
            function = tool.get("function") or {}
            found[function.get("name", "")] = function.get("parameters") or {}
        elif tool.get("type") == "function":
            found[tool.get("name", "")] = tool.get("parameters") or {}
    return found


def harmless_call(
    protocol: Protocol, request: dict[str, Any], number: int = 0
) -> tuple[str, dict[str, Any]]:
    """The first harmless tool declared, with its required arguments filled in; the
    ``number``-th call names the same place differently (``./.``), as an agent that
    works does, so that a CLI's loop detection does not stop it (gemini stops at the
    fifth identical call)."""
    target = TOOL_TARGET + "/." * number
    tools = declared_tools(protocol, request)
    name = next((tool for tool in HARMLESS_TOOLS if tool in tools), None)
    if name is None:
        raise LookupError(f"no harmless tool among {sorted(tools)}")
    schema = tools[name]
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for key in schema.get("required") or []:
        kind = str((properties.get(key) or {}).get("type", "string")).lower()
        if kind == "array":
            arguments[key] = ["ls", target]
        elif "command" in key or key == "cmd":
            arguments[key] = f"ls {target}"
        elif "pattern" in key:
            arguments[key] = f"{target}/*"
        else:
            arguments[key] = target
    return name, arguments


def _tool_call(protocol: Protocol, request: dict[str, Any], number: int) -> Iterator[str]:
    name, arguments = harmless_call(protocol, request, number)
    text = json.dumps(arguments)
    model = _SERVED.get()
    if protocol == "openai-chat":
        call = {"index": 0, "id": "call_mock", "type": "function"}
        call["function"] = {"name": name, "arguments": text}
        for delta, finish in (
            ({"role": "assistant", "tool_calls": [call]}, None),
            ({}, "tool_calls"),
        ):
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            chunk = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": CREATED}
            extra = {"usage": _openai_usage(request)} if finish else {}
            yield _sse({**chunk, "model": model, "choices": [choice], **extra})
        yield "data: [DONE]\n\n"
    elif protocol == "anthropic":
        message = _anthropic_message("msg_mock_tool", model, request)
        block = {"type": "tool_use", "id": "toolu_mock", "name": name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": text}
        end = {"stop_reason": "tool_use", "stop_sequence": None}
        for kind, data in (
            ("message_start", {"message": message}),
            ("content_block_start", {"index": 0, "content_block": block}),
            ("content_block_delta", {"index": 0, "delta": delta}),
            ("content_block_stop", {"index": 0}),
            ("message_delta", {"delta": end, "usage": {"output_tokens": USAGE["output"]}}),
            ("message_stop", {}),
        ):
            yield _sse({"type": kind, **data}, kind)
    elif protocol == "gemini":
        reply = _gemini_chunk("", request)
        reply["candidates"][0]["content"]["parts"] = [
            {"functionCall": {"name": name, "args": arguments}}
        ]
        yield _sse(reply)
    else:
        item = {
            "id": "fc_mock",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_mock",
            "name": name,
            "arguments": text,
        }
        created = _response_object(model, "", "in_progress", request)
        done = {**_response_object(model, "", "completed", request), "output": [item]}
        events: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"response": created}),
            ("response.output_item.added", {"output_index": 0, "item": {**item, "arguments": ""}}),
            (
                "response.function_call_arguments.delta",
                {"item_id": "fc_mock", "output_index": 0, "delta": text},
            ),
            (
                "response.function_call_arguments.done",
                {"item_id": "fc_mock", "output_index": 0, "arguments": text},
            ),
            ("response.output_item.done", {"output_index": 0, "item": item}),
            ("response.completed", {"response": done}),
        ]
        for number, (kind, data) in enumerate(events):
            yield _sse({"type": kind, "sequence_number": number, **data}, kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--mode", choices=MODES, default="answer")
    parser.add_argument("--answer", default="mock answer")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    arguments = parser.parse_args()
    api = MockApi(arguments.protocol, arguments.mode, arguments.answer, arguments.port)
    with api:
        print(f"{arguments.protocol} mock ({arguments.mode}) on {api.origin}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
