"""Running one CLI attempt as a child process, for every adapter alike.

The child gets the environment mapping it is given (nothing comes from or
goes to ``os.environ``), its own session and process group, stdin from the
invocation or /dev/null, and both output streams read concurrently into
bounded buffers that keep the tail. The attempt ends when the process exits,
when the total or idle timeout passes, when the live scanner returns a
verdict (real CLIs retry a 429 silently for minutes), or when the caller is
cancelled. However it ends, the whole process group is stopped like trio's
``deliver_cancel``: SIGTERM, a shielded grace period, SIGKILL, and a wait, so
no process and no zombie is left behind.
"""

from __future__ import annotations

import codecs
import contextlib
import math
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
from anyio.abc import ByteReceiveStream, Process

from ._adapter import Classification, LiveScanner, ProcessOutput, Stream

READ_SIZE = 65536


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
) -> RunResult:
    """Run ``argv`` (no shell) to the end, a timeout, a live verdict or cancellation.

    Cancellation: the process group is stopped (SIGTERM, grace, SIGKILL) under
    a shielded scope, then the cancellation propagates.
    """
    started = anyio.current_time()
    try:
        process = await anyio.open_process(
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        output = ProcessOutput(None, "", "", launch_error=f"cannot start {argv[0]!r}: {reason}")
        return RunResult(output, None, anyio.current_time() - started)
    attempt = _Attempt(process, limits, scanner, started)
    try:
        await attempt.supervise(stdin)
    finally:
        with anyio.CancelScope(shield=True):
            await _stop_group(process, limits.kill_grace)
            await process.aclose()
    return attempt.result()


class _Attempt:
    """The state of one running child: buffers, deadlines, the live verdict."""

    def __init__(
        self, process: Process, limits: RunLimits, scanner: LiveScanner | None, started: float
    ) -> None:
        self.process = process
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

    async def supervise(self, stdin: bytes | None) -> None:
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        with self.scope:
            async with anyio.create_task_group() as group:
                group.start_soon(self._pump, self.process.stdout, "stdout")
                group.start_soon(self._pump, self.process.stderr, "stderr")
                if stdin is not None:
                    group.start_soon(self._feed, stdin)
                await self.process.wait()
                if self._open_streams:
                    with anyio.move_on_after(self.limits.drain_grace):
                        await self._drained.wait()
                group.cancel_scope.cancel()
        if self.scope.cancelled_caught and self.verdict is None:
            self.timed_out = "total" if anyio.current_time() >= self.total_deadline else "idle"

    async def _pump(self, stream: ByteReceiveStream, name: Stream) -> None:
        buffer = self.buffers[name]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        async for chunk in stream:
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

    async def _feed(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            await self.process.stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the child exited or closed stdin without reading it all
        finally:
            await self.process.stdin.aclose()

    def result(self) -> RunResult:
        stdout, stderr = self.buffers["stdout"], self.buffers["stderr"]
        output = ProcessOutput(
            exit_code=self.process.returncode,
            stdout=stdout.text(),
            stderr=stderr.text(),
            stdout_truncated=stdout.truncated,
            timed_out=self.timed_out,
        )
        return RunResult(output, self.verdict, anyio.current_time() - self.started)


async def _stop_group(process: Process, grace: float) -> None:
    """SIGTERM the group, wait up to ``grace``, SIGKILL whatever is left, reap."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        with anyio.move_on_after(grace):
            await process.wait()
    # Also after a clean exit: grandchildren left in the group must not linger.
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # ProcessLookupError: the group is already empty.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)
