"""Benchmark: one Redis round trip after an idle moment, four ways.

Not a test: it prints figures. Run it with

    .venv/bin/python -m tests.benchmarks.bench_lane [--samples 300]

The calls a job waits on (its submit, the worker's blocking read it ends) come
after idle moments, when every wake-up on the way costs. Measured 20 ms apart,
under asyncio and trio, on a private ``redis-server``:

- ``PING``: through coredis' client; through a coredis connection's
  ``create_request`` (the client's lowest public level: still its writer and
  reader tasks); through a :class:`Lane`; on a bare anyio socket;
- a blocked read's wake: ``BLPOP`` waiting, then an ``RPUSH`` from another
  connection; the time from before the push to the waiter having its reply,
  the waiter through coredis' client or through a lane (the push through a
  lane), and both on bare anyio sockets: the floor of a hop from one process
  through Redis to another on this machine.

Medians and 90th percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import coredis

from orchestrator.redis._lane import open_lane, pack

from ..redis_server import RedisServer

PAUSE = 0.02
HOST = "127.0.0.1"


async def idle_timings(samples: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    timings = []
    for _ in range(samples):
        await anyio.sleep(PAUSE)
        before = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - before) * 1000)
    return timings


async def wake_timings(
    samples: int, wait: Callable[[], Awaitable[object]], push: Callable[[], Awaitable[object]]
) -> list[float]:
    timings = []
    for _ in range(samples):
        woke = 0.0

        async def waiter() -> None:
            nonlocal woke
            await wait()
            woke = time.perf_counter()

        async with anyio.create_task_group() as group:
            group.start_soon(waiter)
            await anyio.sleep(PAUSE)
            before = time.perf_counter()
            await push()
        timings.append((woke - before) * 1000)
    return timings


async def measure(url: str, port: int, samples: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    async with (
        coredis.Redis.from_url(url, decode_responses=True) as client,
        coredis.Redis.from_url(url, decode_responses=True) as waiting_client,
        open_lane(client) as lane,
        open_lane(client) as waiting_lane,
    ):
        assert lane is not None
        assert waiting_lane is not None
        connection = await client.connection_pool.get_connection()
        client.connection_pool.release(connection)
        socket_stream = await anyio.connect_tcp(HOST, port)
        async with socket_stream:

            async def bare_ping() -> None:
                await socket_stream.send(b"*1\r\n$4\r\nPING\r\n")
                await socket_stream.receive()

            figures["PING coredis client"] = await idle_timings(samples, client.ping)
            figures["PING create_request"] = await idle_timings(
                samples, lambda: connection.create_request(b"PING")
            )
            figures["PING lane"] = await idle_timings(samples, lambda: lane.call("PING"))
            figures["PING bare socket"] = await idle_timings(samples, bare_ping)

        def push() -> Awaitable[object]:
            return lane.call("RPUSH", "bench-lane", "1")

        figures["wake coredis client"] = await wake_timings(
            samples, lambda: waiting_client.blpop(["bench-lane"], timeout=5), push
        )
        figures["wake lane"] = await wake_timings(
            samples, lambda: waiting_lane.call("BLPOP", "bench-lane", 5), push
        )
        pusher, waiter = await anyio.connect_tcp(HOST, port), await anyio.connect_tcp(HOST, port)
        async with pusher, waiter:

            async def bare_wait() -> None:
                await waiter.send(pack([["BLPOP", "bench-lane", 5]]))
                await waiter.receive()

            async def bare_push() -> None:
                await pusher.send(pack([["RPUSH", "bench-lane", "1"]]))
                await pusher.receive()

            figures["wake bare sockets"] = await wake_timings(samples, bare_wait, bare_push)
    return figures


def main(samples: int) -> None:
    print(f"{samples} samples each, {PAUSE * 1000:.0f} ms apart")
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory) / "redis")
        server.start()
        try:
            for backend in ("asyncio", "trio"):
                figures = anyio.run(measure, server.url, server.port, samples, backend=backend)
                print(backend)
                for name, timings in figures.items():
                    ninetieth = statistics.quantiles(timings, n=10)[-1]
                    print(
                        f"  {name:>20}: p50 {statistics.median(timings):5.3f} ms, "
                        f"p90 {ninetieth:5.3f} ms"
                    )
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=300)
    main(parser.parse_args().samples)
