"""The lane: a connection of its own for the calls a job waits on, on a real server."""

from __future__ import annotations

import os
import resource
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import coredis
import coredis.exceptions
import pytest

from orchestrator.redis._connection import connect, redis_errors
from orchestrator.redis._lane import Lane, open_lane, pack
from orchestrator.redis._queue import lost_group

from ..redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def lane_to(url: str) -> AsyncIterator[tuple[coredis.Redis[str], Lane]]:
    """A coredis client for ``url`` (to look at the server with) and a lane from it."""
    async with (
        coredis.Redis.from_url(url, decode_responses=True) as client,
        open_lane(client) as lane,
    ):
        assert lane is not None
        yield client, lane


@asynccontextmanager
async def lane_to_unconnected(url: str) -> AsyncIterator[Lane]:
    """A lane from a client that never connected (its server may be away)."""
    async with open_lane(coredis.Redis.from_url(url, decode_responses=True)) as lane:
        assert lane is not None
        yield lane


def test_commands_are_packed_as_resp_bulk_strings() -> None:
    assert pack([["SET", "k", 12], [b"GET", "é"]]) == (
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n*2\r\n$3\r\nGET\r\n$2\r\n\xc3\xa9\r\n"
    )


async def test_replies_come_back_decoded_and_errors_in_their_place(
    redis_server: RedisServer,
) -> None:
    async with lane_to(redis_server.url) as (_, lane):
        assert await lane.call("SET", "word", "héllo") == "OK"
        assert await lane.call("MGET", "word", "missing") == ["héllo", None]
        incr, fetched = await lane.pipeline([["INCR", "word"], ["GET", "word"]])
        assert isinstance(incr, coredis.exceptions.ResponseError)
        assert fetched == "héllo"
        assert lane.connects == 1


async def test_a_redis_error_is_raised_as_coredis_raises_it(redis_server: RedisServer) -> None:
    """A read on a stream whose group is gone raises what the worker recognises."""
    async with lane_to(redis_server.url) as (_, lane):
        with pytest.raises(coredis.exceptions.StreamConsumerGroupError) as raised:
            await lane.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "nothing", ">")
        assert lost_group(raised.value)
        assert await lane.call("PING") == "PONG"  # the connection is still good


async def test_a_script_the_server_does_not_know_is_sent_once(redis_server: RedisServer) -> None:
    async with lane_to(redis_server.url) as (client, lane):
        script = client.register_script("return {KEYS[1], ARGV[1]}")
        assert await lane.script(script, ["k"], ["a"]) == ["k", "a"]  # EVALSHA, then EVAL
        assert await lane.call("SCRIPT", "EXISTS", script.sha) == [1]
        assert await lane.script(script, ["k"], ["b"]) == ["k", "b"]


async def test_a_connection_closed_while_idle_is_replaced_before_a_request(
    redis_server: RedisServer,
) -> None:
    """The server dropped the lane's connection (an idle timeout, a CLIENT KILL): the
    next request goes out on a new one, exactly once."""
    async with lane_to(redis_server.url) as (client, lane):
        own_id = await lane.call("CLIENT", "ID")
        await client.client_kill(identifier=own_id)
        await anyio.sleep(0.1)  # the close reaches the lane's socket
        assert await lane.call("INCR", "counter") == 1
        assert lane.connects == 2
        assert await client.get("counter") == "1"


async def test_a_connection_past_descriptor_1023_is_kept(redis_server: RedisServer) -> None:
    """A worker running many children holds many descriptors: a lane whose socket comes
    after 1023 (past what select() takes) still keeps its one connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may open {hard} descriptors at most")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    null = os.open(os.devnull, os.O_RDONLY)
    taken = [os.dup(null) for _ in range(1100 - null)]
    try:
        async with lane_to(redis_server.url) as (_, lane):
            for _ in range(3):
                assert await lane.call("PING") == "PONG"
            assert lane._stream is not None
            assert lane._stream.extra(anyio.abc.SocketAttribute.raw_socket).fileno() > 1023
            assert lane.connects == 1
    finally:
        for descriptor in [*taken, null]:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_call_cut_off_leaves_no_reply_for_the_next(redis_server: RedisServer) -> None:
    """A blocking call cancelled half-way: its connection is dropped, so its reply is
    never read as the next call's, and nothing it was waiting for is taken."""
    async with lane_to(redis_server.url) as (client, lane):
        with anyio.move_on_after(0.2):
            await lane.call("BLPOP", "queue", 5)
        await client.rpush("queue", ["item"])
        assert await lane.call("PING") == "PONG"
        assert lane.connects == 2
        assert await client.llen("queue") == 1


async def test_closing_a_lane_ends_a_wait_still_on_it(redis_server: RedisServer) -> None:
    async with lane_to(redis_server.url) as (_, lane):
        failed = anyio.Event()

        async def wait() -> None:
            with pytest.raises(coredis.exceptions.ConnectionError):
                await lane.call("BLPOP", "never", 10)
            failed.set()

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.sleep(0.2)
            assert lane.busy
            with anyio.fail_after(2):
                await lane.aclose()
                await failed.wait()
        assert not lane.busy


async def test_a_server_away_raises_an_error_callers_wait_out() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with lane_to_unconnected(url) as lane:
        with pytest.raises(redis_errors()) as raised:
            await lane.call("PING")
        assert isinstance(raised.value, coredis.exceptions.ConnectionError)


async def test_the_lane_logs_in_as_the_url_user_and_uses_its_database(tmp_path: Path) -> None:
    users = ("alice on >pass:word ~* &* +@all", "default off")
    server = RedisServer(tmp_path / "redis", users=users)
    server.start()
    try:
        url = server.url_for("alice", "pass:word")
        async with (
            connect(url.replace("/0", "/3")) as client,
            connect(url) as db_zero,
            open_lane(client) as lane,
        ):
            assert lane is not None
            assert await lane.call("ACL", "WHOAMI") == "alice"
            await lane.call("SET", "where", "three")
            assert await client.get("where") == "three"  # the client's database, 3
            assert await db_zero.get("where") is None
    finally:
        server.stop()
