"""The child process layer: pidfd and polled exits, pipes, stdin, group stopping."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import anyio
import pytest

from orchestrator import _child
from orchestrator._child import Child

pytestmark = pytest.mark.anyio

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


@pytest.fixture(params=[True, False], ids=["pidfd", "polled"])
def with_pidfd(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


async def read_all(child: Child) -> tuple[bytes, bytes]:
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    async def drain(name: str) -> None:
        pipe = child.stdout if name == "stdout" else child.stderr
        while chunk := await child.read(pipe):
            chunks[name].append(chunk)

    async with anyio.create_task_group() as group:
        group.start_soon(drain, "stdout")
        group.start_soon(drain, "stderr")
    return b"".join(chunks["stdout"]), b"".join(chunks["stderr"])


async def test_exit_status_and_both_streams(with_pidfd: bool) -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    child = Child.spawn(python(code), env=ENV, cwd=None, with_stdin=False, open_pidfd=with_pidfd)
    async with child.stopped_on_exit(grace=1):
        stdout, stderr = await read_all(child)
        await child.exited()
        assert child.has_exited()
    assert (stdout, stderr) == (b"out\n", b"err\n")
    assert child.returncode == 3


async def test_large_stdin_is_written_through_a_full_pipe(with_pidfd: bool) -> None:
    """More than a pipe's buffer: the writer has to wait for the reader."""
    data = os.urandom(1024 * 1024)
    code = "import sys; print(len(sys.stdin.buffer.read()))"
    child = Child.spawn(python(code), env=ENV, cwd=None, with_stdin=True, open_pidfd=with_pidfd)
    async with child.stopped_on_exit(grace=1), anyio.create_task_group() as group:
        group.start_soon(child.feed_stdin, data)
        stdout, _ = await read_all(child)
    assert stdout == f"{len(data)}\n".encode()


async def test_stdin_the_child_never_reads_is_not_an_error() -> None:
    child = Child.spawn(["/bin/true"], env=ENV, cwd=None, with_stdin=True)
    async with child.stopped_on_exit(grace=1):
        await child.exited()
        await child.feed_stdin(b"x" * (1024 * 1024))
    assert child.returncode == 0


async def test_sigterm_ignoring_group_is_killed_after_grace(with_pidfd: bool) -> None:
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('ready', flush=True)
        time.sleep(60)
    """
    child = Child.spawn(python(code), env=ENV, cwd=None, with_stdin=False, open_pidfd=with_pidfd)
    async with child.stopped_on_exit(grace=0.2):
        assert await child.read(child.stdout) == b"ready\n"  # SIGTERM is ignored from now
    assert child.returncode == -signal.SIGKILL


async def test_a_platform_without_pidfds_falls_back_to_polling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    child = Child.spawn(["/bin/true"], env=ENV, cwd=None, with_stdin=False)
    assert child._pidfd is None
    async with child.stopped_on_exit(grace=1):
        await child.exited()
    assert child.returncode == 0


async def test_a_child_reaped_elsewhere_counts_as_exited() -> None:
    child = Child.spawn(["/bin/true"], env=ENV, cwd=None, with_stdin=False)
    async with child.stopped_on_exit(grace=1):
        os.waitpid(child.pid, 0)  # noqa: ASYNC222 - somebody else's SIGCHLD handler, say
        assert child.has_exited()


async def test_reading_survives_a_spurious_wake_up_and_ends_on_a_read_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A readiness without data (try again), then EIO and the like (the end).
    outcomes: list[bytes | type[OSError]] = [b"first", BlockingIOError, b"second", OSError]

    def fake_read(fd: int, size: int) -> bytes:
        outcome = outcomes.pop(0)
        if isinstance(outcome, bytes):
            return outcome
        raise outcome

    child = Child.spawn(["/bin/echo", "real"], env=ENV, cwd=None, with_stdin=False)
    async with child.stopped_on_exit(grace=1):
        await child.exited()
        monkeypatch.setattr(_child, "_read", fake_read)
        chunks = [await child.read(child.stdout) for _ in range(3)]
        monkeypatch.undo()
    assert chunks == [b"first", b"second", b""]
    assert not outcomes
