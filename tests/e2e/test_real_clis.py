"""qwen, claude, gemini and codex, the real binaries, failing over between mock providers.

The config (examples/mock-apis) is written the way the spec writes providers:
no ``sentinel`` key, no timeouts. qwen, claude and gemini providers set their
CLI's base-URL variable, so the sentinel sees each 429 on the wire by
default (qwen would otherwise retry in silence for minutes); codex, told not
to retry (``request_max_retries=0`` in its ``-c`` provider), exits with the
429 at once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from orchestrator import (
    AttemptOutcome,
    BackendFellBack,
    Event,
    Job,
    JobResult,
    Orchestrator,
    ProviderRotated,
    load_config,
)

from .conftest import CLIS, CONFIG_DIR, PROTOCOL, StartMock, cli_environment
from .mock_api import MockApi

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

#: Seconds without output that end an attempt of a CLI that retries silently.
IDLE = 8.0
#: A spec-written config fails over within this (the issue's bar: 10 s). A CLI's
#: cold start is 1-4 s on these 2 cores, and a failover starts two of them.
FAILOVER_SECONDS = 10.0


def mock_urls(**mocks: MockApi) -> dict[str, str]:
    """``qwen_limited=api`` -> ``{"MOCK_QWEN_LIMITED": "http://127.0.0.1:PORT"}``."""
    return {f"MOCK_{name.upper()}": api.origin for name, api in mocks.items()}


async def run_job(
    environment: dict[str, str], job: Job, config_dir: Path = CONFIG_DIR
) -> tuple[JobResult, list[Event], float]:
    """The job through an orchestrator on a config (examples/mock-apis); events, duration."""
    config = load_config(config_dir, environ=environment)
    async with (
        Orchestrator(config, base_environment=environment, concurrency=1) as orch,
        orch.events() as events,
    ):
        started = time.monotonic()
        result = await orch.run(job)
        elapsed = time.monotonic() - started
        return result, events.waiting(10_000), elapsed


@pytest.mark.parametrize("backend", CLIS)
async def test_a_limited_provider_hands_the_job_to_the_next(
    backend: str, cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    limited = start_mock(PROTOCOL[backend], "rate-limit-bare")
    answering = start_mock(PROTOCOL[backend], "answer", f"PONG from {backend} provider 2")
    urls = mock_urls(**{f"{backend}_limited": limited, f"{backend}_answering": answering})
    environment = cli_environment(tmp_path / "home", urls)

    job = Job(prompt="say ping", backend=backend)  # no timeouts: the defaults must do
    with anyio.fail_after(120):
        result, events, elapsed = await run_job(environment, job)

    assert result.status == "succeeded", result.model_dump_json(indent=2)
    assert (result.backend, result.provider) == (backend, "answering"), result.model_dump_json(
        indent=2
    )
    assert result.output == f"PONG from {backend} provider 2"
    first, second = result.attempts
    assert (first.provider, first.outcome) == ("limited", AttemptOutcome.USAGE_LIMIT), first
    assert (second.provider, second.outcome) == ("answering", AttemptOutcome.SUCCESS)
    rotations = [event for event in events if isinstance(event, ProviderRotated)]
    assert [(r.backend, r.from_provider, r.provider) for r in rotations] == [
        (backend, "limited", "answering")
    ]
    assert limited.model_requests >= 1
    assert answering.model_requests >= 1
    # Far under the CLIs' own retrying (claude: 10 retries over minutes; qwen: 6+ min).
    assert elapsed < FAILOVER_SECONDS * 2, elapsed  # doubled: a loaded machine still passes


async def test_a_backend_limited_everywhere_falls_back_to_the_next_backend(
    cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    qwen_limited = start_mock("openai-chat", "quota")
    qwen_answering = start_mock("openai-chat", "quota")
    claude_limited = start_mock("anthropic", "rate-limit")
    claude_answering = start_mock("anthropic", "answer", "PONG from claude")
    urls = mock_urls(
        qwen_limited=qwen_limited,
        qwen_answering=qwen_answering,
        claude_limited=claude_limited,
        claude_answering=claude_answering,
    )
    environment = cli_environment(tmp_path / "home", urls)

    job = Job(prompt="say ping", backend="qwen", idle_timeout=IDLE, timeout=150)
    result, events, _ = await run_job(environment, job)

    assert result.status == "succeeded", result.model_dump_json(indent=2)
    assert (result.backend, result.output) == ("claude", "PONG from claude")
    tried = [(attempt.backend, attempt.provider) for attempt in result.attempts]
    assert tried == [
        ("qwen", "limited"),
        ("qwen", "answering"),
        ("claude", "limited"),
        ("claude", "answering"),
    ]
    fallbacks = [event for event in events if isinstance(event, BackendFellBack)]
    assert [(f.from_backend, f.backend) for f in fallbacks] == [("qwen", "claude")]
    assert qwen_limited.model_requests >= 1
    assert qwen_answering.model_requests >= 1


@pytest.mark.parametrize("backend", ["claude", "codex"])
async def test_a_rejected_key_is_an_auth_error(
    backend: str, cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    rejecting = start_mock(PROTOCOL[backend], "unauthorized")
    answering = start_mock(PROTOCOL[backend], "answer", "PONG")
    urls = mock_urls(**{f"{backend}_limited": rejecting, f"{backend}_answering": answering})
    environment = cli_environment(tmp_path / "home", urls)

    job = Job(prompt="say ping", backend=backend, idle_timeout=IDLE, timeout=150)
    result, _, elapsed = await run_job(environment, job)

    assert result.status == "succeeded", result.model_dump_json(indent=2)
    assert result.attempts[0].outcome is AttemptOutcome.AUTH_ERROR, result.attempts[0]
    assert result.provider == "answering"
    assert elapsed < 40, elapsed  # claude would retry the 401 for minutes


async def test_a_server_that_never_answers_is_ended_by_the_idle_timeout(
    cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    hanging = start_mock("anthropic", "hang")
    answering = start_mock("anthropic", "answer", "PONG")
    home = tmp_path / "home"
    environment = cli_environment(
        home, mock_urls(claude_limited=hanging, claude_answering=answering)
    )

    job = Job(prompt="say ping", backend="claude", idle_timeout=5, timeout=150)
    result, _, _ = await run_job(environment, job)

    assert result.status == "succeeded", result.model_dump_json(indent=2)
    first = result.attempts[0]
    assert (first.provider, first.outcome) == ("limited", AttemptOutcome.TIMEOUT), first
    assert "idle" in first.message
    assert hanging.model_requests >= 1
    assert processes_with_home(home) == []  # the hanging claude's whole group is gone


def processes_with_home(home: Path) -> list[int]:
    """Pids of live processes whose environment has HOME=home (the CLIs and children)."""
    needle = f"HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found
