"""Where rotation state lives: one interface, in memory or shared on Redis.

The supervisor reads a backend's rotation through ``view`` and changes it
only through the store's operations, so it never knows whether the state is
this process's own (``MemoryRotationStore``, saved to a state file) or
shared by every worker (``RedisRotationStore``). Selection itself is always
``ProviderRotation.select``, run on the view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ._rotation import ProviderRotation
from ._state import NOTHING_USED, LastUsed
from ._state_store import ManualRequest, apply_request
from .limits import Headroom


@dataclass(frozen=True)
class RotationView:
    """A backend's rotation as of now, and the providers whose cooldown just ended.

    ``recovered`` is reported once: by the view that found the cooldown over,
    whichever worker that was.
    """

    rotation: ProviderRotation
    recovered: tuple[str, ...] = ()


class RotationStore(Protocol):
    """The operations the supervisor, status and manual commands need."""

    async def view(self, backend: str, now: float) -> RotationView:
        """The rotation as it stands; ended cooldowns are cleared first."""
        ...

    async def record_success(self, backend: str, provider: str, *, advance: bool) -> None:
        """Count a success and mark the provider used; ``advance`` moves the pointer."""
        ...

    async def record_failure(
        self, backend: str, provider: str, *, cooldown_until: float | None
    ) -> None:
        """Count a failure; with ``cooldown_until``, skip the provider until then."""
        ...

    async def record_headroom(self, backend: str, provider: str, reading: Headroom) -> None:
        """Keep the provider's latest headroom reading (new jobs avoid one near its limit)."""
        ...

    async def suspend(self, backend: str, provider: str, fingerprint: str) -> None:
        """Keep the provider out while its settings have ``fingerprint`` (it answered 401)."""
        ...

    async def apply(self, request: ManualRequest) -> bool:
        """A manual rotate/reset; False when the backend is unknown."""
        ...

    async def set_last(self, last: LastUsed) -> None:
        """Remember the last successful job's backend, provider and model."""
        ...

    async def snapshot(self) -> tuple[dict[str, ProviderRotation], LastUsed]:
        """Every backend's rotation and the last used triple (for status)."""
        ...


class MemoryRotationStore:
    """This process's own state; ``changed`` tells the owner to save it."""

    def __init__(self, rotations: dict[str, ProviderRotation], last: LastUsed = NOTHING_USED):
        self.rotations = rotations
        self.last = last
        self.changed = False

    async def view(self, backend: str, now: float) -> RotationView:
        rotation = self.rotations[backend]
        recovered = rotation.expire_cooldowns(now) if rotation.cooldown_until else []
        if recovered:
            self.changed = True
        return RotationView(rotation, tuple(recovered))

    async def record_success(self, backend: str, provider: str, *, advance: bool) -> None:
        self.rotations[backend].succeeded(provider, advance=advance)
        self.changed = True

    async def record_failure(
        self, backend: str, provider: str, *, cooldown_until: float | None
    ) -> None:
        self.rotations[backend].failed(provider, cooldown_until)
        self.changed = True

    async def record_headroom(self, backend: str, provider: str, reading: Headroom) -> None:
        self.rotations[backend].record_headroom(provider, reading)
        self.changed = True

    async def suspend(self, backend: str, provider: str, fingerprint: str) -> None:
        self.rotations[backend].suspend(provider, fingerprint)
        self.changed = True

    async def apply(self, request: ManualRequest) -> bool:
        applied = apply_request(request, self.rotations)
        self.changed = self.changed or applied
        return applied

    async def set_last(self, last: LastUsed) -> None:
        self.last = last
        self.changed = True

    async def snapshot(self) -> tuple[dict[str, ProviderRotation], LastUsed]:
        return self.rotations, self.last
