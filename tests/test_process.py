"""The process runner: explicit env, bounded output, timeouts, group kill, early abort."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from orchestrator import AttemptOutcome, Classification, Stream
from orchestrator._process import RunLimits, TailBuffer, run_process

pytestmark = pytest.mark.anyio

BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}


def is_gone_soon(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` has stopped running, polling up to ``within`` seconds.

    SIGKILL is queued, not synchronous: a grandchild (not ours to wait for)
    may still be scheduled for a moment after ``killpg`` returns, more so on
    a busy machine.
    """
    deadline = time.monotonic() + within
    while is_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


SPAWN_GRANDCHILD = """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(child.pid, flush=True)
    {after}
"""


class MarkerScanner:
    """Returns a usage-limit verdict when ``marker`` appears on stderr."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def feed(self, stream: Stream, text: str) -> Classification | None:
        if stream == "stderr" and self.marker in text:
            return Classification(AttemptOutcome.USAGE_LIMIT, "limit seen")
        return None


async def test_output_and_exit_code() -> None:
    """stdout, stderr and the exit code come back."""
    result = await run_process(
        python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"),
        env=BASE_ENV,
    )
    assert (result.output.stdout, result.output.stderr) == ("out\n", "err\n")
    assert result.output.exit_code == 3
    assert result.output.timed_out is None


async def test_child_sees_exactly_the_given_environment() -> None:
    """The child's environment is the mapping passed in, not os.environ."""
    env = {**BASE_ENV, "PROVIDER_KEY": "k1"}
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    result = await run_process(python(code), env=env)
    seen = json.loads(result.output.stdout)
    seen.pop("LC_CTYPE", None)  # CPython may set it in its own environment (PEP 538)
    marker = seen.pop("ORCHESTRATOR_ATTEMPT")  # names the attempt (finds escaped descendants)
    assert len(marker) == 32
    assert seen == env


async def test_stdin_is_delivered(tmp_path: Path) -> None:
    """Invocation stdin reaches the child; cwd is honoured."""
    code = "import os, sys; print(sys.stdin.read().upper(), os.getcwd())"
    result = await run_process(python(code), env=BASE_ENV, stdin=b"prompt", cwd=tmp_path)
    assert result.output.stdout.split() == ["PROMPT", str(tmp_path)]


async def test_output_is_bounded_to_the_tail() -> None:
    """A flood of output keeps only the configured tail and says it was cut."""
    code = "import sys; sys.stdout.write('x' * 5_000_000 + 'END')"
    limits = RunLimits(stdout_limit=1024)
    result = await run_process(python(code), env=BASE_ENV, limits=limits)
    assert len(result.output.stdout) == 1024
    assert result.output.stdout.endswith("END")
    assert result.output.stdout_truncated


async def test_a_gigabyte_flood_is_held_in_bounded_memory() -> None:
    """1 GiB on stdout and on stderr each: only the tails are kept, memory stays flat."""
    import resource

    flood = "head -c 1073741824 /dev/zero; head -c 1073741824 /dev/zero >&2; echo END"
    limits = RunLimits(stdout_limit=64 * 1024, stderr_limit=64 * 1024)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    result = await run_process(["/bin/sh", "-c", flood], env=BASE_ENV, limits=limits)
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.output.exit_code == 0
    assert result.output.stdout_truncated
    assert len(result.output.stdout) == 64 * 1024
    assert result.output.stdout.endswith("END\n")
    assert len(result.output.stderr) == 64 * 1024
    assert peak_after - peak_before < 64 * 1024  # under 64 MiB more, for 2 GiB read


async def test_total_timeout_kills_the_whole_group() -> None:
    """On the total timeout the child and its grandchild are gone."""
    code = SPAWN_GRANDCHILD.format(after="time.sleep(60)")
    result = await run_process(python(code), env=BASE_ENV, limits=RunLimits(timeout=2))
    assert result.output.timed_out == "total"
    assert is_gone_soon(int(result.output.stdout.split()[0]))
    assert result.duration < 10


async def test_idle_timeout_ends_a_silent_process() -> None:
    """No output for idle_timeout seconds ends the attempt as an idle timeout."""
    code = "import time; print('started', flush=True); time.sleep(60)"
    result = await run_process(python(code), env=BASE_ENV, limits=RunLimits(idle_timeout=1))
    assert result.output.timed_out == "idle"
    assert result.output.stdout == "started\n"
    assert result.duration < 10


async def test_output_keeps_the_idle_timeout_away() -> None:
    """Steady output resets the idle deadline; the process runs to its end."""
    code = "import time\nfor i in range(8):\n    print(i, flush=True); time.sleep(0.25)"
    result = await run_process(python(code), env=BASE_ENV, limits=RunLimits(idle_timeout=1.5))
    assert result.output.timed_out is None
    assert result.output.exit_code == 0


async def test_live_verdict_aborts_at_once() -> None:
    """A marker seen while the process keeps running ends the attempt immediately."""
    code = SPAWN_GRANDCHILD.format(
        after="print('429 rate limit', file=sys.stderr, flush=True); time.sleep(60)"
    )
    result = await run_process(python(code), env=BASE_ENV, scanner=MarkerScanner("rate limit"))
    assert result.verdict is not None
    assert result.verdict.outcome is AttemptOutcome.USAGE_LIMIT
    assert result.duration < 10
    assert is_gone_soon(int(result.output.stdout.split()[0]))


async def test_cancellation_kills_the_group(tmp_path: Path) -> None:
    """Cancelling the caller stops the child and grandchild, then propagates."""
    code = SPAWN_GRANDCHILD.format(after="time.sleep(60)")
    marker = tmp_path / "grandchild.pid"
    code = code.replace(
        "flush=True)", f"flush=True); open({str(marker)!r}, 'w').write(str(child.pid))"
    )
    with anyio.move_on_after(3) as scope:
        await run_process(python(code), env=BASE_ENV)
    assert scope.cancelled_caught
    grandchild = int(marker.read_text())
    assert is_gone_soon(grandchild)


async def test_sigterm_ignoring_child_is_killed_after_grace() -> None:
    """A child that ignores SIGTERM gets SIGKILL after the grace period."""
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('ready', flush=True)
        time.sleep(60)
    """
    limits = RunLimits(timeout=1, kill_grace=0.5)
    result = await run_process(python(code), env=BASE_ENV, limits=limits)
    assert result.output.exit_code == -9
    assert result.duration < 10


async def test_missing_binary_is_a_launch_error() -> None:
    """A command that cannot start is reported, not raised."""
    result = await run_process(["/nonexistent/agent-cli"], env=BASE_ENV)
    assert result.output.exit_code is None
    assert result.output.launch_error is not None
    assert "/nonexistent/agent-cli" in result.output.launch_error


def test_tail_buffer() -> None:
    """The tail buffer keeps the last bytes and counts everything."""
    buffer = TailBuffer(limit=4)
    for chunk in (b"ab", b"cdef", b"g"):
        buffer.append(chunk)
    assert buffer.text() == "defg"
    assert buffer.total == 7
    assert buffer.truncated


async def test_a_directory_as_the_command_says_so(tmp_path: Path) -> None:
    result = await run_process([str(tmp_path)], env=BASE_ENV)
    assert result.output.launch_error == (
        f"cannot start {str(tmp_path)!r}: it is a directory, not a program"
    )
