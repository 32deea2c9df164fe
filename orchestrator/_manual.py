"""Manual rotate/reset requests, applied where the state lives: the state file (by its
owner, or by whoever takes ownership for a moment) or Redis. Shared by ``providers
rotate|reset`` and the dashboard's buttons, so both make the very same change."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from ._config import OrchestratorConfig
from ._errors import OrchestratorError
from ._state import restore_rotations, save_rotations
from ._state_store import ManualRequest, StateStore, apply_request
from ._status import OrchestratorStatus, build_status

if TYPE_CHECKING:
    from .redis._connection import RedisClient

#: How long a request waits for a running owner of the state file to apply it.
REQUEST_WAIT = 10.0


def apply_to_state_file(
    config: OrchestratorConfig, store: StateStore, request: ManualRequest
) -> str | None:
    """Apply ``request`` (blocking: up to ``REQUEST_WAIT`` s when another process owns
    the file); returns the backend's current provider afterwards."""
    with store.ownership() as owned:
        if owned:
            rotations = config.new_rotations()
            restored = restore_rotations(store.path, rotations, config.max_cooldowns())
            if request.action == "rotate":
                status = build_status(config, rotations, restored.last, time.time())
                request = dataclasses.replace(
                    request, past=current_provider(status, request.backend)
                )
            apply_request(request, rotations)
            save_rotations(store.path, rotations, restored.last)
    if not owned:
        _hand_to_owner(store, request)
    return current_provider(state_file_status(config, store)[0], request.backend)


def state_file_status(
    config: OrchestratorConfig, store: StateStore
) -> tuple[OrchestratorStatus, tuple[str, ...]]:
    """The status the state file holds now, and the problems met reading it."""
    rotations = config.new_rotations()
    restored = restore_rotations(store.path, rotations, config.max_cooldowns())
    return build_status(config, rotations, restored.last, time.time()), tuple(restored.problems)


def current_provider(status: OrchestratorStatus, backend: str) -> str | None:
    for candidate in status.backends:
        if candidate.name == backend:
            return next((p.name for p in candidate.providers if p.current), None)
    return None


def _hand_to_owner(store: StateStore, request: ManualRequest) -> None:
    owner = store.owner_pid()
    path = store.request(request)
    deadline = time.monotonic() + REQUEST_WAIT
    while path.exists():
        if time.monotonic() > deadline:
            raise OrchestratorError(
                f"Error: process {owner} owns {store.path} but did not take the request "
                f"within {REQUEST_WAIT:.0f} s; it stays queued in {store.requests_dir}"
            )
        time.sleep(0.05)
    time.sleep(0.1)  # the owner saves right after applying; let the file catch up


async def apply_on_redis(
    config: OrchestratorConfig, client: RedisClient, prefix: str, request: ManualRequest
) -> str | None:
    """Apply the change on Redis (atomic there: no owner to ask) and publish it as a
    ``provider_rotated`` event; returns the backend's current provider afterwards."""
    from ._events import ProviderRotated
    from .redis._connection import key_prefix
    from .redis._events import events_key
    from .redis._state import RedisRotationStore

    store = RedisRotationStore(client, config, prefix)
    now = time.time()
    before = (await store.view(request.backend, now)).rotation.current(now)
    if request.action == "rotate":
        request = dataclasses.replace(request, past=before)
    await store.apply(request)
    after = (await store.view(request.backend, now)).rotation.current(now)
    event = ProviderRotated(
        backend=request.backend,
        provider=after,
        from_provider=before,
        reason=f"manual {request.action}",
    )
    await client.xadd(events_key(key_prefix(client, prefix)), {"event": event.model_dump_json()})
    return after
