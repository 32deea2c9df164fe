"""Rotation state that survives a restart: a small JSON file, written atomically.

Only what the config still describes is restored: entries for providers that
were removed are dropped, and a backend whose provider list changed starts at
its first provider again (its cooldowns and counters are kept by name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def restore_rotations(path: Path, rotations: Mapping[str, ProviderRotation]) -> Restored:
    """Apply the saved state in ``path`` to ``rotations`` in place.

    Returns:
        Problems found (unreadable file, wrong version; the state is then
        left as it was) and the last used backend/provider/model. A missing
        file is no problem: there is nothing yet.
    """
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return Restored()
    except (OSError, ValueError) as exc:
        return Restored([f"state file {path} is unreadable and was ignored: {exc}"])
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return Restored([f"state file {path} has an unknown format and was ignored"])
    for name, saved in (data.get("backends") or {}).items():
        if name in rotations and isinstance(saved, dict):
            _restore_one(rotations[name], saved)
    last = data.get("last")
    if isinstance(last, dict) and all(
        isinstance(last.get(key), str | None) for key in ("backend", "provider", "model")
    ):
        return Restored(last=(last.get("backend"), last.get("provider"), last.get("model")))
    return Restored()


def _restore_one(rotation: ProviderRotation, saved: dict[str, Any]) -> None:
    known = set(rotation.providers)

    def by_name(key: str, kind: type) -> dict[str, Any]:
        value = saved.get(key)
        if not isinstance(value, dict):
            return {}
        return {k: v for k, v in value.items() if k in known and isinstance(v, kind)}

    rotation.cooldown_until.update(by_name("cooldown_until", float))
    rotation.successes.update(by_name("successes", int))
    rotation.failures.update(by_name("failures", int))
    rotation.suspended.update(by_name("suspended", str))
    headroom = saved.get("headroom")
    for name, value in headroom.items() if isinstance(headroom, dict) else ():
        reading = Headroom.from_json(value)
        if name in known and reading is not None:
            rotation.record_headroom(name, reading)
    if saved.get("last_used") in known:
        rotation.last_used = saved["last_used"]
    index = saved.get("current_index")
    if saved.get("providers") == list(rotation.providers) and isinstance(index, int):
        rotation.current_index = index % max(1, len(rotation.providers))
