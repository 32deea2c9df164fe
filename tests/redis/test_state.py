"""Rotation state on a real Redis, shared between stores and orchestrators."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from orchestrator import Job, Orchestrator, OrchestratorConfig, load_config
from orchestrator._rotation import WaitUntil
from orchestrator._state_store import ManualRequest
from orchestrator.redis._connection import connected
from orchestrator.redis._state import RedisRotationStore

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from ..redis_server import RedisServer

pytestmark = pytest.mark.anyio


def two_providers(write_config: WriteConfig) -> OrchestratorConfig:
    """Backend ``agent`` with providers ``a`` and ``b`` (fake CLIs)."""
    return load_config(
        write_config(backend("agent", ["a", "b"]), provider("agent", "a") + provider("agent", "b")),
        environ={},
    )


async def test_a_cooldown_is_seen_by_every_store(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    config = two_providers(write_config)
    async with connected(redis_server.url) as one, connected(redis_server.url) as two:
        first = RedisRotationStore(one, config, "t")
        second = RedisRotationStore(two, config, "t")
        await first.record_failure("agent", "a", cooldown_until=1_000.0)
        await first.record_failure("agent", "a", cooldown_until=900.0)  # the later end stays
        view = await second.view("agent", now=500.0)
        assert view.rotation.select(500.0) == "b"
        assert view.rotation.cooldown_until == {"a": 1_000.0}
        assert view.rotation.failures == {"a": 2}
        # The cooldown ends: exactly one view reports the recovery.
        recovered = [await store.view("agent", now=1_000.0) for store in (second, first)]
        assert [v.recovered for v in recovered] == [("a",), ()]
        assert recovered[1].rotation.select(1_000.0) == "a"


async def test_hand_edited_fields_are_dropped_never_fatal(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """Garbage, NaN and Infinity in the hash: the view still comes, no provider is out
    for good, and a snapshot (status) reads the same fields without crashing."""
    import time

    config = two_providers(write_config)
    async with connected(redis_server.url) as client:
        store = RedisRotationStore(client, config, "t")
        await client.hset(
            "t:rot:agent",
            {"cd:a": "soon", "cd:b": "1e300", "index": "x", "ok:a": "nan", "fail:b": "-3"},
        )
        view = await store.view("agent", now=time.time())
        assert view.recovered == ("a",)  # an end that is no number is dropped like an ended one
        await client.hset("t:rot:agent", {"cd:a": "inf"})
        assert "a" not in (await store.view("agent", now=time.time())).rotation.cooldown_until
        cap = time.time() + config.backend("agent").max_cooldown_seconds
        assert view.rotation.cooldown_until["b"] <= cap
        assert (view.rotation.successes, view.rotation.failures) == ({}, {})
        assert view.rotation.current_index == 0
        rotations, _ = await store.snapshot()
        assert rotations["agent"].cooldown_until["b"] <= cap + 60


async def test_counters_pointer_manual_changes_and_last(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    config = two_providers(write_config)
    async with connected(redis_server.url) as client:
        store = RedisRotationStore(client, config, "t")
        await store.record_success("agent", "a", advance=True)
        rotation = (await store.view("agent", 0.0)).rotation
        assert (rotation.current_index, rotation.last_used, rotation.successes) == (
            1,
            "a",
            {"a": 1},
        )
        assert await store.apply(ManualRequest("rotate", "agent"))
        assert (await store.view("agent", 0.0)).rotation.current_index == 0  # wrapped around
        await store.record_failure("agent", "b", cooldown_until=10.0**12)
        assert await store.apply(ManualRequest("reset", "agent"))
        assert (await store.view("agent", 0.0)).rotation.cooldown_until == {}
        assert not await store.apply(ManualRequest("reset", "unknown"))
        await store.set_last(("agent", "a", None))
        rotations, last = await store.snapshot()
        assert last == ("agent", "a", None)
        assert rotations["agent"].successes == {"a": 1}


async def test_orchestrators_share_a_limit(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """A provider limited under one orchestrator is skipped by another at once."""
    directory = write_config(
        backend("agent", ["limited", "spare"]),
        provider("agent", "limited", "limit", FAKE_RETRY_AFTER="300") + provider("agent", "spare"),
    )
    config = load_config(directory, environ={})
    first = Orchestrator(config, redis_url=redis_server.url, redis_prefix="share")
    second = Orchestrator(config, redis_url=redis_server.url, redis_prefix="share")
    async with first, second:
        one = await first.run(Job(prompt="one"))
        two = await second.run(Job(prompt="two"))
        status = await second.status()
    assert [a.provider for a in one.attempts] == ["limited", "spare"]
    assert [a.provider for a in two.attempts] == ["spare"]
    limited = status.backends[0].providers[0]
    assert limited.cooldown_left is not None
    assert status.last_provider == "spare"


async def test_events_reach_the_redis_stream(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    from orchestrator._events import parse_event
    from orchestrator.redis._events import read_events

    config = load_config(write_config(backend("agent", ["a"]), provider("agent", "a")), environ={})
    async with Orchestrator(config, redis_url=redis_server.url, redis_prefix="ev") as orch:
        await orch.run(Job(prompt="x"))
    async with connected(redis_server.url) as client:
        with anyio.fail_after(10):
            texts = [text async for text in read_events(client, "ev", last=None, follow=False)]
    kinds = [event.kind for event in map(parse_event, texts) if event is not None]
    assert kinds[0] == "job_queued"
    assert kinds[-1] == "job_succeeded"


async def test_a_remote_feed_sees_events_live_and_rides_out_a_restart(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """``redis_event_feed``: replayed, then live, and still live after Redis restarts."""
    from orchestrator.redis import redis_event_feed

    config = load_config(write_config(backend("agent", ["a"]), provider("agent", "a")), environ={})
    async with Orchestrator(config, redis_url=redis_server.url, redis_prefix="feed") as orch:
        await orch.run(Job(id="before", prompt="x"))
    seen: list[tuple[str, str]] = []
    with anyio.fail_after(30):
        async with redis_event_feed(redis_server.url, prefix="feed", replay=1) as events:
            async for event in events:
                seen.append((event.kind, getattr(event, "job_id", "")))
                if len(seen) == 1:
                    await anyio.to_thread.run_sync(redis_server.restart, 0.5)
                    async with Orchestrator(
                        config, redis_url=redis_server.url, redis_prefix="feed"
                    ) as orch:
                        await orch.run(Job(id="after", prompt="x"))
                if event.kind == "job_succeeded" and seen[-1][1] == "after":
                    break
    assert seen[0] == ("job_succeeded", "before")  # the one replayed
    assert seen[1] == ("job_queued", "after")  # then live, none lost across the restart


async def test_headroom_is_shared_through_redis(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """A headroom reading one worker records steers every worker's next choice."""
    from orchestrator import Headroom

    config = two_providers(write_config)
    async with connected(redis_server.url) as one, connected(redis_server.url) as two:
        recorder = RedisRotationStore(one, config, "t")
        await recorder.record_headroom("agent", "a", Headroom(0.97, 2_000.0, 1_000.0))
        await recorder.flush()  # what its orchestrator's write_behind does within 50 ms
        await one.hset("t:rot:agent", {"hr:b": "not json"})  # a damaged field is ignored
        rotation = (await RedisRotationStore(two, config, "t").view("agent", 1_500.0)).rotation
    assert rotation.headroom == {"a": Headroom(0.97, 2_000.0, 1_000.0)}
    assert rotation.select(1_500.0, near_limit=0.9) == "b"


async def test_a_suspension_is_shared_and_a_reset_lifts_it(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """A provider suspended by one worker is out for all; providers reset brings it back."""
    config = two_providers(write_config)
    fingerprint = config.fingerprints("agent")["a"]
    async with connected(redis_server.url) as one, connected(redis_server.url) as two:
        await RedisRotationStore(one, config, "t").suspend("agent", "a", fingerprint)
        other = RedisRotationStore(two, config, "t")
        rotation = (await other.view("agent", 0.0)).rotation
        assert rotation.suspended_now(config.fingerprints("agent")) == {"a"}
        assert await other.apply(ManualRequest("reset", "agent"))
        assert (await other.view("agent", 0.0)).rotation.suspended == {}


async def test_choices_use_a_copy_read_again_within_the_freshness_bound(
    write_config: WriteConfig, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker chooses from its copy (no read per job); a cooldown another worker
    records reaches it once the copy is VIEW_FRESH old, its own cooldowns at once."""
    import orchestrator.redis._state as redis_state

    monkeypatch.setattr(redis_state, "VIEW_FRESH", 0.2)
    config = two_providers(write_config)
    async with connected(redis_server.url) as one, connected(redis_server.url) as two:
        mine = RedisRotationStore(one, config, "fresh")
        other = RedisRotationStore(two, config, "fresh")
        assert (await mine.view("agent", 0.0)).rotation.select(0.0) == "a"
        await other.record_failure("agent", "a", cooldown_until=10.0**12)
        assert (await mine.view("agent", 0.0)).rotation.select(0.0) == "a"  # the copy
        await anyio.sleep(0.25)
        assert (await mine.view("agent", 0.0)).rotation.select(0.0) == "b"  # read again
        await mine.record_failure("agent", "b", cooldown_until=10.0**12)
        choice = (await mine.view("agent", 0.0)).rotation.select(0.0)
        assert isinstance(choice, WaitUntil)  # its own cooldown: at once, both are out


async def test_a_copy_whose_cooldown_ended_is_read_again(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """A cooldown ending is reported (once) as soon as it ends, however fresh the copy."""
    config = two_providers(write_config)
    async with connected(redis_server.url) as client:
        store = RedisRotationStore(client, config, "ended")
        await store.view("agent", 100.0)
        await store.record_failure("agent", "a", cooldown_until=150.0)
        assert (await store.view("agent", 120.0)).recovered == ()
        assert (await store.view("agent", 150.0)).recovered == ("a",)


async def test_successes_are_written_behind_and_on_close(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """Successes are counted in the copy at once and in Redis within WRITE_BEHIND; an
    orchestrator closing writes the last of them before it returns."""
    from orchestrator.redis._state import WRITE_BEHIND

    config = two_providers(write_config)
    async with connected(redis_server.url) as client:
        store = RedisRotationStore(client, config, "behind")
        await store.view("agent", 0.0)
        for _ in range(3):
            await store.record_success("agent", "a", advance=True)
        await store.set_last(("agent", "a", "m1"))
        copy = (await store.view("agent", 0.0)).rotation
        assert (copy.successes, copy.current_index, copy.last_used) == ({"a": 3}, 1, "a")
        assert await client.hgetall("behind:rot:agent") == {}  # not written yet
        async with anyio.create_task_group() as group:
            group.start_soon(store.write_behind)
            with anyio.fail_after(WRITE_BEHIND + 5):
                while not await client.hgetall("behind:last"):  # noqa: ASYNC110 - polling Redis
                    await anyio.sleep(0.01)
            group.cancel_scope.cancel()
        fields = await client.hgetall("behind:rot:agent")
        assert (fields["ok:a"], fields["index"], fields["last_used"]) == ("3", "3", "a")
        assert (await client.hgetall("behind:last"))["model"] == "m1"

        async with Orchestrator(config, redis_url=redis_server.url, redis_prefix="close") as orch:
            await orch.run(Job(prompt="x"))
        assert (await client.hgetall("close:rot:agent"))["ok:a"] == "1"
        assert (await client.hgetall("close:last"))["provider"] == "a"


async def test_a_write_of_successes_cancelled_half_way_counts_them_once(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    """Closing cancels the writer, maybe in the middle of a write: that write is finished
    and not kept for the next one (which would count its successes twice)."""
    config = two_providers(write_config)
    async with connected(redis_server.url) as client:
        store = RedisRotationStore(client, config, "once")
        await store.record_success("agent", "a", advance=False)
        sent, release = anyio.Event(), anyio.Event()
        write = store._write

        async def slow_write(unwritten: Any) -> None:
            await write(unwritten)  # in Redis now; the reply is what is slow
            sent.set()
            await release.wait()

        store._write = slow_write  # type: ignore[method-assign]
        async with anyio.create_task_group() as group:
            group.start_soon(store.flush)
            await sent.wait()
            group.cancel_scope.cancel()  # as a closing orchestrator cancels write_behind
            release.set()
        store._write = write  # type: ignore[method-assign]
        await store.flush()
        assert (await client.hgetall("once:rot:agent"))["ok:a"] == "1"
