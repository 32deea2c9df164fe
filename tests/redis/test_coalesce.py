"""Calls that go out together (``_coalesce.Coalescer``)."""

from __future__ import annotations

import anyio
import pytest

from orchestrator.redis._coalesce import Coalescer

pytestmark = pytest.mark.anyio


class Recorder:
    """A ``send`` that takes a round trip's time and remembers every batch."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on

    async def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(items)
        await anyio.sleep(0.02)
        if self.fail_on in items:
            raise ConnectionError("the server went away")
        return [item.upper() for item in items]


async def test_a_lone_call_goes_out_at_once_and_a_crowd_shares_round_trips() -> None:
    send = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(send)
    with anyio.fail_after(1):
        assert await coalescer("solo") == "SOLO"
    assert send.batches == [["solo"]]

    replies: dict[str, str] = {}

    async def call(item: str) -> None:
        replies[item] = await coalescer(item)

    async with anyio.create_task_group() as group:
        for n in range(40):
            group.start_soon(call, f"job{n}")
    assert replies == {f"job{n}": f"JOB{n}" for n in range(40)}  # each its own reply
    assert len(send.batches) <= 3  # the first call, then everything that queued meanwhile
    assert sorted(item for batch in send.batches[1:] for item in batch) == sorted(replies)


async def test_a_batch_limit_is_kept() -> None:
    send = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(send, limit=5)
    async with anyio.create_task_group() as group:
        for n in range(23):
            group.start_soon(coalescer, f"{n}")
    assert max(len(batch) for batch in send.batches) == 5
    assert sum(len(batch) for batch in send.batches) == 23


async def test_an_error_reaches_every_caller_of_its_batch_only() -> None:
    send = Recorder(fail_on="bad")
    coalescer: Coalescer[str, str] = Coalescer(send)
    outcomes: dict[str, str] = {}

    async def call(item: str) -> None:
        try:
            outcomes[item] = await coalescer(item)
        except ConnectionError as exc:
            outcomes[item] = f"error: {exc}"

    async with anyio.create_task_group() as group:
        group.start_soon(call, "first")
        await anyio.sleep(0.005)  # "first" is on its way; these two queue together
        group.start_soon(call, "bad")
        group.start_soon(call, "other")
    assert outcomes == {
        "first": "FIRST",
        "bad": "error: the server went away",
        "other": "error: the server went away",
    }
    assert await coalescer("later") == "LATER"  # the coalescer goes on


async def test_a_caller_cancelled_before_its_item_went_out_takes_it_back() -> None:
    send = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(send)
    async with anyio.create_task_group() as group:
        group.start_soon(coalescer, "first")
        await anyio.sleep(0.005)
        with anyio.move_on_after(0.005):  # queued behind "first", cancelled while waiting
            await coalescer("withdrawn")
    assert send.batches == [["first"]]


async def test_a_batch_on_its_way_is_not_cut_short_by_its_sender_being_cancelled() -> None:
    send = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(send)
    replies: list[str] = []

    async def follower() -> None:
        replies.append(await coalescer("follower"))

    async with anyio.create_task_group() as group:
        with anyio.move_on_after(0.005):
            async with anyio.create_task_group() as leader:
                leader.start_soon(coalescer, "leader")
                await anyio.sleep(0.001)
                group.start_soon(follower)
                await anyio.sleep(1)
    assert replies == ["FOLLOWER"]
    assert send.batches == [["leader"], ["follower"]]
