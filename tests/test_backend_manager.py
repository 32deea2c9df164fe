"""The backend manager and its process-wide instance."""

from __future__ import annotations

import pytest

from orchestrator import (
    BackendManager,
    UnknownBackendError,
    get_llm_backend_manager,
    load_config,
)

from .conftest import WriteConfig

TWO_BACKENDS = '[backends.qwen]\nproviders = ["a"]\n[backends.claude]\n'


def test_singleton_until_reinitialized(write_config: WriteConfig) -> None:
    """Later calls return the first manager; force_reinitialize builds a new one."""
    directory = write_config(TWO_BACKENDS, "[qwen.a]\n")
    first = get_llm_backend_manager(config_dir=directory)
    assert get_llm_backend_manager() is first
    second = get_llm_backend_manager(config_dir=directory, force_reinitialize=True)
    assert second is not first


def test_default_backend_from_config(write_config: WriteConfig) -> None:
    """Without default_backend, [message_backend].default is used."""
    config = load_config(write_config(TWO_BACKENDS, "[qwen.a]\n"), environ={})
    assert BackendManager(config).default_backend == "qwen"
    assert BackendManager(config, default_backend="claude").default_backend == "claude"
    with pytest.raises(UnknownBackendError):
        BackendManager(config, default_backend="gemini")


def test_clients_built_once_by_factory(write_config: WriteConfig) -> None:
    """A factory runs on first use only; a missing client is a clear LookupError."""
    config = load_config(write_config(TWO_BACKENDS, "[qwen.a]\n"), environ={})
    calls: list[str] = []

    def make() -> str:
        calls.append("claude")
        return "claude-client"

    manager = BackendManager(config, default_client="qwen-client", factories={"claude": make})
    assert manager.get_client() == "qwen-client"
    assert manager.get_client("claude") == "claude-client"
    assert manager.get_client("claude") == "claude-client"
    assert calls == ["claude"]
    bare = BackendManager(config)
    with pytest.raises(LookupError, match="no client or factory registered for backend 'qwen'"):
        bare.get_client()


def test_factory_for_unknown_backend_is_refused(write_config: WriteConfig) -> None:
    """A factory keyed by a backend that is not configured is a typo worth reporting."""
    config = load_config(write_config(TWO_BACKENDS, "[qwen.a]\n"), environ={})
    with pytest.raises(UnknownBackendError):
        BackendManager(config, factories={"qwn": object})


def test_last_backend_provider_and_model(write_config: WriteConfig) -> None:
    """record_use feeds get_last_backend_provider_and_model and the provider's last used."""
    config = load_config(write_config(TWO_BACKENDS, "[qwen.a]\n"), environ={})
    manager = BackendManager(config)
    assert manager.get_last_backend_provider_and_model() == (None, None, None)
    manager.record_use("qwen", "a", "qwen3-coder-plus")
    assert manager.get_last_backend_provider_and_model() == ("qwen", "a", "qwen3-coder-plus")
    assert manager.provider_manager.get_last_used_provider_name("qwen") == "a"
