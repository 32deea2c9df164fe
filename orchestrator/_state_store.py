"""The state file shared by ``run``, ``worker``, ``status`` and ``providers``.

One process at a time owns the state file: it holds an exclusive ``flock`` on
``<state>.lock`` for as long as it runs (the kernel releases it when the
process dies, however it dies) and is the only one that writes the file.
Everybody else reads it; the file is replaced atomically, so a reader sees
one whole snapshot.

A manual change from the shell (``providers rotate``/``reset``) while an owner
runs cannot write the file, since the owner would overwrite it. It drops a
request file into ``<state>.requests/`` instead; the owner applies requests
in order and removes them. With no owner running, the command takes
ownership for a moment and changes the file itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ._atomic import write_atomic
from ._errors import OrchestratorError
from ._rotation import ProviderRotation

STATE_FILE_VARIABLE = "ORCHESTRATOR_STATE_FILE"

Action = Literal["rotate", "reset"]
ACTIONS: tuple[Action, ...] = ("rotate", "reset")


def default_state_file(config_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """``$ORCHESTRATOR_STATE_FILE``, else the state file of this configuration.

    That is ``$XDG_STATE_HOME/provider-orchestrator/<config dir name>-<hash>/
    state.json``: two configurations that both name a backend ``qwen`` (and a
    provider ``main``) are different accounts, and a limit on one must not
    cool down the other. The single shared file of earlier versions is
    copied in on first use, so no configuration loses its state. The command
    line and :func:`orchestrator.get_llm_backend_manager` share it.
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get(STATE_FILE_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    base = Path(environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    home = base / "provider-orchestrator"
    where = config_dir.expanduser().resolve()
    digest = hashlib.sha256(str(where).encode()).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", where.name)[:40] or "config"
    path = home / f"{name}-{digest}" / "state.json"
    _copy_shared_state(home / "state.json", path)
    return path


def _copy_shared_state(shared: Path, path: Path) -> None:
    """Start from the shared file of earlier versions (kept as it is), once."""
    if path.exists() or not shared.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, shared.read_bytes())


class StateInUseError(OrchestratorError):
    """Another process owns the state file (for a command that needs it alone)."""

    exit_code = 2


@dataclass(frozen=True)
class ManualRequest:
    """``providers rotate|reset BACKEND`` handed to the process that owns the state.

    ``past``: for a rotate, the provider jobs started on when it was made: the rotation
    moves to the one after it. The pointer alone can stand on a cooling provider that
    jobs already skip, and moving it from there would change nothing anyone can see.
    """

    action: Action
    backend: str
    past: str | None = None


class StateStore:
    """Where the rotation state lives, who owns it, and how others reach the owner."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.requests_dir = path.with_name(path.name + ".requests")
        self._lock_fd: int | None = None

    @property
    def owned(self) -> bool:
        return self._lock_fd is not None

    def try_own(self) -> bool:
        """Take ownership if nobody has it; True when this process owns the file."""
        if self._lock_fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        with contextlib.suppress(OSError):  # the pid is for messages; a full disk is no reason
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return True

    def release(self) -> None:
        """Give ownership up (closing the descriptor drops the lock)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextmanager
    def ownership(self) -> Iterator[bool]:
        """Own the file for the block if nobody else does; yields whether it is owned."""
        owned = self.try_own()
        try:
            yield owned
        finally:
            if owned:
                self.release()

    def owner_pid(self) -> int | None:
        """The pid of the process owning the file, None when nobody does."""
        if self.owned:
            return os.getpid()
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.read(fd, 32).decode(errors="replace").strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def request(self, request: ManualRequest) -> Path:
        """Leave ``request`` for the owner; returns the file, gone once applied."""
        self.requests_dir.mkdir(parents=True, exist_ok=True)
        # Names sort in submission order: nanoseconds, then a tie-breaker.
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        path = self.requests_dir / name
        data = json.dumps({"action": request.action, "backend": request.backend})
        write_atomic(path, data.encode())
        return path

    def take_requests(self) -> list[ManualRequest]:
        """The waiting requests in order, removed from the directory (owner only)."""
        try:
            names = sorted(
                name for name in os.listdir(self.requests_dir) if not name.startswith(".")
            )
        except OSError:  # none yet, or unreadable: nothing to apply now
            return []
        requests = []
        for name in names:
            path = self.requests_dir / name
            try:
                data = json.loads(path.read_bytes())
                request = ManualRequest(action=data["action"], backend=data["backend"])
                if request.action not in ACTIONS or not isinstance(request.backend, str):
                    raise ValueError(request.action)
            except (OSError, ValueError, KeyError, TypeError):
                request = None  # not ours, or torn: removed below, never retried forever
            path.unlink(missing_ok=True)
            if request is not None:
                requests.append(request)
        return requests


def apply_request(request: ManualRequest, rotations: dict[str, ProviderRotation]) -> bool:
    """Apply a manual rotate/reset; False when the backend is unknown."""
    rotation = rotations.get(request.backend)
    if rotation is None:
        return False
    if request.action == "rotate":
        rotation.rotate_past(request.past)
    else:
        rotation.reset()
    return True
