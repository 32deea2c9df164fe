"""Descendants that leave their attempt's process group are still ended.

A CLI's helper that calls ``setsid`` (or double-forks into a new session)
escapes ``killpg``: it would outlive every timeout. So the processes that run
attempts for a living (``orchestrator run`` and ``worker``) become *child
subreapers* (``prctl(PR_SET_CHILD_SUBREAPER)``): an orphaned descendant of any
attempt is re-parented to them instead of to init. Every attempt's child
carries a marker in its environment (``ORCHESTRATOR_ATTEMPT=<token>``), which
descendants inherit. When an attempt is over, the adopted orphans whose
marker names no running attempt get SIGTERM, a short grace, then SIGKILL, and
are reaped; so are adopted orphans that already exited (zombies).

A library user's process is left alone unless it calls ``become_subreaper``:
adopting orphans is a choice for the whole process. Where there is no
``/proc`` or no prctl, this is a no-op and escaped descendants are not found.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import signal
from collections.abc import Collection, Container

import anyio

#: The environment variable naming the attempt a process belongs to.
MARKER_VARIABLE = "ORCHESTRATOR_ATTEMPT"
_PR_SET_CHILD_SUBREAPER = 36
#: Seconds an escaped descendant gets between SIGTERM and SIGKILL (at most the attempt's grace).
ESCAPED_GRACE = 1.0

_subreaper = False


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux); True when it now does."""
    global _subreaper
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        _subreaper = False
    return _subreaper


def is_subreaper() -> bool:
    return _subreaper


def adopted_children(known: Container[int]) -> list[tuple[int, bool]]:
    """This process's children not in ``known``, each with whether it has exited (a zombie).

    From ``/proc/self/task/*/children`` where the kernel has it, else from every
    process's ``stat`` (a scan: callers run this in a worker thread).
    """
    pids = _children_listed() if _HAS_CHILDREN_FILES else _children_scanned()
    return [(pid, not _alive(pid)) for pid in pids if pid not in known]


def _children_listed() -> set[int]:
    pids: set[int] = set()
    for task in glob.glob("/proc/self/task/*/children"):
        try:
            with open(task, "rb") as children:
                pids.update(int(pid) for pid in children.read().split())
        except OSError:
            continue  # the thread ended meanwhile
    return pids


def _children_scanned() -> set[int]:
    me = os.getpid()
    pids: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 1 and int(fields[1]) == me:
            pids.add(int(name))
    return pids


_HAS_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def attempt_of(pid: int) -> str | None:
    """The attempt token in ``pid``'s environment; None without one (or unreadable)."""
    prefix = f"{MARKER_VARIABLE}=".encode()
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            variables = environ.read().split(b"\0")
    except OSError:
        return None
    for variable in variables:
        if variable.startswith(prefix):
            return variable[len(prefix) :].decode(errors="replace")
    return None


async def end_orphans(running: Container[str], known: Collection[int], grace: float) -> int:
    """Stop and reap adopted orphans of attempts that are over; returns how many were ended.

    Args:
        running: tokens of attempts still running (their orphans are left alone).
        known: pids this process waits for itself (attempt leaders), never reaped here.
        grace: seconds between SIGTERM and SIGKILL.
    """
    if not _subreaper:
        return 0
    ended = 0
    for _ in range(16):  # each round's kills may orphan their own children
        victims = []
        for pid, exited in await anyio.to_thread.run_sync(adopted_children, frozenset(known)):
            if pid in known:  # an attempt started (and maybe ended) while we looked:
                continue  # its leader is waited for by its own Child, never reaped here
            if exited:
                _reap(pid)
                continue
            token = attempt_of(pid)
            if token is not None and token not in running:
                victims.append(pid)
        if not victims:
            return ended
        ended += len(victims)
        await _terminate(victims, grace)
    return ended


async def _terminate(pids: list[int], grace: float) -> None:
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    with anyio.move_on_after(grace):
        await _exited(pids)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    with anyio.move_on_after(1.0):
        await _exited(pids)
    for pid in pids:
        _reap(pid)


async def _exited(pids: list[int]) -> None:
    """Until every one of ``pids`` (children of ours: their pids are not reused
    before they are reaped) has exited."""
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            while _alive(pid):  # noqa: ASYNC110 - no pidfd here: polling is all there is
                await anyio.sleep(0.01)
            continue
        try:
            await anyio.wait_readable(fd)
        finally:
            os.close(fd)


def _alive(pid: int) -> bool:
    """Running (not yet a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
