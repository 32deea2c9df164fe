"""Rotation state that survives a restart: a small JSON file, written atomically.

Only what the config still describes is restored: entries for providers that
were removed are dropped, and a backend whose provider list changed starts at
its first provider again (its cooldowns and counters are kept by name).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from ._atomic import write_atomic
from ._rotation import ProviderRotation
from .limits import Headroom

STATE_VERSION = 1


#: The last successful job's (backend, provider, model).
LastUsed = tuple[str | None, str | None, str | None]
NOTHING_USED: LastUsed = (None, None, None)


def dump_rotations(
    rotations: Mapping[str, ProviderRotation],
    last: LastUsed = NOTHING_USED,
    others: Mapping[str, Any] | None = None,
) -> bytes:
    """The state file's bytes for ``rotations`` and the last used backend/provider/model.

    ``others`` are saved backends this configuration does not have; they are
    kept as they were, so two configurations can share one state file.
    """
    backends = dict(others or {})
    for name, rotation in rotations.items():
        backends[name] = {
            "providers": list(rotation.providers),
            "current_index": rotation.current_index,
            "last_used": rotation.last_used,
            "cooldown_until": rotation.cooldown_until,
            "successes": rotation.successes,
            "failures": rotation.failures,
            "headroom": {name: reading.to_json() for name, reading in rotation.headroom.items()},
            "suspended": rotation.suspended,
        }
    state = {
        "version": STATE_VERSION,
        "backends": backends,
        "last": dict(zip(("backend", "provider", "model"), last, strict=True)),
    }
    return json.dumps(state, indent=1).encode()


def save_rotations(
    path: Path, rotations: Mapping[str, ProviderRotation], last: LastUsed = NOTHING_USED
) -> None:
    """Write the state file atomically, keeping other configurations' backends."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    others = {name: saved for name, saved in _saved_backends(path).items() if name not in rotations}
    write_atomic(path, dump_rotations(rotations, last, others))


def _saved_backends(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return {}
    backends = data.get("backends")
    return backends if isinstance(backends, dict) else {}


@dataclass
class Restored:
    """What ``restore_rotations`` found besides the rotations it updated."""

    problems: list[str] = field(default_factory=list)
    last: LastUsed = NOTHING_USED


def restore_rotations(
    path: Path,
    rotations: Mapping[str, ProviderRotation],
    max_cooldowns: Mapping[str, float] | None = None,
    now: float | None = None,
) -> Restored:
    """Apply the saved state in ``path`` to ``rotations`` in place.

    The file is read defensively: it may have been edited by hand or written
    by another version. A backend whose entry has the wrong shape starts fresh
    (with a problem naming it); numbers that are not finite are dropped, and
    cooldowns are cut to ``max_cooldowns[backend]`` seconds from ``now``
    (``MAX_SAVED_COOLDOWN`` where not given), so no provider is out for good.

    Returns:
        Problems found (unreadable file, wrong version or shape; the state is
        then left as it was) and the last used backend/provider/model. A
        missing file is no problem: there is nothing yet.
    """
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return Restored()
    except (OSError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        return Restored([f"state file {path} is unreadable and was ignored: {reason}"])
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return Restored([f"state file {path} has an unknown format and was ignored"])
    backends = data.get("backends") or {}
    if not isinstance(backends, dict):
        return Restored([f"state file {path}: 'backends' is not a table; it was ignored"])
    restored = Restored()
    clock = time.time() if now is None else now
    for name, saved in backends.items():
        if name not in rotations:
            continue
        cap = clock + (max_cooldowns or {}).get(name, MAX_SAVED_COOLDOWN)
        fresh = ProviderRotation.of(rotations[name].providers)
        try:
            _restore_one(fresh, saved, cap)
        except _WrongShape as exc:
            restored.problems.append(
                f"state file {path}: backend '{name}' has {exc}; it starts fresh"
            )
            continue
        _copy_into(rotations[name], fresh)
    last = data.get("last")
    if isinstance(last, dict) and all(
        isinstance(last.get(key), str | None) for key in ("backend", "provider", "model")
    ):
        restored.last = (last.get("backend"), last.get("provider"), last.get("model"))
    return restored


#: The longest cooldown kept from a state file when the backend's cap is not given.
MAX_SAVED_COOLDOWN = 366 * 86_400.0


class _WrongShape(ValueError):
    """A saved backend entry that is not what this version writes."""


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _restore_one(rotation: ProviderRotation, saved: Any, cooldown_cap: float) -> None:
    """Fill a fresh rotation from one saved entry; raises _WrongShape for a wrong shape."""
    if not isinstance(saved, dict):
        raise _WrongShape(f"a {type(saved).__name__} where a table belongs")
    known = set(rotation.providers)

    def by_name(key: str, valid: Callable[[Any], bool]) -> dict[str, Any]:
        value = saved.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _WrongShape(f"'{key}' that is not a table")
        return {k: v for k, v in value.items() if k in known and valid(v)}

    cooldowns = by_name("cooldown_until", _finite)
    rotation.cooldown_until.update({k: min(float(v), cooldown_cap) for k, v in cooldowns.items()})
    rotation.successes.update(by_name("successes", _count))
    rotation.failures.update(by_name("failures", _count))
    rotation.suspended.update(by_name("suspended", lambda v: isinstance(v, str)))
    for name, value in by_name("headroom", lambda v: isinstance(v, dict)).items():
        reading = Headroom.from_json(value)
        if reading is not None:
            rotation.record_headroom(name, reading)
    last_used = saved.get("last_used")
    if isinstance(last_used, str) and last_used in known:
        rotation.last_used = last_used
    index = saved.get("current_index")
    if saved.get("providers") == list(rotation.providers) and _count(index):
        rotation.current_index = index % max(1, len(rotation.providers))


def _copy_into(target: ProviderRotation, source: ProviderRotation) -> None:
    target.cooldown_until.update(source.cooldown_until)
    target.successes.update(source.successes)
    target.failures.update(source.failures)
    target.suspended.update(source.suspended)
    for name, reading in source.headroom.items():
        target.record_headroom(name, reading)
    if source.last_used is not None:
        target.last_used = source.last_used
    if source.current_index:
        target.current_index = source.current_index
