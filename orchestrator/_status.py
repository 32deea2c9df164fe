"""A snapshot of rotation state for people and scripts (``status``, ``orch.status()``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from ._config import OrchestratorConfig
from ._registry import adapters_for
from ._rotation import ProviderRotation
from ._sentinel_config import held_keys, key_pools, sentinel_variables


class ProviderStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str | None
    current: bool
    cooldown_until: float | None
    cooldown_left: float | None
    successes: int
    failures: int
    #: The latest headroom reading still in force: fraction used, and its window's reset.
    utilization: float | None = None
    utilization_resets_at: float | None = None
    near_limit: bool = False
    #: Refused its credentials (401/403): out until its settings change.
    suspended: bool = False
    #: Why the provider cannot be used as configured (an unset variable); None: it can.
    unusable: str | None = None
    #: The sentinel holds its API key: its CLI gets a placeholder, never the key.
    key_held: bool = False
    #: The other providers whose keys a 429 on this one goes on with, in the same request.
    key_pool: tuple[str, ...] = ()


class BackendStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    enabled: bool
    model: str | None
    providers: tuple[ProviderStatus, ...]
    last_used_provider: str | None


class OrchestratorStatus(BaseModel):
    """Every backend's providers in rotation order, and what ran last."""

    model_config = ConfigDict(frozen=True)

    backends: tuple[BackendStatus, ...]
    last_backend: str | None
    last_provider: str | None
    last_model: str | None


def build_status(
    config: OrchestratorConfig,
    rotations: Mapping[str, ProviderRotation],
    last: tuple[str | None, str | None, str | None],
    now: float,
) -> OrchestratorStatus:
    """The snapshot at ``now`` (the clock cooldowns were set with)."""
    held, pools = _keys(config)
    backends = []
    for name, backend in config.backends.items():
        rotation = rotations[name]
        threshold = backend.rotate_at_utilization
        suspended = rotation.suspended_now(config.fingerprints(name))
        current = rotation.current(now, threshold, exclude=suspended | config.unusable(name))
        providers = tuple(
            ProviderStatus(
                name=provider.name,
                description=provider.description,
                current=provider.name == current,
                cooldown_until=_until(rotation, provider.name, now),
                cooldown_left=(
                    rotation.cooldown_until[provider.name] - now
                    if rotation.is_cooling(provider.name, now)
                    else None
                ),
                successes=rotation.successes.get(provider.name, 0),
                failures=rotation.failures.get(provider.name, 0),
                suspended=provider.name in suspended,
                unusable=provider.unusable,
                key_held=(name, provider.name) in held,
                key_pool=pools.get((name, provider.name), ()),
                **_headroom(rotation, provider.name, threshold, now),
            )
            for provider in config.providers[name]
        )
        backends.append(
            BackendStatus(
                name=name,
                enabled=backend.enabled,
                model=backend.model,
                providers=providers,
                last_used_provider=rotation.last_used,
            )
        )
    return OrchestratorStatus(
        backends=tuple(backends), last_backend=last[0], last_provider=last[1], last_model=last[2]
    )


def _keys(
    config: OrchestratorConfig,
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], tuple[str, ...]]]:
    """The providers whose keys the sentinel holds, and their key pools."""
    adapters = adapters_for(config)
    held = held_keys(config, adapters, sentinel_variables(config, adapters))
    return set(held), key_pools(config, held)


def _until(rotation: ProviderRotation, provider: str, now: float) -> float | None:
    return rotation.cooldown_until[provider] if rotation.is_cooling(provider, now) else None


def _headroom(
    rotation: ProviderRotation, provider: str, threshold: float, now: float
) -> dict[str, Any]:
    reading = rotation.headroom.get(provider)
    if reading is None or not reading.is_current(now):
        return {}
    return {
        "utilization": reading.utilization,
        "utilization_resets_at": reading.resets_at,
        "near_limit": reading.is_near_limit(threshold, now),
    }
