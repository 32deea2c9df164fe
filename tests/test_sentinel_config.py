"""Which providers go through the sentinel: on by default where the base URL is ours to set."""

from __future__ import annotations

from orchestrator import load_adapter, load_config
from orchestrator._sentinel_config import sentinel_variables

from .conftest import WriteConfig

LLM = """
[backends.qwen]
providers = ["plain", "optout", "nourl", "custom"]
[backends.claude]
providers = ["apikey", "subscription"]
[backends.codex]
providers = ["chatgpt"]
"""
METADATA = """
[qwen.plain]
OPENAI_API_KEY = "sk-1"
OPENAI_BASE_URL = "https://dashscope.example/compatible-mode/v1"
OPENAI_MODEL = "qwen3-coder-plus"
[qwen.optout]
sentinel = false
OPENAI_BASE_URL = "https://openrouter.example/api/v1"
[qwen.nourl]
OPENAI_API_KEY = "sk-2"
[qwen.custom]
sentinel_env = "MY_BASE"
MY_BASE = "http://127.0.0.1:9/v1"
[claude.apikey]
ANTHROPIC_API_KEY = "sk-ant"
ANTHROPIC_BASE_URL = "https://api.anthropic.example"
[claude.subscription]
CLAUDE_CODE_OAUTH_TOKEN = "sk-ant-oat"
[codex.chatgpt]
CODEX_HOME = "/tmp/codex-a"
"""


def test_a_spec_written_provider_goes_through_the_sentinel_without_asking(
    write_config: WriteConfig,
) -> None:
    """A base URL in the adapter's variable (or sentinel_env) turns it on; sentinel = false not."""
    config = load_config(write_config(LLM, METADATA), environ={})
    adapters = {name: load_adapter(backend.adapter) for name, backend in config.backends.items()}
    assert sentinel_variables(config, adapters) == {
        ("qwen", "plain"): "OPENAI_BASE_URL",
        ("qwen", "custom"): "MY_BASE",
        ("claude", "apikey"): "ANTHROPIC_BASE_URL",
    }
