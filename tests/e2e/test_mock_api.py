"""The mock APIs themselves (no CLI needed): status codes, error shapes, streams, counts."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from .mock_api import MockApi, Mode, Protocol

PATHS: dict[Protocol, str] = {
    "openai-chat": "/v1/chat/completions",
    "openai-responses": "/v1/responses",
    "anthropic": "/v1/messages?beta=true",
    "gemini": "/v1beta/models/m:streamGenerateContent?alt=sse",
}
LIMIT_TEXT: dict[Protocol, str] = {
    "openai-chat": "insufficient_quota",
    "openai-responses": "insufficient_quota",
    "anthropic": "rate_limit_error",
    "gemini": "RESOURCE_EXHAUSTED",
}


def post(
    api: MockApi, path: str, body: object, timeout: float = 10
) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=timeout)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


@pytest.mark.parametrize("protocol", list(PATHS))
def test_answers_streamed_in_the_protocols_own_events(protocol: Protocol) -> None:
    with MockApi(protocol, "answer", "hello there") as api:
        status, headers, text = post(api, PATHS[protocol], {"model": "m", "stream": True})
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream"
    payloads = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    assert "hello there" in json.dumps(payloads)
    if protocol == "openai-chat":
        assert text.rstrip().endswith("data: [DONE]")
    if protocol == "anthropic":
        assert [p["type"] for p in payloads][::5] == ["message_start", "message_stop"]
    if protocol == "openai-responses":
        assert payloads[-1]["type"] == "response.completed"
    assert api.model_requests == 1


@pytest.mark.parametrize("protocol", ["openai-chat", "anthropic"])
def test_answers_whole_when_not_streaming(protocol: Protocol) -> None:
    with MockApi(protocol, "answer", "whole") as api:
        status, _, text = post(api, PATHS[protocol], {"model": "m"})
    assert status == 200
    assert "whole" in text


@pytest.mark.parametrize("protocol", list(PATHS))
@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("rate-limit", 429),
        ("rate-limit-bare", 429),
        ("quota", 429),
        ("unauthorized", 401),
        ("server-error", 500),
    ],
)
def test_errors_in_each_protocols_shape(protocol: Protocol, mode: Mode, status: int) -> None:
    with MockApi(protocol, mode) as api:
        got, headers, text = post(api, PATHS[protocol], {"stream": True})
    assert got == status
    assert ("Retry-After" in headers) is (mode == "rate-limit")
    body = json.loads(text)
    assert "error" in body
    if mode == "quota":
        assert LIMIT_TEXT[protocol] in text


def test_hang_holds_the_request_until_stopped_and_counts_it() -> None:
    api = MockApi("anthropic", "hang")
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            post(api, PATHS["anthropic"], {"stream": True}, timeout=30)
        except (OSError, http.client.HTTPException) as exc:
            outcome.append(exc)

    with api:
        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 10
        while api.model_requests == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        assert caller.is_alive()  # no answer yet
    caller.join(10)
    assert not caller.is_alive()  # released, unanswered, when the mock stopped
    assert len(outcome) == 1
    assert api.model_requests == 1


def test_side_requests_are_answered_and_not_counted_as_model_calls() -> None:
    with MockApi("anthropic", "rate-limit") as api:
        status, _, text = post(api, "/v1/messages/count_tokens", {})
    assert (status, json.loads(text)) == (200, {"input_tokens": 11})
    assert api.requests == ["/v1/messages/count_tokens"]
    assert api.model_requests == 0
