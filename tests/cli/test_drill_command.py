"""`orchestrator providers test`: each provider's CLI against a loopback API answering 429."""

from __future__ import annotations

import json
import sys

from ..conftest import WriteConfig
from ..fakes.config_text import HTTP_CLI
from .conftest import Cli

SECRET = "sk-drill-secret-0123456789"


def http_provider(name: str, extra: str = "") -> str:
    """A provider running the fake HTTP CLI (it retries a 429 in silence, like qwen)."""
    return (
        f"[agent.{name}]\ncommand = {json.dumps(sys.executable)}\n"
        f'args = [{json.dumps(str(HTTP_CLI))}]\nsentinel_env = "OPENAI_BASE_URL"\n'
        f'OPENAI_BASE_URL = "https://api.example.invalid/v1"\nOPENAI_API_KEY = "{SECRET}"\n'
        f"{extra}"
    )


def test_a_watched_provider_is_seen_a_blind_one_is_not_a_subscription_is_skipped(
    cli: Cli, write_config: WriteConfig
) -> None:
    """The sentinel sees the drill's 429 at once; with it off the silent CLI is not seen
    (exit 1); a provider without a base URL of ours is skipped; no secret is printed."""
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["watched", "blind", "oauth"]\n',
        http_provider("watched")
        + http_provider("blind", "sentinel = false\n")
        + f'[agent.oauth]\ncommand = {json.dumps(sys.executable)}\nTOKEN = "{SECRET}"\n',
    )
    result = cli("providers", "test", "--json", "--seconds", "3")
    assert result.returncode == 1, result.stderr
    reports = {r["provider"]: r for r in map(json.loads, result.stdout.splitlines())}
    watched, blind, oauth = reports["watched"], reports["blind"], reports["oauth"]
    assert (watched["outcome"], watched["detected"]) == ("usage_limit", True)
    assert watched["detected_in"] < 3
    assert watched["requests"] == 1
    assert round(watched["cooldown_seconds"]) == 60  # the drill's Retry-After
    assert blind["detected"] is False
    assert blind["outcome"] in ("timeout", None)
    assert blind["requests"] >= 1  # it did reach the mock, and retried in silence
    assert "no base URL" in oauth["skipped"]
    assert SECRET not in result.stdout + result.stderr


def test_all_seen_exits_0_with_a_table(cli: Cli, write_config: WriteConfig) -> None:
    """Every tested provider seen: exit 0, and the table names each provider and its result."""
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["watched"]\n',
        http_provider("watched"),
    )
    result = cli("providers", "test", "agent", env={"COLUMNS": "160"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agent/watched" in result.stdout
    assert "limit seen in" in result.stdout
    assert "usage_limit" in result.stdout


def test_an_unknown_backend_is_a_usage_error(cli: Cli, write_config: WriteConfig) -> None:
    """A backend that is not configured: exit 2, naming the known ones."""
    cli.config_dir = write_config(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["watched"]\n',
        http_provider("watched"),
    )
    result = cli("providers", "test", "nope")
    assert result.returncode == 2
    assert "nope" in result.stderr
