"""The sentinel: forwarding byte for byte, limits and usage seen per attempt, strangers refused."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from orchestrator import (
    AttemptOutcome,
    ConfigValueError,
    Job,
    Orchestrator,
    TokenUsage,
    load_config,
)
from orchestrator._sentinel import Sentinel

from .conftest import WriteConfig
from .e2e.mock_api import MockApi, Protocol
from .fakes.config_text import backend, http_provider

pytestmark = pytest.mark.anyio

PATHS: dict[Protocol, str] = {
    "openai-chat": "/chat/completions",
    "openai-responses": "/responses",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/m:streamGenerateContent?alt=sse",
}


def chat(prompt: str) -> dict[str, object]:
    return {"model": "m", "stream": True, "messages": [{"role": "user", "content": prompt}]}


@pytest.fixture
async def sentinel() -> AsyncIterator[Sentinel]:
    async with Sentinel() as running:
        yield running


async def test_answers_pass_byte_for_byte(sentinel: Sentinel) -> None:
    with MockApi("openai-chat", "answer", "a streamed answer") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            direct = await client.post(f"{api.origin}/chat/completions", json=chat("hi"))
            proxied = await client.post(f"{ticket.url}/chat/completions", json=chat("hi"))
    assert proxied.status_code == direct.status_code == 200
    assert proxied.headers["content-type"] == "text/event-stream"
    assert proxied.content == direct.content
    assert ticket.reported is None
    assert ticket.requests == 1
    assert ticket.usage == TokenUsage(input_tokens=2, output_tokens=7, total_tokens=9)


async def test_a_stream_reaches_the_client_before_it_ends(sentinel: Sentinel) -> None:
    """Chunks are relayed as they come: the first arrives while the upstream still writes."""

    with MockApi("anthropic", "answer", "x" * 200_000) as api:
        async with (
            httpx.AsyncClient() as client,
            sentinel.ticket(api.origin) as ticket,
            client.stream("POST", f"{ticket.url}/v1/messages", json=chat("hi")) as response,
        ):
            chunks = [chunk async for chunk in response.aiter_raw()]
    assert response.status_code == 200
    assert len(chunks) > 1
    assert b"x" * 1000 in b"".join(chunks)


async def test_a_429_is_a_limit_with_its_retry_after(sentinel: Sentinel) -> None:
    with MockApi("openai-chat", "rate-limit") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            response = await client.post(f"{ticket.url}/chat/completions", json=chat("hi"))
            with anyio.fail_after(5):
                verdict = await ticket.verdict()
    assert response.status_code == 429  # the CLI sees what the provider said
    assert response.headers["retry-after"] == "30"
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT
    assert verdict.retry_after == 30
    assert "HTTP 429" in verdict.message


@pytest.mark.parametrize("protocol", list(PATHS))
async def test_quota_errors_in_each_protocols_shape_are_limits(
    sentinel: Sentinel, protocol: Protocol
) -> None:
    with MockApi(protocol, "quota") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            await client.post(f"{ticket.url}{PATHS[protocol]}", json=chat("hi"))
    assert ticket.reported is not None
    assert ticket.reported.outcome is AttemptOutcome.USAGE_LIMIT


async def test_a_401_is_an_auth_error_and_a_500_is_nothing(sentinel: Sentinel) -> None:
    with MockApi("anthropic", "unauthorized") as bad, MockApi("anthropic", "server-error") as down:
        async with httpx.AsyncClient() as client:
            async with sentinel.ticket(bad.origin) as rejected:
                await client.post(f"{rejected.url}/v1/messages", json=chat("hi"))
            async with sentinel.ticket(down.origin) as failing:
                response = await client.post(f"{failing.url}/v1/messages", json=chat("hi"))
    assert rejected.reported is not None
    assert rejected.reported.outcome is AttemptOutcome.AUTH_ERROR
    assert response.status_code == 500
    assert failing.reported is None  # the CLI's own retry of a 500 is fine


@pytest.mark.parametrize("protocol", list(PATHS))
async def test_usage_is_read_from_each_protocols_answers(
    sentinel: Sentinel, protocol: Protocol
) -> None:
    with MockApi(protocol, "answer") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            for prompt in ("four", "seven!!"):
                await client.post(f"{ticket.url}{PATHS[protocol]}", json=chat(prompt))
    assert ticket.usage == TokenUsage(input_tokens=11, output_tokens=14, total_tokens=25)


async def test_an_unknown_token_is_refused_and_nothing_is_forwarded(sentinel: Sentinel) -> None:
    with MockApi("openai-chat", "answer") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            stranger = ticket.url.replace(ticket.token, "not-a-token")
            refused = await client.post(f"{stranger}/chat/completions", json=chat("hi"))
            no_token = await client.get(f"http://127.0.0.1:{sentinel.port}/chat/completions")
        after = await _post_after_close(ticket.url)
    assert (refused.status_code, no_token.status_code, after) == (403, 403, 403)
    assert api.requests == []


async def _post_after_close(url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.post(f"{url}/chat/completions", json=chat("late"))).status_code


async def test_fifty_concurrent_attempts_are_each_attributed(sentinel: Sentinel) -> None:
    tickets = {}
    with (
        MockApi("openai-chat", "rate-limit-bare") as limited,
        MockApi("openai-chat", "answer") as answering,
    ):
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:

            async def attempt(number: int) -> None:
                upstream = limited if number % 2 else answering
                async with sentinel.ticket(upstream.origin) as ticket:
                    prompt = "p" * (number + 1)
                    await client.post(f"{ticket.url}/chat/completions", json=chat(prompt))
                    tickets[number] = ticket

            async with anyio.create_task_group() as group:
                for number in range(50):
                    group.start_soon(attempt, number)
    for number, ticket in tickets.items():
        if number % 2:
            assert ticket.reported is not None
            assert ticket.reported.outcome is AttemptOutcome.USAGE_LIMIT
            assert ticket.usage is None
        else:
            assert ticket.reported is None
            assert ticket.usage is not None
            assert ticket.usage.input_tokens == number + 1  # its own prompt's count
    assert len(tickets) == 50


# -- through the orchestrator, with a CLI that retries 429s silently -------------------


async def test_the_sentinel_ends_a_silently_retrying_attempt_at_once(
    write_config: WriteConfig,
) -> None:
    with (
        MockApi("openai-chat", "rate-limit-bare") as limited,
        MockApi("openai-chat", "answer", "PONG") as answering,
    ):
        results = {}
        for sentinel_on in (True, False):
            directory = write_config(
                backend("agent", ["limited", "answering"]),
                http_provider("agent", "limited", limited.origin, sentinel=sentinel_on)
                + http_provider("agent", "answering", answering.origin, sentinel=sentinel_on),
            )
            config = load_config(directory, environ={})
            async with Orchestrator(config) as orch:
                started = time.monotonic()
                result = await orch.run(Job(prompt="say ping", idle_timeout=3))
                results[sentinel_on] = (result, time.monotonic() - started)
    (on, on_time), (off, off_time) = results[True], results[False]
    assert (on.status, on.provider, on.output) == ("succeeded", "answering", "PONG")
    first = on.attempts[0]
    assert first.outcome is AttemptOutcome.USAGE_LIMIT
    assert "seen by the sentinel" in first.message
    assert on.usage == TokenUsage(input_tokens=8, output_tokens=7, total_tokens=15)
    assert on_time < 2.5  # not the idle timeout
    assert off.attempts[0].outcome is AttemptOutcome.TIMEOUT  # without it: silence
    assert off_time >= 3


async def test_fifty_jobs_through_one_sentinel_each_get_their_own_usage(
    write_config: WriteConfig,
) -> None:
    with MockApi("openai-chat", "answer", "ok") as api:
        directory = write_config(
            backend("agent", ["mock"]),
            http_provider("agent", "mock", api.origin, sentinel=True),
        )
        config = load_config(directory, environ={})
        async with Orchestrator(config, concurrency=50) as orch:
            handles = [await orch.submit(Job(prompt="q" * (n + 1))) for n in range(50)]
            results = [await handle.result() for handle in handles]
    assert all(result.status == "succeeded" for result in results)
    assert [r.usage.input_tokens if r.usage else None for r in results] == list(range(1, 51))


@pytest.mark.parametrize(
    ("metadata", "key", "message"),
    [
        ('sentinel = "yes"\nOPENAI_BASE_URL = "http://x"\n', "sentinel", "must be true or false"),
        ("sentinel = true\n", "OPENAI_BASE_URL", "needs OPENAI_BASE_URL set"),
        ('sentinel = true\nOPENAI_BASE_URL = "file:///x"\n', "OPENAI_BASE_URL", "API base URL"),
    ],
)
def test_sentinel_settings_are_checked_before_any_job(
    write_config: WriteConfig, metadata: str, key: str, message: str
) -> None:
    directory = write_config('[backends.qwen]\nproviders = ["p"]\n', f"[qwen.p]\n{metadata}")
    with pytest.raises(ConfigValueError) as raised:
        Orchestrator(load_config(directory, environ={}))
    assert (raised.value.table, raised.value.key) == ("qwen.p", key)
    assert message in str(raised.value)
    assert str(Path(directory) / "provider_metadata.toml") in str(raised.value)


def test_a_cli_without_a_base_url_variable_needs_sentinel_env(write_config: WriteConfig) -> None:
    directory = write_config(
        '[backends.codex]\nproviders = ["p"]\n',
        '[codex.p]\nsentinel = true\nOPENAI_BASE_URL = "http://127.0.0.1:1/v1"\n',
    )
    with pytest.raises(ConfigValueError, match="sentinel_env"):
        Orchestrator(load_config(directory, environ={}))


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    from orchestrator._sentinel import _retry_after

    now = 1_700_000_000.0
    assert _retry_after("120", now) == 120
    assert _retry_after("Tue, 14 Nov 2023 22:15:20 GMT", now) == 120
    assert _retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0  # already past
    assert _retry_after("soon", now) is None
    assert _retry_after(None, now) is None


def test_without_httpx_the_sentinel_says_how_to_repair_the_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from orchestrator import UsageError

    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(UsageError, match=r"reinstall it .*sentinel = false"):
        Sentinel()


async def test_little_headroom_sends_the_next_job_to_the_next_provider(
    write_config: WriteConfig,
) -> None:
    """Answers saying 2 of 100 requests remain: the job finishes, the next one starts on b."""
    from orchestrator import ProviderHeadroom

    crowded = {"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "2"}
    with (
        MockApi("openai-chat", "answer", "from a", answer_headers=crowded) as a,
        MockApi("openai-chat", "answer", "from b") as b,
    ):
        directory = write_config(
            backend("agent", ["a", "b"]),
            http_provider("agent", "a", a.origin, sentinel=True)
            + http_provider("agent", "b", b.origin, sentinel=True),
        )
        async with (
            Orchestrator(load_config(directory, environ={})) as orch,
            orch.events() as events,
        ):
            first = await orch.run(Job(prompt="one"))
            second = await orch.run(Job(prompt="two"))
            status = await orch.status()
            readings = [e for e in events.waiting(1000) if isinstance(e, ProviderHeadroom)]
    assert (first.provider, first.output) == ("a", "from a")
    assert (second.provider, second.output) == ("b", "from b")
    assert [a.provider for a in second.attempts] == ["b"]  # no attempt wasted on a
    assert (readings[0].provider, readings[0].near_limit) == ("a", True)
    assert readings[0].utilization == pytest.approx(0.98)
    (agent,) = status.backends
    a_status = agent.providers[0]
    assert a_status.near_limit
    assert a_status.utilization == pytest.approx(0.98)


@pytest.mark.parametrize(
    "escape",
    ["/../../secret", "/v1/../../secret", "/%2e%2e/secret", "/%252e%252e/secret", "/..%5csecret"],
)
async def test_a_path_leaving_the_base_url_is_refused(sentinel: Sentinel, escape: str) -> None:
    """`..` in any spelling would reach the upstream outside the provider's base path: 400."""
    with MockApi("openai-chat", "answer") as api:
        async with sentinel.ticket(f"{api.origin}/v1") as ticket:
            target = f"/t/{ticket.token}{escape}"
            async with await anyio.connect_tcp("127.0.0.1", sentinel.port) as stream:
                await stream.send(
                    f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                )
                reply = b""
                with anyio.fail_after(10):
                    async for chunk in stream:
                        reply += chunk
    assert reply.startswith(b"HTTP/1.1 400"), reply[:100]
    assert api.requests == []
    assert ticket.requests == 0


class HungProvider:
    """A provider that accepts connections, reads the request and never answers."""

    def __init__(self) -> None:
        self.accepted = 0
        self.open = 0
        self.first = anyio.Event()

    async def serve(self, *, task_status: anyio.abc.TaskStatus[str]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener:
            task_status.started(f"http://127.0.0.1:{port}")
            await listener.serve(self._hang)

    async def _hang(self, stream: anyio.abc.SocketStream) -> None:
        self.accepted += 1
        self.open += 1
        self.first.set()
        async with stream:
            try:
                while await stream.receive():
                    pass
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
        self.open -= 1


async def ask(client: httpx.AsyncClient, url: str, answers: list[int]) -> None:
    try:
        answers.append((await client.post(f"{url}/chat/completions", json=chat("hi"))).status_code)
    except httpx.HTTPError:
        answers.append(0)  # cut off: the attempt it belonged to is over


async def test_an_ended_attempt_closes_its_upstream_connections(sentinel: Sentinel) -> None:
    """An attempt ended (idle timeout) while its provider hangs: the sentinel's upstream
    connections close with it, not minutes later."""
    provider = HungProvider()
    answers: list[int] = []
    async with anyio.create_task_group() as group, httpx.AsyncClient(timeout=60) as client:
        origin = await group.start(provider.serve)
        async with sentinel.ticket(origin) as ticket:
            for _ in range(3):
                group.start_soon(ask, client, ticket.url, answers)
            with anyio.fail_after(10):
                while provider.accepted < 3:  # noqa: ASYNC110 - counting connections
                    await anyio.sleep(0.01)
        with anyio.fail_after(10):
            while provider.open or len(answers) < 3:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    assert answers == [0, 0, 0]


async def test_a_provider_silent_past_the_read_timeout_is_a_504() -> None:
    provider = HungProvider()
    answers: list[int] = []
    async with (
        Sentinel(read_timeout=0.3) as sentinel,
        anyio.create_task_group() as group,
        httpx.AsyncClient(timeout=60) as client,
    ):
        origin = await group.start(provider.serve)
        async with sentinel.ticket(origin) as ticket:
            with anyio.fail_after(10):
                await ask(client, ticket.url, answers)
        group.cancel_scope.cancel()
    assert answers == [504]
    assert provider.open == 0


async def test_a_request_body_past_the_limit_is_refused(
    sentinel: Sentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orchestrator._sentinel.REQUEST_BODY_LIMIT", 1000)
    with MockApi("openai-chat", "answer", "ok") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            small = await client.post(f"{ticket.url}/chat/completions", json=chat("hi"))
            large = await client.post(f"{ticket.url}/chat/completions", json=chat("x" * 5000))
    assert (small.status_code, large.status_code) == (200, 413)
    assert ticket.requests == 1  # the large one never left


@pytest.mark.parametrize(
    ("protocol", "header"),
    [("openai-chat", "authorization"), ("anthropic", "x-api-key"), ("gemini", "x-goog-api-key")],
)
async def test_the_keyholder_puts_the_real_key_upstream_only(
    sentinel: Sentinel, protocol: Protocol, header: str
) -> None:
    """The child holds a placeholder; the provider gets the real key, in the protocol's
    own header; the child's other variables holding the key get the placeholder too."""
    with MockApi(protocol, "answer") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            environment = {"THE_KEY": "sk-real-0123", "COPY": "sk-real-0123", "OTHER": "x"}
            assert ticket.hold(environment, ("THE_KEY", "ABSENT")) == ["THE_KEY", "COPY"]
            placeholder = environment["THE_KEY"]
            assert "sk-real" not in placeholder
            assert environment == {"THE_KEY": placeholder, "COPY": placeholder, "OTHER": "x"}
            value = f"Bearer {placeholder}" if header == "authorization" else placeholder
            response = await client.post(
                f"{ticket.url}{PATHS[protocol]}", json=chat("hi"), headers={header: value}
            )
            assert response.status_code == 200
            query = await client.post(
                f"{ticket.url}/v1beta/models/m:generateContent?key={placeholder}", json=chat("hi")
            )
            assert query.status_code == 200
    assert api.credentials == ["sk-real-0123", "sk-real-0123"]


@pytest.mark.parametrize("protocol", ["openai-chat", "openai-responses", "anthropic", "gemini"])
async def test_the_model_each_protocols_answer_names_is_seen(
    sentinel: Sentinel, protocol: Protocol
) -> None:
    with MockApi(protocol, "answer", served_model="served-model-7") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            body = {**chat("hi"), "input": "hi"} if protocol == "openai-responses" else chat("hi")
            response = await client.post(f"{ticket.url}{PATHS[protocol]}", json=body)
            assert response.status_code == 200
    assert ticket.served_models == ("served-model-7",)


@pytest.mark.parametrize("policy", ["warn", "fail"])
async def test_a_provider_serving_another_model_is_reported_or_left(
    write_config: WriteConfig, policy: str
) -> None:
    """Asked for qwen3-coder-plus, served a flash model: recorded on the attempt and the
    event (warn), or the attempt fails and the job moves on to the next provider (fail)."""
    from orchestrator import AttemptFinished

    with (
        MockApi("openai-chat", "answer", "from a", served_model="qwen3-coder-flash") as a,
        MockApi("openai-chat", "answer", "from b", served_model="qwen3-coder-plus") as b,
    ):
        directory = write_config(
            backend("agent", ["a", "b"], model='"qwen3-coder-plus"')
            + f'on_model_mismatch = "{policy}"\n',
            http_provider("agent", "a", a.origin, sentinel=True)
            + http_provider("agent", "b", b.origin, sentinel=True),
        )
        async with (
            Orchestrator(load_config(directory, environ={})) as orch,
            orch.events() as events,
        ):
            result = await orch.run(Job(prompt="one"))
            finished = [e for e in events.waiting(1000) if isinstance(e, AttemptFinished)]
    first = result.attempts[0]
    assert first.served_model == "qwen3-coder-flash"
    assert finished[0].served_model == "qwen3-coder-flash"
    assert "served model 'qwen3-coder-flash', not 'qwen3-coder-plus'" in first.message
    if policy == "warn":
        assert (result.status, result.provider, result.output) == ("succeeded", "a", "from a")
    else:
        assert first.outcome is AttemptOutcome.FAILURE
        assert (result.provider, result.output) == ("b", "from b")
        assert result.attempts[1].served_model == "qwen3-coder-plus"


async def test_a_limited_key_is_replaced_by_the_pools_next_inside_the_request(
    write_config: WriteConfig,
) -> None:
    """Two providers differing only in their key form a pool: the first key's 429 never
    reaches the CLI; the same request goes again with the second key; one attempt, one
    process; the first key cools down; a rotation event names both."""
    from orchestrator import ProviderCooledDown, ProviderRotated

    with MockApi("openai-chat", "answer", "pooled", limited_keys={"sk-test-a"}) as api:
        directory = write_config(
            backend("agent", ["a", "b", "c"]),
            http_provider("agent", "a", api.origin, sentinel=True)
            + http_provider("agent", "b", api.origin, sentinel=True)
            + http_provider("agent", "c", "http://127.0.0.1:9/v1", sentinel=True),
        )
        async with (
            Orchestrator(load_config(directory, environ={})) as orch,
            orch.events() as events,
        ):
            result = await orch.run(Job(prompt="one"))
            status = await orch.status()
            seen = events.waiting(1000)
    assert (result.status, result.output) == ("succeeded", "pooled")
    (attempt,) = result.attempts
    assert (attempt.provider, attempt.outcome) == ("b", AttemptOutcome.SUCCESS)
    assert "key pool: a -> b" in attempt.message
    assert api.credentials == ["sk-test-a", "sk-test-b"]
    rotations = [e for e in seen if isinstance(e, ProviderRotated)]
    assert [(r.from_provider, r.provider) for r in rotations] == [("a", "b")]
    assert "key of the pool" in rotations[0].reason
    assert [e.provider for e in seen if isinstance(e, ProviderCooledDown)] == ["a"]
    a_status = status.backends[0].providers[0]
    assert (a_status.name, a_status.cooldown_left is not None) == ("a", True)


async def test_a_pool_with_every_key_limited_ends_the_attempt_as_before(
    write_config: WriteConfig,
) -> None:
    with (
        MockApi("openai-chat", "answer", limited_keys={"sk-test-a", "sk-test-b"}) as api,
        MockApi("openai-chat", "answer", "elsewhere") as other,
    ):
        directory = write_config(
            backend("agent", ["a", "b", "c"]),
            http_provider("agent", "a", api.origin, sentinel=True)
            + http_provider("agent", "b", api.origin, sentinel=True)
            + http_provider("agent", "c", other.origin, sentinel=True),
        )
        async with Orchestrator(load_config(directory, environ={})) as orch:
            result = await orch.run(Job(prompt="one"))
    assert (result.provider, result.output) == ("c", "elsewhere")
    first = result.attempts[0]
    assert (first.provider, first.outcome) == ("b", AttemptOutcome.USAGE_LIMIT)
    assert api.credentials == ["sk-test-a", "sk-test-b"]  # each key tried once


async def test_an_answer_cut_mid_stream_is_not_sent_again_with_the_next_key(
    sentinel: Sentinel,
) -> None:
    """Only what has not reached the CLI may go again: a 200 cut off mid-answer ends the
    request as before, even with a key pool ready."""

    async def never(limited: str, chosen: str, verdict: object) -> None:
        raise AssertionError("no switch after the answer started")

    with MockApi("openai-chat", "cut") as api:
        async with httpx.AsyncClient() as client, sentinel.ticket(api.origin) as ticket:
            environment = {"OPENAI_API_KEY": "sk-first"}
            ticket.hold(environment, ("OPENAI_API_KEY",))
            ticket.pool("a", [("b", {"OPENAI_API_KEY": "sk-second"})], never)
            headers = {"authorization": f"Bearer {environment['OPENAI_API_KEY']}"}
            with pytest.raises(httpx.HTTPError):
                await client.post(
                    f"{ticket.url}/chat/completions", json=chat("hi"), headers=headers
                )
    assert api.credentials == ["sk-first"]
    assert ticket.switches == []
