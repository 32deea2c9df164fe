"""A child process in its own group, waited for without a thread per child.

``anyio.open_process`` on asyncio (Python 3.11) starts a watcher thread for
every child, and the event loop blocks until that thread runs: at 32 jobs at
once that thread hand-off costs more than the fork itself. Here the child's
exit is watched through a pidfd (Linux >= 5.3) with ``anyio.wait_readable``,
the same way trio does it, and its pipes are read non-blocking with
``os.read``. Where pidfds are missing, the exit is polled instead.

The leader is reaped only after its group has been signalled, so the group
id cannot have been reused by an unrelated process when it is killed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import IO, ClassVar

import anyio

from ._descendants import ESCAPED_GRACE, MARKER_VARIABLE, end_orphans

#: Seconds between sweeps for escaped descendants (in a subreaper).
ORPHAN_SWEEP_INTERVAL = 1.0

READ_SIZE = 65536
_read = os.read  # one seam, so tests can make reads fail
POLL_INTERVALS = (0.001, 0.005, 0.01, 0.05)  # seconds, when there is no pidfd


def _open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid``, or None where the platform or sandbox has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class Child:
    """A spawned child: its pipes, its exit, and its process group.

    Class-wide, the children of this process are known by pid (never reaped by
    anyone else) and by attempt token (their escaped descendants are left alone
    while they run, see ``_descendants``), and those waiting out their grace
    period can all be killed at once (``hurry``: a second stop signal).
    """

    _leaders: ClassVar[set[int]] = set()
    _running: ClassVar[set[str]] = set()
    _in_grace: ClassVar[set[Child]] = set()
    _hurried: ClassVar[bool] = False

    def __init__(self, popen: subprocess.Popen[bytes], pidfd: int | None, token: str = "") -> None:
        self._popen = popen
        self._pidfd = pidfd
        self.pid = popen.pid
        self.token = token
        Child._leaders.add(self.pid)
        Child._running.add(token)
        for pipe in (popen.stdin, popen.stdout, popen.stderr):
            if pipe is not None:
                os.set_blocking(pipe.fileno(), False)

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        with_stdin: bool,
        open_pidfd: bool = True,
    ) -> Child:
        """Start ``argv`` (never through a shell) in a new session.

        Raises:
            OSError: the program or the working directory could not be used.
        """
        token = uuid.uuid4().hex
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, MARKER_VARIABLE: token},
            cwd=cwd,
            start_new_session=True,
        )
        return cls(popen, _open_pidfd(popen.pid) if open_pidfd else None, token)

    @classmethod
    def hurry(cls) -> int:
        """SIGKILL now every group still in its grace period, and give groups stopped
        from now on no grace (a second stop signal: the process is on its way out).
        Returns how many groups were waiting."""
        cls._hurried = True
        waiting = list(cls._in_grace)
        for child in waiting:
            child.signal_group(signal.SIGKILL)
        return len(waiting)

    @classmethod
    async def end_escaped(cls, grace: float = ESCAPED_GRACE) -> int:
        """End adopted descendants of attempts that are over (subreapers only)."""
        return await end_orphans(cls._running, cls._leaders, 0 if cls._hurried else grace)

    @classmethod
    async def end_escaped_forever(cls) -> None:
        """Every ``ORPHAN_SWEEP_INTERVAL`` seconds, end the adopted descendants of attempts
        that are over: a sweep costs a look at /proc, so it is not done per attempt."""
        while True:
            await anyio.sleep(ORPHAN_SWEEP_INTERVAL)
            await cls.end_escaped()

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped (negative: killed by that signal)."""
        return self._popen.returncode

    @property
    def stdout(self) -> IO[bytes]:
        assert self._popen.stdout is not None
        return self._popen.stdout

    @property
    def stderr(self) -> IO[bytes]:
        assert self._popen.stderr is not None
        return self._popen.stderr

    async def read(self, pipe: IO[bytes]) -> bytes:
        """The next chunk the child writes to ``pipe``; empty at end of file."""
        fd = pipe.fileno()
        while True:
            await anyio.wait_readable(fd)
            try:
                return _read(fd, READ_SIZE)
            except BlockingIOError:
                continue  # readiness without data: wait again
            except OSError:
                return b""  # EIO and the like: nothing more will come

    async def feed_stdin(self, data: bytes) -> None:
        """Write ``data`` to the child's stdin and close it.

        A child that exits or closes stdin before reading it all is not an
        error: what it did with its input is its own business.
        """
        pipe = self._popen.stdin
        assert pipe is not None
        view = memoryview(data)
        try:
            while view:
                await anyio.wait_writable(pipe.fileno())
                try:
                    view = view[os.write(pipe.fileno(), view) :]
                except BlockingIOError:
                    continue
        except BrokenPipeError:
            pass
        finally:
            pipe.close()

    def has_exited(self) -> bool:
        """True once the leader has exited (it stays unreaped, holding its pid)."""
        if self._popen.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True  # reaped by someone else
        return info is not None

    async def exited(self) -> None:
        """Wait until the leader has exited, without reaping it."""
        if self._pidfd is not None:
            await anyio.wait_readable(self._pidfd)  # readable from the exit on
            return
        for interval in itertools.chain(POLL_INTERVALS, itertools.repeat(POLL_INTERVALS[-1])):
            if self.has_exited():
                return
            await anyio.sleep(interval)

    def signal_group(self, signum: signal.Signals) -> None:
        """Send ``signum`` to every process in the child's group."""
        # ProcessLookupError: the group is empty. PermissionError: only zombies
        # are left (some kernels), or a member changed its user id; neither
        # can be signalled further, and this runs in cleanup.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    async def stop_group(self, grace: float) -> None:
        """SIGTERM the group, wait up to ``grace``, SIGKILL whatever is left, reap.

        Also after a clean exit: grandchildren left in the group must not linger.
        """
        if not self.has_exited():
            self.signal_group(signal.SIGTERM)
            Child._in_grace.add(self)
            try:
                with anyio.move_on_after(0 if Child._hurried else grace):
                    await self.exited()
            finally:
                Child._in_grace.discard(self)
        self.signal_group(signal.SIGKILL)
        await self.exited()
        self._popen.wait()
        Child._leaders.discard(self.pid)
        Child._running.discard(self.token)

    def close(self) -> None:
        """Close the pipes and the pidfd (after the tasks using them are done)."""
        for pipe in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
            if pipe is not None:
                pipe.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    @contextlib.asynccontextmanager
    async def stopped_on_exit(self, grace: float) -> AsyncIterator[Child]:
        """Own the child: however the block ends, the group is stopped and reaped."""
        try:
            yield self
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.stop_group(grace)
                finally:
                    self.close()
