"""The attempt loop with fake CLIs: rotation, fallback, cooldowns, retries, fail-fast, isolation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
import pytest

from orchestrator import Adapter, Job, JobMode, load_config
from orchestrator._events import (
    AttemptFinished,
    AttemptStarted,
    BackendFellBack,
    Event,
    EventBus,
    ProviderCooledDown,
    ProviderRotated,
)
from orchestrator._status import build_status
from orchestrator._supervisor import Supervisor, SupervisorSettings

from .conftest import WriteConfig
from .fakes.config_text import backend, provider

pytestmark = pytest.mark.anyio

E = TypeVar("E")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Collects every event published while a test runs."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.bus = EventBus()
        original = self.bus.publish

        def publish(event: Event) -> None:
            self.events.append(event)
            original(event)

        self.bus.publish = publish  # type: ignore[method-assign]

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]


def supervisor(
    directory: Path, clock: Clock | None = None, **settings: Any
) -> tuple[Supervisor, Recorder]:
    recorder = Recorder()
    config = load_config(directory, environ={})
    return (
        Supervisor(
            config,
            bus=recorder.bus,
            settings=SupervisorSettings(**settings),
            clock=clock or Clock(),
        ),
        recorder,
    )


async def test_rotates_in_configured_order(write_config: WriteConfig) -> None:
    """Limited providers are left in the order the config lists them; the answer comes from c."""
    directory = write_config(
        backend("agent", ["a", "b", "c"]),
        provider("agent", "c") + provider("agent", "b", "limit") + provider("agent", "a", "limit"),
    )
    sup, recorder = supervisor(directory)
    result = await sup.run_job(Job(prompt="hello"))
    assert result.status == "succeeded"
    assert (result.provider, result.output) == ("c", "c: hello")
    assert [(a.provider, a.outcome.value) for a in result.attempts] == [
        ("a", "usage_limit"), ("b", "usage_limit"), ("c", "success"),
    ]  # fmt: skip
    rotated = recorder.of(ProviderRotated)
    assert [(e.from_provider, e.provider) for e in rotated] == [("a", "b"), ("b", "c")]
    assert {e.provider for e in recorder.of(ProviderCooledDown)} == {"a", "b"}


async def test_falls_back_to_next_backend(write_config: WriteConfig) -> None:
    """When every provider of the first backend is limited, the next backend answers."""
    directory = write_config(
        backend("first", ["a"]) + backend("second", ["z"])
        + '[message_backend]\norder = ["first", "second"]\n',
        provider("first", "a", "limit") + provider("second", "z"),
    )  # fmt: skip
    sup, recorder = supervisor(directory)
    result = await sup.run_job(Job(prompt="hi"))
    assert (result.status, result.backend, result.provider) == ("succeeded", "second", "z")
    assert [(e.from_backend, e.backend) for e in recorder.of(BackendFellBack)] == [
        ("first", "second")
    ]


async def test_cooldown_skip_and_recovery(write_config: WriteConfig) -> None:
    """A limited provider is skipped until its cooldown ends, then tried first again."""
    directory = write_config(
        backend("agent", ["a", "b"]), provider("agent", "a", "limit") + provider("agent", "b")
    )
    clock = Clock()
    sup, _ = supervisor(directory, clock, default_cooldown=300)
    first = await sup.run_job(Job(prompt="1"))
    assert [a.provider for a in first.attempts] == ["a", "b"]
    second = await sup.run_job(Job(prompt="2"))
    assert [a.provider for a in second.attempts] == ["b"]
    clock.now += 300
    third = await sup.run_job(Job(prompt="3"))
    assert [a.provider for a in third.attempts] == ["a", "b"]


async def test_announced_wait_sets_the_cooldown(write_config: WriteConfig) -> None:
    """A limit that says when it resets cools the provider down for exactly that long."""
    directory = write_config(
        backend("agent", ["a", "b"]),
        provider("agent", "a", "limit", FAKE_RETRY_AFTER="42") + provider("agent", "b"),
    )
    sup, recorder = supervisor(directory, default_cooldown=300)
    result = await sup.run_job(Job(prompt="x"))
    cooled = recorder.of(ProviderCooledDown)[0]
    assert cooled.until == 1_000 + 42
    assert cooled.job_id == result.job_id  # the job whose attempt met the limit
    assert result.attempts[0].retry_after == 42


async def test_limit_retries_on_same_provider(write_config: WriteConfig) -> None:
    """usage_limit_retry_count retries the same provider before rotating."""
    directory = write_config(
        backend(
            "agent", ["a", "b"], usage_limit_retry_count="2", usage_limit_retry_wait_seconds="0.01"
        ),
        provider("agent", "a", "limit") + provider("agent", "b"),
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert [a.provider for a in result.attempts] == ["a", "a", "a", "b"]


async def test_an_unrecognised_error_moves_on_without_a_cooldown(write_config: WriteConfig) -> None:
    """An error no rule knows costs one attempt: the next provider answers, a is not cooled."""
    directory = write_config(
        backend("agent", ["a", "b"]), provider("agent", "a", "fail") + provider("agent", "b")
    )
    sup, recorder = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert result.status == "succeeded"
    assert [(a.provider, a.outcome.value) for a in result.attempts] == [
        ("a", "failure"),
        ("b", "success"),
    ]
    assert "the task makes no sense" in result.attempts[0].message
    assert recorder.of(ProviderCooledDown) == []


async def test_a_rejected_job_fails_fast(write_config: WriteConfig) -> None:
    """A CLI that refuses the job's options ends the job after one attempt."""
    directory = write_config(
        backend("agent", ["a", "b"]), provider("agent", "a", "reject") + provider("agent", "b")
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert result.status == "failed"
    assert [a.outcome.value for a in result.attempts] == ["rejected"]
    assert "unknown option" in (result.error or "")


async def test_everything_limited_ends(write_config: WriteConfig) -> None:
    """With every provider of every backend limited, the job fails once, naming the recovery."""
    directory = write_config(
        backend("first", ["a"]) + backend("second", ["b"]),
        provider("first", "a", "limit") + provider("second", "b", "limit"),
    )
    sup, _ = supervisor(directory, default_cooldown=120)
    with anyio.fail_after(30):
        result = await sup.run_job(Job(prompt="x"))
        again = await sup.run_job(Job(prompt="y"))
    assert result.status == "failed"
    assert "first to recover" in (result.error or "")
    assert again.status == "failed"
    assert again.attempts == ()


async def test_live_limit_aborts_attempt(write_config: WriteConfig) -> None:
    """A limit printed while the CLI keeps retrying ends that attempt at once."""
    directory = write_config(
        backend("agent", ["a", "b"]), provider("agent", "a", "limit_live") + provider("agent", "b")
    )
    sup, _ = supervisor(directory)
    with anyio.fail_after(20):
        result = await sup.run_job(Job(prompt="x"))
    assert result.provider == "b"
    assert result.attempts[0].duration < 10


async def test_idle_timeout_rotates(write_config: WriteConfig) -> None:
    """A silent CLI is ended by the job's idle timeout and the next provider answers."""
    directory = write_config(
        backend("agent", ["a", "b"]), provider("agent", "a", "hang") + provider("agent", "b")
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x", idle_timeout=1))
    assert [a.outcome.value for a in result.attempts] == ["timeout", "success"]


async def test_total_timeout_fails_the_job(write_config: WriteConfig) -> None:
    """The job's timeout covers all attempts and ends it as failed."""
    directory = write_config(
        backend("agent", ["a", "b"]), provider("agent", "a", "hang") + provider("agent", "b")
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x", timeout=1))
    assert result.status == "failed"
    assert "timed out" in (result.error or "")
    assert len(result.attempts) == 1
    assert (result.backend, result.provider) == ("agent", "a")  # where it failed last


async def test_a_job_ends_by_its_timeout_even_when_its_cli_ignores_sigterm(
    write_config: WriteConfig,
) -> None:
    """The kill grace comes out of the job's time: SIGTERM a quarter of the timeout (at most
    the grace) before the end, SIGKILL at it; 2 s, not 2 s + the 5 s grace."""
    directory = write_config(
        backend("agent", ["stubborn"]),
        '[agent.stubborn]\ncommand = "/bin/sh"\nargs = ["-c", "trap \'\' TERM; sleep 60"]\n',
    )
    sup, _ = supervisor(directory, kill_grace=5.0)
    started = anyio.current_time()
    result = await sup.run_job(Job(prompt="x", timeout=2))
    took = anyio.current_time() - started
    assert result.status == "failed"
    assert "timed out after 2" in (result.error or "")
    assert took < 4.5, took  # 7 s before: the grace came on top


async def test_an_answer_longer_than_the_kept_tail_says_it_was_cut(
    write_config: WriteConfig,
) -> None:
    from orchestrator.cli._render import render_result

    flood = "head -c 9000000 /dev/zero | tr '\\\\0' x; echo; echo the end"
    directory = write_config(
        backend("agent", ["big"]) + backend("calm", ["a"]),
        f'[agent.big]\ncommand = "/bin/sh"\nargs = ["-c", "{flood}"]\n' + provider("calm", "a"),
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert result.status == "succeeded", result.error
    assert result.output_truncated
    assert result.attempts[-1].stdout_truncated
    assert result.output.rstrip().endswith("the end")
    assert "output cut (only the CLI's last 8 MiB were kept)" in render_result(result)
    calm = await sup.run_job(Job(prompt="x", backend="calm"))
    assert not calm.output_truncated
    assert "output cut" not in render_result(calm)


async def test_a_jobs_model_is_not_handed_to_a_fallback_cli_of_another_kind(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    """A qwen job with a qwen model, limited, falls back to gemini: gemini runs with its
    own model (or the job's ``models`` entry for it), never ``-m qwen3-max``."""
    import json

    argv_log = tmp_path / "argv.log"

    def cli(backend_name: str, name: str) -> str:
        return provider(backend_name, name, "limit", FAKE_ARGV_LOG=str(argv_log))

    directory = write_config(
        '[backends.qwen]\nproviders = ["q"]\nmodel = "qwen3-coder-plus"\n'
        "usage_limit_cooldown_seconds = 0\n"
        '[backends.qwen-azure]\nbackend_type = "qwen"\nproviders = ["qa"]\n'
        "usage_limit_cooldown_seconds = 0\n"
        '[backends.gemini]\nproviders = ["g"]\nmodel = "gemini-2.5-pro"\n'
        "usage_limit_cooldown_seconds = 0\n"
        '[message_backend]\ndefault = "qwen"\norder = ["qwen", "qwen-azure", "gemini"]\n',
        cli("qwen", "q") + cli("qwen-azure", "qa") + cli("gemini", "g"),
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x", model="qwen3-max"))
    assert [(a.backend, a.model) for a in result.attempts] == [
        ("qwen", "qwen3-max"),
        ("qwen-azure", "qwen3-max"),  # the same kind of CLI: the job's model holds
        ("gemini", "gemini-2.5-pro"),
    ]
    runs = [json.loads(line) for line in argv_log.read_text().splitlines()]
    assert "qwen3-max" not in runs[2]
    assert runs[2][runs[2].index("-m") + 1] == "gemini-2.5-pro"
    chosen = await sup.run_job(
        Job(prompt="x", model="qwen3-max", models={"gemini": "gemini-2.5-flash"})
    )
    assert chosen.attempts[-1].model == "gemini-2.5-flash"
    unknown = await sup.run_job(Job(prompt="x", models={"gemeni": "m"}))
    assert unknown.attempts == ()
    assert "field 'models': no backend 'gemeni'" in (unknown.error or "")


async def test_unusable_providers_are_skipped_and_never_block_a_job(
    write_config: WriteConfig,
) -> None:
    """A provider whose ${VAR} is unset is skipped; a fallback backend whose only provider
    is unusable does not stop a job on the first backend; status says why."""
    from orchestrator._status import build_status

    directory = write_config(
        backend("agent", ["broken", "good"])
        + backend("spare", ["gone"])
        + '[message_backend]\ndefault = "agent"\norder = ["agent", "spare"]\n',
        provider("agent", "broken", API_KEY="${UNSET_KEY}")
        + provider("agent", "good")
        + provider("spare", "gone", API_KEY="${ALSO_UNSET}"),
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert (result.status, result.provider) == ("succeeded", "good")
    assert [a.provider for a in result.attempts] == ["good"]
    status = build_status(sup.config, sup.config.new_rotations(), (None, None, None), 0.0)
    broken = status.backends[0].providers[0]
    assert (broken.name, broken.unusable, broken.current) == ("broken", "UNSET_KEY not set", False)
    assert status.backends[0].providers[1].current
    from orchestrator.cli._state_commands import _status_row

    assert "unusable: UNSET_KEY not set" in _status_row(1, broken)


async def test_secrets_stay_out_of_results(write_config: WriteConfig) -> None:
    """A CLI echoing its key in an error leaves only *** in the result."""
    directory = write_config(
        backend("agent", ["a"]),
        provider("agent", "a", "fail", API_TOKEN="tok-very-secret", FAKE_ECHO="tok-very-secret"),
    )
    sup, recorder = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert any("***" in line for line in result.attempts[0].stderr_tail)
    assert "tok-very-secret" not in result.model_dump_json()
    assert all("tok-very-secret" not in e.model_dump_json() for e in recorder.events)


async def test_concurrent_jobs_see_only_their_provider(write_config: WriteConfig) -> None:
    """200 concurrent jobs over 3 providers: each child sees its own key and none of the others'."""
    names = ["p1", "p2", "p3"]
    keys = {name: f"KEY_{name.upper()}" for name in names}
    llm = "".join(backend(f"b{n}", [name]) for n, name in enumerate(names))
    metadata = "".join(
        provider(
            f"b{n}",
            name,
            **{
                keys[name]: f"secret-{name}",
                "FAKE_FORBIDDEN": ",".join(k for o, k in keys.items() if o != name),
            },
        )
        for n, name in enumerate(names)
    )
    sup, _ = supervisor(write_config(llm, metadata))
    results = []
    limiter = anyio.CapacityLimiter(32)

    async def one(index: int) -> None:
        async with limiter:
            results.append(await sup.run_job(Job(prompt=str(index), backend=f"b{index % 3}")))

    async with anyio.create_task_group() as group:
        for index in range(200):
            group.start_soon(one, index)
    assert len(results) == 200
    assert all(r.status == "succeeded" for r in results), [r.error for r in results if r.error]
    for result in results:
        assert (
            result.output == f"{result.provider}: {result.job_id and result.output.split(': ')[1]}"
        )
        assert result.provider == names[int(result.output.split(": ")[1]) % 3]


async def test_backend_cooldown_setting(write_config: WriteConfig) -> None:
    """usage_limit_cooldown_seconds sets the cooldown when the CLI announces none."""
    directory = write_config(
        backend("agent", ["a", "b"], usage_limit_cooldown_seconds="60"),
        provider("agent", "a", "limit") + provider("agent", "b"),
    )
    sup, recorder = supervisor(directory, default_cooldown=300)
    await sup.run_job(Job(prompt="x"))
    assert recorder.of(ProviderCooledDown)[0].until == 1_000 + 60


@pytest.mark.parametrize("announced", ["1e400", "99999999999", "inf"])
async def test_an_absurd_announced_wait_is_capped(
    write_config: WriteConfig, announced: str
) -> None:
    """A wait of centuries (or Infinity) cools the provider for max_cooldown_seconds only."""
    directory = write_config(
        backend("agent", ["a", "b"], max_cooldown_seconds="3600"),
        provider("agent", "a", "limit", FAKE_RETRY_AFTER=announced) + provider("agent", "b"),
    )
    sup, recorder = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert result.provider == "b"
    (cooled,) = recorder.of(ProviderCooledDown)
    assert cooled.until <= 1_000 + 3600


async def peak_attempts(sup: Supervisor, recorder: Recorder, jobs: int) -> int:
    async with anyio.create_task_group() as group:
        for index in range(jobs):
            group.start_soon(sup.run_job, Job(prompt=str(index), idle_timeout=30))
    running = peak = 0
    for event in recorder.events:
        if isinstance(event, AttemptStarted):
            running += 1
            peak = max(peak, running)
        elif isinstance(event, AttemptFinished):
            running -= 1
    return peak


async def test_provider_concurrency_limit(write_config: WriteConfig) -> None:
    """A provider's max_concurrency caps its simultaneous attempts."""
    directory = write_config(
        backend("agent", ["a"]), provider("agent", "a") + "max_concurrency = 2\n"
    )
    sup, recorder = supervisor(directory)
    assert await peak_attempts(sup, recorder, 6) == 2


async def test_backend_concurrency_limit(write_config: WriteConfig) -> None:
    """A backend's max_concurrency caps its simultaneous attempts across providers."""
    directory = write_config(backend("agent", ["a"], max_concurrency="3"), provider("agent", "a"))
    sup, recorder = supervisor(directory)
    assert await peak_attempts(sup, recorder, 8) == 3


@pytest.mark.parametrize("max_wait", [0, 2])
async def test_waiting_for_a_cooling_provider(write_config: WriteConfig, max_wait: float) -> None:
    """With nothing else left, a job waits up to max_cooldown_wait (in all) for recoveries."""
    directory = write_config(
        backend("agent", ["a"], usage_limit_cooldown_seconds="0.3"),
        provider("agent", "a", "limit"),
    )
    config = load_config(directory, environ={})
    sup = Supervisor(
        config,
        settings=SupervisorSettings(max_cooldown_wait=max_wait),
        clock=anyio.current_time,
    )
    first = await sup.run_job(Job(prompt="1"))  # limits "a" for 0.3 s
    started = anyio.current_time()
    second = await sup.run_job(Job(prompt="2"))
    waited = anyio.current_time() - started
    if max_wait:  # a provider that stays limited: tried after each reset, within the budget
        assert {a.provider for a in second.attempts} == {"a"}
        assert 2 <= len(second.attempts) <= max_wait / 0.3 + 1
        assert max_wait - 0.3 <= waited < max_wait + 5
    else:
        assert second.attempts == ()
        assert "first to recover" in (second.error or "")
    assert first.status == second.status == "failed"


async def test_a_short_announced_wait_is_waited_out_on_the_same_provider(
    write_config: WriteConfig,
) -> None:
    """A throttle announcing a wait under throttle_wait_seconds is retried in place, twice."""
    directory = write_config(
        backend("agent", ["a", "b"], throttle_wait_seconds="2"),
        provider("agent", "a", "limit", FAKE_RETRY_AFTER="0.1") + provider("agent", "b"),
    )
    sup, recorder = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert [a.provider for a in result.attempts] == ["a", "a", "a", "b"]
    assert result.provider == "b"
    assert [c.provider for c in recorder.of(ProviderCooledDown)] == ["a"]


async def test_a_long_announced_wait_rotates_at_once(write_config: WriteConfig) -> None:
    """A limit announcing more than throttle_wait_seconds is not waited for."""
    directory = write_config(
        backend("agent", ["a", "b"], throttle_wait_seconds="2"),
        provider("agent", "a", "limit", FAKE_RETRY_AFTER="60") + provider("agent", "b"),
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x"))
    assert [a.provider for a in result.attempts] == ["a", "b"]


async def test_a_busy_provider_gets_a_short_cooldown(write_config: WriteConfig) -> None:
    """A server error or overload cools the provider for busy_cooldown_seconds."""
    directory = write_config(
        backend("agent", ["a", "b"], busy_cooldown_seconds="45"),
        provider("agent", "a", "fail", FAKE_ECHO="Error: 503 Service Unavailable")
        + provider("agent", "b"),
    )
    clock = Clock()
    sup, recorder = supervisor(directory, clock)
    result = await sup.run_job(Job(prompt="x"))
    assert result.attempts[0].outcome.value == "transient_error"
    (cooled,) = recorder.of(ProviderCooledDown)
    assert (cooled.provider, cooled.until) == ("a", clock.now + 45)


async def test_a_silent_cli_ends_by_its_adapters_default_idle_timeout(
    write_config: WriteConfig,
) -> None:
    """With no idle timeout in the job or backend, the adapter's default ends a hung attempt."""
    from adapters.generic import CliAdapter
    from orchestrator import load_adapter

    quick = cast(Adapter, CliAdapter(name="generic", binary=None, default_idle_timeout=1.0))
    directory = write_config(
        backend("agent", ["a", "b"]), provider("agent", "a", "hang") + provider("agent", "b")
    )
    sup = Supervisor(
        load_config(directory, environ={}),
        adapter_loader=lambda name: quick if name == "generic" else load_adapter(name),
    )
    with anyio.fail_after(30):
        result = await sup.run_job(Job(prompt="x"))
    assert [a.outcome.value for a in result.attempts] == ["timeout", "success"]
    assert "idle" in result.attempts[0].message


def test_idle_timeout_comes_from_the_job_then_the_backend_then_the_adapter() -> None:
    """The job's idle timeout wins, then the backend's; 0 at either level means none."""
    from adapters.claude import ADAPTER
    from orchestrator import BackendConfig

    CLAUDE = cast(Adapter, ADAPTER)
    default, tight, off = (BackendConfig(name="claude", idle_timeout=t) for t in (None, 30, 0))
    choose = Supervisor._idle_timeout
    assert choose(Job(prompt="x"), default, CLAUDE) == ADAPTER.default_idle_timeout
    assert choose(Job(prompt="x"), tight, CLAUDE) == 30
    assert choose(Job(prompt="x"), off, CLAUDE) is None
    assert choose(Job(prompt="x", idle_timeout=5), off, CLAUDE) == 5
    assert choose(Job(prompt="x", idle_timeout=0), tight, CLAUDE) is None


async def test_with_everything_cooling_the_job_waits_for_the_first_reset(
    write_config: WriteConfig,
) -> None:
    """Every backend limited: the job waits for the earliest reset and succeeds there."""
    import time

    from orchestrator._events import JobWaiting

    now = time.time()
    directory = write_config(
        backend("first", ["a"], throttle_wait_seconds="0")
        + backend("second", ["b"], throttle_wait_seconds="0"),
        provider("first", "a", "limit", FAKE_RETRY_AFTER="2", FAKE_LIMITED_UNTIL=str(now + 2))
        + provider("second", "b", "limit", FAKE_RETRY_AFTER="30"),
    )
    recorder = Recorder()
    sup = Supervisor(
        load_config(directory, environ={}),
        bus=recorder.bus,
        settings=SupervisorSettings(max_cooldown_wait=20),
    )
    with anyio.fail_after(30):
        result = await sup.run_job(Job(prompt="x", backend="first"))
    assert result.status == "succeeded", result.error
    assert [(a.provider, a.outcome.value) for a in result.attempts] == [
        ("a", "usage_limit"),
        ("b", "usage_limit"),
        ("a", "success"),
    ]
    (waiting,) = recorder.of(JobWaiting)
    assert (waiting.backend, waiting.provider) == ("first", "a")


async def test_a_wait_beyond_the_budget_fails_the_job_at_once(write_config: WriteConfig) -> None:
    """A reset further away than max_cooldown_wait is not waited for."""
    directory = write_config(
        backend("agent", ["a"], throttle_wait_seconds="0"),
        provider("agent", "a", "limit", FAKE_RETRY_AFTER="600"),
    )
    sup, _ = supervisor(directory, max_cooldown_wait=20)
    with anyio.fail_after(10):
        result = await sup.run_job(Job(prompt="x"))
    assert result.status == "failed"
    assert "first to recover is agent/a in 600 s" in (result.error or "")


CLAUDE_WARNED = """
import json, sys, time
info = {"status": "allowed_warning", "resetsAt": int(time.time()) + 3600,
        "rateLimitType": "five_hour", "utilization": 0.93, "isUsingOverage": False}
print(json.dumps({"type": "rate_limit_event", "rate_limit_info": info}))
print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "PONG"}))
"""


async def test_claudes_allowed_warning_sends_the_next_job_elsewhere(
    write_config: WriteConfig,
) -> None:
    """claude's rate_limit_event allowed_warning (93% used) is headroom: job 2 starts on b."""
    import json
    import sys

    def claude_provider(name: str) -> str:
        command, code = json.dumps(sys.executable), json.dumps(CLAUDE_WARNED)
        return f"[claude.{name}]\ncommand = {command}\nargs = ['-c', {code}]\n"

    directory = write_config(
        '[backends.claude]\nproviders = ["a", "b"]\n',
        claude_provider("a") + claude_provider("b"),
    )
    sup, _ = supervisor(directory)
    first = await sup.run_job(Job(prompt="one"))
    second = await sup.run_job(Job(prompt="two"))
    assert (first.provider, first.output) == ("a", "PONG"), first.model_dump_json()
    assert (second.provider, second.output) == ("b", "PONG")
    third = await sup.run_job(Job(prompt="three"))
    assert third.provider == "a"  # both near the limit: the rotation's own order again


async def test_a_refused_key_stays_out_until_its_settings_change(
    write_config: WriteConfig,
) -> None:
    """A 401 suspends the provider for every later job; a new key brings it back at once."""
    from orchestrator._events import ProviderSuspended
    from orchestrator._rotation_store import MemoryRotationStore

    def config_with(key: str) -> Path:
        return write_config(
            backend("agent", ["a", "b"]),
            provider("agent", "a", "auth", API_KEY=key) + provider("agent", "b"),
        )

    refused = load_config(config_with("sk-old"), environ={})
    state = MemoryRotationStore(refused.new_rotations())
    recorder = Recorder()
    sup = Supervisor(refused, bus=recorder.bus, state=state, clock=Clock())
    first = await sup.run_job(Job(prompt="1"))
    later = await sup.run_job(Job(prompt="2"))
    assert [(a.provider, a.outcome.value) for a in first.attempts] == [
        ("a", "auth_error"),
        ("b", "success"),
    ]
    assert [a.provider for a in later.attempts] == ["b"]  # a is not tried again
    (suspended,) = recorder.of(ProviderSuspended)
    assert suspended.provider == "a"
    assert "until its settings in provider_metadata.toml change" in suspended.reason
    assert recorder.of(ProviderCooledDown) == []  # no timed cooldown: it would end
    status = build_status(refused, state.rotations, (None, None, None), 1_000.0)
    assert [(p.name, p.suspended, p.current) for p in status.backends[0].providers] == [
        ("a", True, False),
        ("b", False, True),
    ]

    renewed = load_config(config_with("sk-new"), environ={})  # a new key: a is back
    again = await Supervisor(renewed, state=state, clock=Clock()).run_job(Job(prompt="3"))
    assert [a.provider for a in again.attempts] == ["a", "b"]


async def test_everything_refused_fails_naming_the_refused(write_config: WriteConfig) -> None:
    """With every provider suspended the job fails at once and says why."""
    directory = write_config(backend("agent", ["a"]), provider("agent", "a", "auth"))
    sup, _ = supervisor(directory, max_cooldown_wait=60)
    await sup.run_job(Job(prompt="1"))
    with anyio.fail_after(5):
        result = await sup.run_job(Job(prompt="2"))
    assert result.attempts == ()
    assert "refused credentials keep agent/a out until their settings change" in (
        result.error or ""
    )


async def test_a_missing_working_directory_fails_the_job_once(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    """A cwd that is not a directory is the job's fault: one rejected attempt, no rotation."""
    directory = write_config(
        backend("agent", ["a", "b"]), provider("agent", "a") + provider("agent", "b")
    )
    sup, _ = supervisor(directory)
    result = await sup.run_job(Job(prompt="x", cwd=tmp_path / "gone"))
    assert result.status == "failed"
    assert [a.outcome.value for a in result.attempts] == ["rejected"]
    assert "is not a directory" in (result.error or "")


async def test_allowed_models_refuse_others_and_fallbacks_use_their_own(
    write_config: WriteConfig,
) -> None:
    """A job's model outside its backend's allowed_models fails it; a fallback backend that
    does not allow the job's model runs with its own."""
    directory = write_config(
        backend("first", ["a"], allowed_models='["small", "large"]')
        + backend("second", ["b"], model='"own"', allowed_models='["own"]'),
        provider("first", "a", "limit", FAKE_RETRY_AFTER="600") + provider("second", "b"),
    )
    sup, _ = supervisor(directory)
    refused = await sup.run_job(Job(prompt="x", backend="first", model="huge"))
    assert refused.attempts == ()
    assert "field 'model': 'huge' is not in [backends.first] allowed_models" in (
        refused.error or ""
    )
    fell_back = await sup.run_job(Job(prompt="x", backend="first", model="small"))
    assert [(a.backend, a.model) for a in fell_back.attempts] == [
        ("first", "small"),
        ("second", "own"),
    ]


async def test_a_cwd_outside_the_root_is_refused_symlinks_included(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    """cwd_root fences jobs: a path outside it, or a symlink inside leading out, is refused;
    a folder inside it runs; a backend's cwd_root overrides the orchestrator's."""
    root, outside = tmp_path / "work", tmp_path / "elsewhere"
    (root / "project").mkdir(parents=True)
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    directory = write_config(
        backend("agent", ["a", "b"]) + backend("open", ["c"], cwd_root=f'"{tmp_path}"'),
        provider("agent", "a") + provider("agent", "b") + provider("open", "c"),
    )
    sup, _ = supervisor(directory, cwd_root=root)
    inside = await sup.run_job(Job(prompt="x", cwd=root / "project"))
    assert inside.status == "succeeded"
    for hostile in (outside, root / "escape", root / "project" / ".." / ".." / "elsewhere"):
        refused = await sup.run_job(Job(prompt="x", cwd=hostile))
        assert [a.outcome.value for a in refused.attempts] == ["rejected"], hostile
        assert "outside the allowed root" in (refused.error or "")
        assert "--cwd-root" in (refused.error or "")
    wider = await sup.run_job(Job(prompt="x", backend="open", cwd=outside))
    assert wider.status == "succeeded"  # [backends.open] cwd_root allows it


@pytest.mark.parametrize("noedit_table", ["backend_for_noedit", "message_backend"])
async def test_noedit_and_hard_jobs_follow_auto_coders_orders(
    write_config: WriteConfig, noedit_table: str
) -> None:
    """[backend] orders edit jobs, [backend_for_noedit] (or [message_backend], its older
    name) noedit jobs; a hard job starts on the high-score backend, then the usual order;
    a named backend still comes first."""
    directory = write_config(
        backend("edit", ["e"]) + backend("quiet", ["q"])
        + '[backend]\norder = ["edit", "quiet"]\n'
        + f'[{noedit_table}]\norder = ["quiet", "edit"]\n'
        + '[backend_with_high_score]\nname = "strong"\nbackend_type = "generic"\n'
        + 'providers = ["s"]\n',
        provider("edit", "e") + provider("quiet", "q") + provider("strong", "s"),
    )  # fmt: skip
    sup, _ = supervisor(directory)
    assert (await sup.run_job(Job(prompt="x"))).backend == "edit"
    assert (await sup.run_job(Job(prompt="x", mode=JobMode.NOEDIT))).backend == "quiet"
    assert (await sup.run_job(Job(prompt="x", difficulty="high"))).backend == "strong"
    named = Job(prompt="x", difficulty="high", backend="quiet")
    assert (await sup.run_job(named)).backend == "quiet"
