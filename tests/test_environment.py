"""Building a child's environment without touching os.environ."""

from __future__ import annotations

import os

from orchestrator import ProviderConfig, child_environment


def test_provider_wins_and_extra_wins_last() -> None:
    """Provider settings override the inherited ones; caller extras override both."""
    provider = ProviderConfig(name="p", backend="qwen", env={"K": "provider", "P": "1"})
    env = child_environment(provider, base={"K": "shell", "S": "s"}, extra={"P": "2"})
    assert env == {"K": "provider", "S": "s", "P": "2"}


def test_default_base_is_a_copy_of_os_environ() -> None:
    """Without a base the child inherits os.environ, in a new dict."""
    env = child_environment(None)
    assert env == dict(os.environ)
    assert env is not os.environ
    env["ORCHESTRATOR_TEST_ONLY"] = "x"
    assert "ORCHESTRATOR_TEST_ONLY" not in os.environ


def test_fallback_mode_inherits_only() -> None:
    """No provider: the inherited environment, unchanged."""
    assert child_environment(None, base={"A": "1"}) == {"A": "1"}
