"""The spec's provider-management API, over the loaded config and rotation state.

Synchronous: plain calls that sync and async code can both make. Method names
and return values follow the spec (``../shared/spec/provider-management.md``) so
its examples run as written. A backend without providers is the spec's fallback
mode: queries answer empty/None/0 and rotation calls are harmless no-ops
returning False.

Given a state file (as :func:`orchestrator.get_llm_backend_manager` does: the
one ``run``, ``worker`` and ``status`` use), queries read it whenever it
changed, so the API sees what the command line did; rotation calls write it
when no other process owns it, and otherwise hand the change to the owner the
way ``orchestrator providers rotate`` does. Without one, the state is this
object's alone.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ._config import OrchestratorConfig
from ._environment import child_environment
from ._errors import NoProvidersError
from ._provider_metadata import ProviderConfig
from ._rotation import ProviderRotation
from ._state import NOTHING_USED, LastUsed, restore_rotations, save_rotations
from ._state_store import Action, ManualRequest, StateStore, apply_request

Clock = Callable[[], float]


class ProviderManager:
    """Provider rotation for every configured backend.

    Args:
        config: the loaded configuration.
        clock: wall-clock seconds, used for cooldowns; injectable for tests.
        state_file: the rotation state shared with the command line; None keeps
            the state in this object only.

    Attributes:
        problems: why the state file was last ignored (unreadable, wrong shape).
    """

    def __init__(
        self,
        config: OrchestratorConfig,
        clock: Clock = time.time,
        state_file: Path | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._rotations = config.new_rotations()
        self._store = None if state_file is None else StateStore(state_file)
        self._seen: tuple[int, int, int] | None = None
        self._last: LastUsed = NOTHING_USED
        self._last_changed_ns = 0
        self.problems: list[str] = []

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
        if len(self.rotation(backend).providers) < 2:
            return False
        self._change(backend, "rotate", lambda rotation: rotation.advance())
        return True

    def reset_provider_rotation(self, backend: str) -> None:
        """Back to the first provider, cooldowns lifted."""
        self.rotation(backend)
        self._change(backend, "reset", lambda rotation: rotation.reset())

    def reset_all_provider_rotations(self) -> None:
        for backend in self._config.backends:
            self.reset_provider_rotation(backend)

    def mark_provider_used(self, backend: str, provider: str | None) -> None:
        """Record ``provider`` as the last one used for ``backend`` (None is ignored)."""
        if provider is not None:
            self.record_use(backend, provider, None, keep_last=True)

    # -- the shared state file -------------------------------------------------

    @property
    def last(self) -> LastUsed:
        """The last ``(backend, provider, model)`` used: recorded here, or by the
        command line in the state file, whichever is newer."""
        self._refresh()
        return self._last

    def record_use(
        self, backend: str, provider: str | None, model: str | None, *, keep_last: bool = False
    ) -> None:
        """Remember a run: the provider becomes the backend's last used and, unless
        ``keep_last``, ``(backend, provider, model)`` the last run.

        With a state file owned by a running worker, the worker keeps its own record;
        this one stays in this object.
        """
        self.rotation(backend)
        if not keep_last:
            self._last = (backend, provider, model)
            self._last_changed_ns = time.time_ns()
        if provider is None:
            return
        self._rotations[backend].mark_used(provider)
        with self._owned() as owned:
            if owned:
                rotations = self._from_file()
                rotations[backend].mark_used(provider)
                self._save(rotations)

    def _change(
        self, backend: str, action: Action, apply: Callable[[ProviderRotation], object]
    ) -> None:
        """Apply a rotation change here, and to the state file or its owner."""
        request = ManualRequest(action, backend)
        with self._owned() as owned:
            if owned:
                rotations = self._from_file()
                apply_request(request, rotations)
                self._save(rotations)
                return
        apply(self._rotations[backend])
        if self._store is not None:
            self._store.request(request)

    def _owned(self) -> contextlib.AbstractContextManager[bool]:
        if self._store is None:
            return contextlib.nullcontext(False)
        return self._store.ownership()

    def _from_file(self) -> dict[str, ProviderRotation]:
        self._seen = None
        self._refresh()
        return self._rotations

    def _save(self, rotations: dict[str, ProviderRotation]) -> None:
        assert self._store is not None
        save_rotations(self._store.path, rotations, self._last)
        self._rotations = rotations
        self._seen = _signature(self._store.path)

    def _refresh(self) -> None:
        """Load the state file if it changed since it was last read (one stat call)."""
        if self._store is None:
            return
        signature = _signature(self._store.path)
        if signature is None or signature == self._seen:
            return
        rotations = self._config.new_rotations()
        restored = restore_rotations(
            self._store.path, rotations, self._config.max_cooldowns(), self._clock()
        )
        self._seen = signature
        self.problems = restored.problems
        if restored.problems:
            return
        self._rotations = rotations
        if signature[2] > self._last_changed_ns and restored.last != NOTHING_USED:
            self._last = restored.last
            self._last_changed_ns = signature[2]

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
        self._refresh()
        return self._rotations[backend]


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What tells a replaced or rewritten file apart: inode, size, mtime."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)
