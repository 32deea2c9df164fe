"""The spec's provider-management API, over the loaded config and rotation state.

Synchronous and in-memory: pure state that sync and async code can both call.
Method names and return values follow the spec
(``../shared/spec/provider-management.md``) so its examples run as written.
A backend without providers is the spec's fallback mode: queries answer
empty/None/0 and rotation calls are harmless no-ops returning False.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ._config import OrchestratorConfig
from ._environment import child_environment
from ._errors import NoProvidersError
from ._provider_metadata import ProviderConfig
from ._rotation import ProviderRotation

Clock = Callable[[], float]


class ProviderManager:
    """Provider rotation for every configured backend.

    Args:
        config: the loaded configuration.
        clock: wall-clock seconds, used for cooldowns; injectable for tests.
    """

    def __init__(self, config: OrchestratorConfig, clock: Clock = time.time) -> None:
        self._config = config
        self._clock = clock
        self._rotations = config.new_rotations()

    # -- the spec's queries ---------------------------------------------------

    def has_providers(self, backend: str) -> bool:
        """True when ``[backends.<backend>].providers`` lists at least one provider."""
        return bool(self.rotation(backend).providers)

    def get_all_provider_names(self, backend: str) -> list[str]:
        """Provider names in rotation order."""
        return list(self.rotation(backend).providers)

    def get_provider_count(self, backend: str) -> int:
        return len(self.rotation(backend).providers)

    def get_current_provider_name(self, backend: str) -> str | None:
        """The provider the next job starts on (unusable ones skipped); None in fallback
        mode."""
        rotation = self.rotation(backend)  # an unknown backend: its error first
        return rotation.current(self._clock(), exclude=self._config.unusable(backend))

    def get_current_provider(self, backend: str) -> ProviderConfig | None:
        """The current provider's full definition; None in fallback mode."""
        name = self.get_current_provider_name(backend)
        return None if name is None else self.get_provider(backend, name)

    def get_last_used_provider_name(self, backend: str) -> str | None:
        """The provider last marked used for this backend, if any."""
        return self.rotation(backend).last_used

    # -- the spec's rotation calls --------------------------------------------

    def advance_to_next_provider(self, backend: str) -> bool:
        """Rotate to the next provider (wrapping); False when there is none to rotate to."""
        return self.rotation(backend).advance()

    def reset_provider_rotation(self, backend: str) -> None:
        """Back to the first provider, cooldowns lifted."""
        self.rotation(backend).reset()

    def reset_all_provider_rotations(self) -> None:
        for rotation in self._rotations.values():
            rotation.reset()

    def mark_provider_used(self, backend: str, provider: str | None) -> None:
        """Record ``provider`` as the last one used for ``backend`` (None is ignored)."""
        if provider is not None:
            self.rotation(backend).mark_used(provider)

    # -- beyond the spec --------------------------------------------------------

    def require_providers(self, backend: str) -> tuple[ProviderConfig, ...]:
        """The backend's providers, for operations that cannot work without them.

        Raises:
            NoProvidersError: ``Error: No providers configured for backend '...'``.
        """
        providers = self._config.providers_for(backend)
        if not providers:
            raise NoProvidersError(backend)
        return providers

    def get_provider(self, backend: str, name: str) -> ProviderConfig:
        """The provider's definition; KeyError when the backend has none by that name."""
        return self._config.provider(backend, name)

    def get_provider_environment(
        self, backend: str, provider: str | None = None, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """A new environment mapping for a child run on ``provider`` (default: current).

        ``os.environ`` is never written; see :func:`child_environment`.
        """
        name = provider or self.get_current_provider_name(backend)
        definition = None if name is None else self.get_provider(backend, name)
        return child_environment(definition, base)

    def rotation(self, backend: str) -> ProviderRotation:
        """The live rotation state of ``backend`` (raises UnknownBackendError)."""
        self._config.backend(backend)
        return self._rotations[backend]
