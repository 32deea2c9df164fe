"""Subscription limits with the real CLIs: the job moves on, the account cools until its reset.

A subscription login has no base URL of ours, so no sentinel: the CLI's own
signals must do. The mocks answer as the providers do for a spent plan
(``plan-limit`` in mock_api): claude 2.1.197 with a subscription token prints
a ``rate_limit_event`` (rejected, ``resetsAt``) and ``You've hit your session
limit · resets …``, exit 1; codex 0.169.0 prints ``You\u2019ve hit your usage
limit. … try again at 5:03 AM.`` (a curly apostrophe) in local time.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from orchestrator import Job, Orchestrator, ProviderCooledDown, load_config

from .conftest import PROTOCOL, StartMock, cli_environment
from .mock_api import MockApi

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

LLM_CONFIG = """
[backends.claude]
model = "claude-sonnet-4-5"
providers = ["subscription", "answering"]

[backends.codex]
model = "gpt-5-codex"
providers = ["plan", "answering"]

[message_backend]
default = "claude"
order = ["claude", "codex"]
"""
# The subscription's mock stands where api.anthropic.com would; sentinel = false
# keeps it a subscription as users have it (nothing of ours on the wire).
PROVIDER_METADATA = """
[claude.subscription]
CLAUDE_CODE_OAUTH_TOKEN = "sk-ant-oat01-mock"
ANTHROPIC_BASE_URL = "${MOCK_SUBSCRIPTION}"
sentinel = false

[claude.answering]
ANTHROPIC_API_KEY = "sk-ant-mock-answering"
ANTHROPIC_BASE_URL = "${MOCK_CLAUDE_ANSWERING}"

[codex.plan]
command = "codex"
args = ["-c", 'model_provider="mock"', "-c", 'model_providers.mock={name="mock", base_url="${MOCK_PLAN}/v1", env_key="OPENAI_API_KEY", wire_api="responses", request_max_retries=0, stream_max_retries=0}']
OPENAI_API_KEY = "sk-mock-plan"

[codex.answering]
command = "codex"
args = ["-c", 'model_provider="mock"', "-c", 'model_providers.mock={name="mock", base_url="${MOCK_CODEX_ANSWERING}/v1", env_key="OPENAI_API_KEY", wire_api="responses", request_max_retries=0, stream_max_retries=0}']
OPENAI_API_KEY = "sk-mock-answering"
"""  # noqa: E501


def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "llm_config.toml").write_text(LLM_CONFIG)
    (directory / "provider_metadata.toml").write_text(PROVIDER_METADATA)
    (directory / "provider_metadata.toml").chmod(0o600)
    return directory


async def run_limited(
    backend: str, limited_name: str, limited: MockApi, answering: MockApi, tmp_path: Path
) -> tuple[list[ProviderCooledDown], object, float]:
    environment = cli_environment(
        tmp_path / "home",
        {
            "MOCK_SUBSCRIPTION" if backend == "claude" else "MOCK_PLAN": limited.origin,
            f"MOCK_{backend.upper()}_ANSWERING": answering.origin,
        },
    )
    environment["TZ"] = "UTC"  # codex prints its reset in local time
    for name in ("MOCK_SUBSCRIPTION", "MOCK_PLAN"):  # the other backend's: never reached
        environment.setdefault(name, limited.origin)
    for name in ("MOCK_CLAUDE_ANSWERING", "MOCK_CODEX_ANSWERING"):
        environment.setdefault(name, answering.origin)
    config = load_config(config_dir(tmp_path), environ=environment)
    async with (
        Orchestrator(config, base_environment=environment, concurrency=1) as orch,
        orch.events() as events,
    ):
        started = time.monotonic()
        with anyio.fail_after(90):
            result = await orch.run(Job(prompt="say ping", backend=backend))
        elapsed = time.monotonic() - started
        cooled = [e for e in events.waiting(10_000) if isinstance(e, ProviderCooledDown)]
        status = await orch.status()
    assert result.status == "succeeded", result.model_dump_json(indent=2)
    assert (result.provider, result.output) == ("answering", "PONG")
    assert [a.outcome.value for a in result.attempts] == ["usage_limit", "success"]
    assert result.attempts[0].provider == limited_name
    providers = {p.name: p for b in status.backends if b.name == backend for p in b.providers}
    assert providers[limited_name].cooldown_until is not None
    return cooled, result, elapsed


async def test_a_claude_subscription_limit_moves_on_and_cools_until_the_reset(
    cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    """claude's rate_limit_event gives the exact reset: the account is skipped until then."""
    limited = start_mock("anthropic", "plan-limit")
    answering = start_mock(PROTOCOL["claude"], "answer", "PONG")
    cooled, _, elapsed = await run_limited("claude", "subscription", limited, answering, tmp_path)
    (cooldown,) = cooled
    assert cooldown.provider == "subscription"
    assert abs(cooldown.until - limited.reset_at) < 2, (cooldown.until, limited.reset_at)
    assert elapsed < 30, elapsed  # claude does not retry a subscriber's 429


async def test_a_codex_plan_limit_moves_on_and_cools_until_the_printed_time(
    cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    """codex's "try again at 5:03 AM" (local time, TZ=UTC here) is the end of that minute."""
    limited = start_mock("openai-responses", "plan-limit")
    answering = start_mock(PROTOCOL["codex"], "answer", "PONG")
    cooled, _, elapsed = await run_limited("codex", "plan", limited, answering, tmp_path)
    (cooldown,) = cooled
    assert cooldown.provider == "plan"
    # Printed to the minute: the cooldown ends at the end of the reset's minute.
    end_of_minute = limited.reset_at // 60 * 60 + 60
    assert abs(cooldown.until - end_of_minute) < 1, (cooldown.until, limited.reset_at)
    assert elapsed < 30, elapsed


async def test_the_limit_drill_sees_every_real_clis_limit(cli_bin: Path, tmp_path: Path) -> None:
    """providers test on examples/mock-apis: each real CLI's 429 is seen (codex through the
    base_url in its -c arguments), with nothing sent anywhere but the drill's mock."""
    import shutil

    from orchestrator.limits._drill import drill

    from .conftest import CLIS, CONFIG_DIR

    one_each = shutil.copytree(CONFIG_DIR, tmp_path / "config")  # one provider per CLI
    llm = one_each / "llm_config.toml"
    llm.write_text(llm.read_text().replace('["limited", "answering"]', '["limited"]'))
    environment = cli_environment(tmp_path / "home", {})
    config = load_config(one_each, environ=environment)
    with anyio.fail_after(100):
        reports = await drill(config, job_seconds=40, base_environment=environment)
    seen = {(r.backend, r.provider): r for r in reports}
    assert set(seen) == {(cli, "limited") for cli in CLIS}
    for (backend, provider), report in seen.items():
        assert report.skipped is None, (backend, provider, report.skipped)
        assert report.detected, (backend, provider, report.outcome, report.message)
        assert report.requests >= 1
        assert report.detected_in is not None
        assert report.detected_in < 30, (backend, report.detected_in)
