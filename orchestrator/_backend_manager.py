"""The spec's backend manager: config, provider rotation and the clients of each backend.

``get_llm_backend_manager`` keeps one process-wide manager, as auto-coder does,
so the spec's snippets (``manager.provider_manager.advance_to_next_provider``)
run unchanged with only their import line changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._config import OrchestratorConfig, load_config
from ._provider_manager import Clock, ProviderManager
from ._state_store import default_state_file

ClientFactory = Callable[[], Any]


class BackendManager:
    """One configuration's backends, their provider rotation and their clients.

    Args:
        config: the loaded configuration.
        default_backend: the backend used when none is named; defaults to
            ``[message_backend].default``.
        default_client: the client object of the default backend, if the
            caller already has one.
        factories: ``{backend: callable}`` building a backend's client on
            first use.
        clock: wall-clock seconds for cooldowns.
        state_file: the rotation state shared with ``run``, ``worker`` and
            ``status``; None keeps it in this object only.
    """

    def __init__(
        self,
        config: OrchestratorConfig,
        *,
        default_backend: str | None = None,
        default_client: Any = None,
        factories: Mapping[str, ClientFactory] | None = None,
        clock: Clock = time.time,
        state_file: Path | None = None,
    ) -> None:
        self.config = config
        self.provider_manager = ProviderManager(config, clock, state_file)
        self.default_backend = config.backend(
            default_backend or config.message_backend.default or ""
        ).name
        self._factories = dict(factories or {})
        for backend in self._factories:
            config.backend(backend)
        self._clients: dict[str, Any] = {}
        if default_client is not None:
            self._clients[self.default_backend] = default_client

    def get_client(self, backend: str | None = None) -> Any:
        """The client of ``backend`` (default backend if None), built once by its factory.

        Raises:
            UnknownBackendError: the backend is not configured.
            LookupError: no client and no factory were given for it.
        """
        name = self.config.backend(backend or self.default_backend).name
        if name not in self._clients:
            if name not in self._factories:
                raise LookupError(f"no client or factory registered for backend '{name}'")
            self._clients[name] = self._factories[name]()
        return self._clients[name]

    def record_use(self, backend: str, provider: str | None, model: str | None) -> None:
        """Remember what ran last; the provider also becomes the backend's last used."""
        self.provider_manager.record_use(backend, provider, model)

    def get_last_backend_provider_and_model(self) -> tuple[str | None, str | None, str | None]:
        """``(backend, provider, model)`` of the last run, recorded here or by the command
        line in the shared state file, whichever is newer; all None before any."""
        return self.provider_manager.last


_manager: BackendManager | None = None
_manager_lock = threading.Lock()


def get_llm_backend_manager(
    default_backend: str | None = None,
    default_client: Any = None,
    factories: Mapping[str, ClientFactory] | None = None,
    *,
    config_dir: Path | str | None = None,
    force_reinitialize: bool = False,
    state_file: Path | str | None = None,
    shared_state: bool = True,
) -> BackendManager:
    """The process-wide BackendManager, created from the config directory on first call.

    Arguments apply when the manager is created (first call, or
    ``force_reinitialize=True``); later calls return the same manager, as the
    spec's "Status Monitoring" example relies on. Its rotation state is the
    command line's (``state_file``, default as ``run`` chooses it:
    ``$ORCHESTRATOR_STATE_FILE`` or one file per config directory), so it sees
    what ``run`` and ``worker`` did and they see its rotations;
    ``shared_state=False`` keeps the state in memory.

    Raises:
        ConfigError: the configuration could not be loaded.
    """
    global _manager
    with _manager_lock:
        if _manager is None or force_reinitialize:
            config = load_config(config_dir)
            path = None
            if shared_state:
                path = Path(state_file) if state_file else default_state_file(config.config_dir)
            _manager = BackendManager(
                config,
                default_backend=default_backend,
                default_client=default_client,
                factories=factories,
                state_file=path,
            )
        return _manager


def reset_llm_backend_manager() -> None:
    """Forget the process-wide manager; the next call loads the config afresh."""
    global _manager
    with _manager_lock:
        _manager = None
