"""The spec's provider-management API."""

from __future__ import annotations

import os

import pytest

from orchestrator import (
    NoProvidersError,
    OrchestratorConfig,
    ProviderManager,
    UnknownBackendError,
    load_config,
)

from .conftest import SPEC_EXAMPLE_DIR, WriteConfig


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def spec_config(spec_environ: dict[str, str]) -> OrchestratorConfig:
    return load_config(SPEC_EXAMPLE_DIR, environ=spec_environ)


def test_queries(spec_config: OrchestratorConfig) -> None:
    """has_providers, names, count, current and last used answer as the spec shows."""
    manager = ProviderManager(spec_config)
    assert manager.has_providers("qwen") is True
    assert manager.get_all_provider_names("qwen") == [
        "qwen-open-router",
        "qwen-azure",
        "qwen-direct",
    ]
    assert manager.get_provider_count("qwen") == 3
    assert manager.get_current_provider_name("qwen") == "qwen-open-router"
    assert manager.get_last_used_provider_name("qwen") is None


def test_advance_and_reset(spec_config: OrchestratorConfig) -> None:
    """advance goes open-router -> azure -> direct -> open-router; reset returns to the first."""
    manager = ProviderManager(spec_config)
    seen = []
    for _ in range(3):
        assert manager.advance_to_next_provider("qwen") is True
        seen.append(manager.get_current_provider_name("qwen"))
    assert seen == ["qwen-azure", "qwen-direct", "qwen-open-router"]
    manager.advance_to_next_provider("qwen")
    manager.reset_provider_rotation("qwen")
    assert manager.get_current_provider_name("qwen") == "qwen-open-router"


def test_reset_all(write_config: WriteConfig) -> None:
    """reset_all_provider_rotations resets every backend."""
    directory = write_config(
        '[backends.qwen]\nproviders = ["a", "b"]\n[backends.claude]\nproviders = ["c", "d"]\n',
        "[qwen.a]\n[qwen.b]\n[claude.c]\n[claude.d]\n",
    )
    manager = ProviderManager(load_config(directory, environ={}))
    manager.advance_to_next_provider("qwen")
    manager.advance_to_next_provider("claude")
    manager.reset_all_provider_rotations()
    assert manager.get_current_provider_name("qwen") == "a"
    assert manager.get_current_provider_name("claude") == "c"


def test_mark_used(spec_config: OrchestratorConfig) -> None:
    """mark_provider_used records the last used provider; None is ignored."""
    manager = ProviderManager(spec_config)
    manager.mark_provider_used("qwen", "qwen-azure")
    manager.mark_provider_used("qwen", None)
    assert manager.get_last_used_provider_name("qwen") == "qwen-azure"


def test_fallback_mode_no_ops(spec_config: OrchestratorConfig) -> None:
    """A backend without providers answers empty and its rotation calls do nothing."""
    manager = ProviderManager(spec_config)
    assert manager.has_providers("gemini") is False
    assert manager.get_all_provider_names("gemini") == []
    assert manager.get_provider_count("gemini") == 0
    assert manager.get_current_provider_name("gemini") is None
    assert manager.get_current_provider("gemini") is None
    assert manager.advance_to_next_provider("gemini") is False
    manager.reset_provider_rotation("gemini")
    assert manager.get_last_used_provider_name("gemini") is None


def test_require_providers_in_spec_words(spec_config: OrchestratorConfig) -> None:
    """An operation that needs providers says `Error: No providers configured for backend '...'`."""
    manager = ProviderManager(spec_config)
    with pytest.raises(NoProvidersError) as caught:
        manager.require_providers("gemini")
    assert str(caught.value) == "Error: No providers configured for backend 'gemini'"
    assert len(manager.require_providers("qwen")) == 3


def test_unknown_backend_is_an_error(spec_config: OrchestratorConfig) -> None:
    """A typo in a backend name is reported, not answered with None."""
    manager = ProviderManager(spec_config)
    with pytest.raises(UnknownBackendError):
        manager.get_current_provider_name("qwn")


def test_cooldown_uses_injected_clock(spec_config: OrchestratorConfig) -> None:
    """Current provider skips a cooling provider until the clock passes its end."""
    clock = FakeClock()
    manager = ProviderManager(spec_config, clock=clock)
    manager.rotation("qwen").cool_down("qwen-open-router", until=clock.now + 60)
    assert manager.get_current_provider_name("qwen") == "qwen-azure"
    clock.now += 60
    assert manager.get_current_provider_name("qwen") == "qwen-open-router"


def test_provider_environment_is_a_new_mapping(spec_config: OrchestratorConfig) -> None:
    """The child env is inherited env overlaid by the provider's settings; os.environ untouched."""
    manager = ProviderManager(spec_config)
    base = {"PATH": "/bin", "AZURE_API_KEY": "from-shell"}
    env = manager.get_provider_environment("qwen", "qwen-azure", base=base)
    assert env["AZURE_API_KEY"] == "test-azure-key"
    assert env["PATH"] == "/bin"
    assert base == {"PATH": "/bin", "AZURE_API_KEY": "from-shell"}
    assert "AZURE_API_KEY" not in os.environ
    current = manager.get_provider_environment("qwen")
    assert current["OPENROUTER_API_KEY"] == "sk-or-v1-test-openrouter"
    assert "AZURE_API_KEY" not in current or current["AZURE_API_KEY"] == os.environ.get(
        "AZURE_API_KEY"
    )


def test_environments_of_providers_do_not_leak(spec_config: OrchestratorConfig) -> None:
    """Each provider's mapping holds its own settings and none of another provider's."""
    manager = ProviderManager(spec_config)
    names = manager.get_all_provider_names("qwen")
    envs = {name: manager.get_provider_environment("qwen", name, base={}) for name in names}
    assert envs["qwen-open-router"] == {"OPENROUTER_API_KEY": "sk-or-v1-test-openrouter"}
    assert envs["qwen-direct"] == {"QWEN_API_KEY": "test-qwen-key"}
    assert set(envs["qwen-azure"]) == {"AZURE_ENDPOINT", "AZURE_API_VERSION", "AZURE_API_KEY"}


def test_get_provider_unknown(spec_config: OrchestratorConfig) -> None:
    """Looking up a provider the backend does not have raises KeyError."""
    with pytest.raises(KeyError):
        ProviderManager(spec_config).get_provider("qwen", "nope")
