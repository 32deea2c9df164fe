"""Running one CLI attempt as a child process, for every adapter alike.

The child gets the environment mapping it is given (nothing comes from or
goes to ``os.environ``) plus its attempt's marker (``ORCHESTRATOR_ATTEMPT``, see
``_descendants``), its own session and process group, stdin from the
invocation or /dev/null, and both output streams read concurrently into
bounded buffers that keep the tail. The attempt ends when the process exits,
when the total or idle timeout passes, when the live scanner returns a
verdict (real CLIs retry a 429 silently for minutes), or when the caller is
cancelled. However it ends, the whole process group is stopped like trio's
``deliver_cancel``: SIGTERM, a shielded grace period, SIGKILL, and a wait, so
no process and no zombie is left behind (see ``_child``).
"""

from __future__ import annotations

import codecs
import math
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import anyio

from ._adapter import Classification, LiveScanner, ProcessOutput, Stream
from ._child import Child


@dataclass(frozen=True)
class RunLimits:
    """Bounds on one attempt.

    Attributes:
        timeout: seconds for the whole attempt; None for no limit.
        idle_timeout: seconds without output on either stream; None for no limit.
        kill_grace: seconds between SIGTERM and SIGKILL.
        drain_grace: seconds to keep reading after the process exits (output
            still in the pipes, or a leftover grandchild holding them open).
        stdout_limit: bytes of stdout kept (the tail).
        stderr_limit: bytes of stderr kept (the tail).
    """

    timeout: float | None = None
    idle_timeout: float | None = None
    kill_grace: float = 5.0
    drain_grace: float = 1.0
    stdout_limit: int = 8 * 1024 * 1024
    stderr_limit: int = 256 * 1024


@dataclass
class TailBuffer:
    """Keeps the last ``limit`` bytes written to it and counts the rest."""

    limit: int
    total: int = 0
    _data: bytearray = field(default_factory=bytearray)

    def append(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._data += chunk
        excess = len(self._data) - self.limit
        if excess > 0:
            del self._data[:excess]

    @property
    def truncated(self) -> bool:
        return self.total > len(self._data)

    def text(self) -> str:
        return self._data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class RunResult:
    """The process's output, and the live verdict if one ended it early."""

    output: ProcessOutput
    verdict: Classification | None
    duration: float


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: bytes | None = None,
    limits: RunLimits = RunLimits(),
    scanner: LiveScanner | None = None,
    external: Callable[[], Awaitable[Classification]] | None = None,
) -> RunResult:
    """Run ``argv`` (no shell) to the end, a timeout, a live verdict or cancellation.

    ``external``: awaited alongside the process; a verdict it returns (the
    sentinel's, say) ends the attempt like one from the scanner.

    Cancellation: the process group is stopped (SIGTERM, grace, SIGKILL) under
    a shielded scope, then the cancellation propagates.
    """
    started = anyio.current_time()
    try:
        child = Child.spawn(argv, env=env, cwd=cwd, with_stdin=stdin is not None)
    except OSError as exc:
        reason = _launch_problem(argv[0], exc)
        output = ProcessOutput(None, "", "", launch_error=f"cannot start {argv[0]!r}: {reason}")
        return RunResult(output, None, anyio.current_time() - started)
    async with child.stopped_on_exit(limits.kill_grace):
        attempt = _Attempt(child, limits, scanner, started)
        await attempt.supervise(stdin, external)
    return attempt.result()


def _launch_problem(program: str, exc: OSError) -> str:
    """Why ``program`` could not start, in words (exec says "Permission denied" for a
    directory)."""
    if os.path.isdir(program):
        return "it is a directory, not a program"
    return exc.strerror or type(exc).__name__


class _Attempt:
    """The state of one running child: buffers, deadlines, the live verdict."""

    def __init__(
        self, child: Child, limits: RunLimits, scanner: LiveScanner | None, started: float
    ) -> None:
        self.child = child
        self.limits = limits
        self.scanner = scanner
        self.started = started
        self.total_deadline = started + limits.timeout if limits.timeout else math.inf
        self.buffers = {
            "stdout": TailBuffer(limits.stdout_limit),
            "stderr": TailBuffer(limits.stderr_limit),
        }
        self.verdict: Classification | None = None
        self._open_streams = 2
        self._drained = anyio.Event()
        self.timed_out: Literal["total", "idle"] | None = None
        self.scope = anyio.CancelScope(deadline=self._next_deadline())

    def _next_deadline(self) -> float:
        idle = self.limits.idle_timeout
        idle_deadline = anyio.current_time() + idle if idle else math.inf
        return min(self.total_deadline, idle_deadline)

    async def supervise(
        self,
        stdin: bytes | None,
        external: Callable[[], Awaitable[Classification]] | None = None,
    ) -> None:
        with self.scope:
            async with anyio.create_task_group() as group:
                if external is not None:
                    group.start_soon(self._await_external, external)
                group.start_soon(self._pump, self.child.stdout, "stdout")
                group.start_soon(self._pump, self.child.stderr, "stderr")
                if stdin is not None:
                    group.start_soon(self.child.feed_stdin, stdin)
                await self.child.exited()
                if self._open_streams:
                    with anyio.move_on_after(self.limits.drain_grace):
                        await self._drained.wait()
                group.cancel_scope.cancel()
        if self.scope.cancelled_caught and self.verdict is None:
            self.timed_out = "total" if anyio.current_time() >= self.total_deadline else "idle"

    async def _await_external(self, external: Callable[[], Awaitable[Classification]]) -> None:
        verdict = await external()
        if self.verdict is None:
            self.verdict = verdict
            self.scope.cancel()

    async def _pump(self, pipe: IO[bytes], name: Stream) -> None:
        buffer = self.buffers[name]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await self.child.read(pipe):
            buffer.append(chunk)
            self.scope.deadline = self._next_deadline()
            if self.scanner is not None:
                verdict = self.scanner.feed(name, decoder.decode(chunk))
                if verdict is not None:
                    self.verdict = verdict
                    self.scope.cancel()
        self._open_streams -= 1
        if not self._open_streams:
            self._drained.set()

    def result(self) -> RunResult:
        stdout, stderr = self.buffers["stdout"], self.buffers["stderr"]
        output = ProcessOutput(
            exit_code=self.child.returncode,
            stdout=stdout.text(),
            stderr=stderr.text(),
            stdout_truncated=stdout.truncated,
            timed_out=self.timed_out,
        )
        return RunResult(output, self.verdict, anyio.current_time() - self.started)
