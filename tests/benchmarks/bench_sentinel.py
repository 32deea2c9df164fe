"""Benchmark: what the sentinel adds per request, and its throughput for streamed answers.

Not a test: it prints figures. Run it with

    .venv/bin/python -m tests.benchmarks.bench_sentinel [--requests 2000] [--rounds 5]

Against one mock API on 127.0.0.1 (tests/e2e/mock_api.py), in one run and one
event loop each (asyncio, then trio): the median latency of a small
non-streamed chat completion called directly, through the sentinel, and through
the sentinel holding the key (the client sends a placeholder the sentinel swaps
for the real key; one keep-alive client each, rounds interleaved), the
differences; then the
throughput of a streamed 8 MB answer, directly and through the sentinel.
"""

from __future__ import annotations

import argparse
import statistics
import time

import anyio
import httpx

from orchestrator._sentinel import Sentinel

from ..e2e.mock_api import MockApi

BODY = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
STREAMED = {**BODY, "stream": True}


async def latencies(
    client: httpx.AsyncClient, url: str, count: int, key: str = "sk-direct"
) -> list[float]:
    times = []
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(count):
        started = time.perf_counter()
        response = await client.post(url, json=BODY, headers=headers)
        response.raise_for_status()
        times.append(time.perf_counter() - started)
    return times


async def throughput(client: httpx.AsyncClient, url: str) -> float:
    """MB/s of one streamed answer, read as it comes."""
    size = 0
    started = time.perf_counter()
    async with client.stream("POST", url, json=STREAMED) as response:
        async for chunk in response.aiter_raw():
            size += len(chunk)
    return size / (time.perf_counter() - started) / 1e6


async def main(requests: int, rounds: int, backend: str) -> None:
    with (
        MockApi("openai-chat", "answer", "pong") as small,
        MockApi("openai-chat", "answer", "x" * 8_000_000) as large,
    ):
        async with (
            Sentinel() as sentinel,
            sentinel.ticket(small.origin) as small_ticket,
            sentinel.ticket(small.origin) as keyed_ticket,
            sentinel.ticket(large.origin) as large_ticket,
            httpx.AsyncClient() as direct,
            httpx.AsyncClient() as proxied,
        ):
            environment = {"OPENAI_API_KEY": "sk-real-key"}
            keyed_ticket.hold(environment, ("OPENAI_API_KEY",))
            placeholder = environment["OPENAI_API_KEY"]
            direct_times: list[float] = []
            proxied_times: list[float] = []
            keyed_times: list[float] = []
            for _ in range(rounds):  # interleaved: the machine's noise hits all alike
                direct_url = f"{small.origin}/chat/completions"
                direct_times += await latencies(direct, direct_url, requests)
                proxied_times += await latencies(
                    proxied, f"{small_ticket.url}/chat/completions", requests
                )
                keyed_times += await latencies(
                    proxied, f"{keyed_ticket.url}/chat/completions", requests, placeholder
                )
            direct_median = statistics.median(direct_times) * 1000
            proxied_median = statistics.median(proxied_times) * 1000
            keyed_median = statistics.median(keyed_times) * 1000
            print(
                f"{backend:>7} latency (median of {len(direct_times)}): direct "
                f"{direct_median:.3f} ms, through the sentinel {proxied_median:.3f} ms "
                f"(added {proxied_median - direct_median:.3f} ms), holding the key "
                f"{keyed_median:.3f} ms (added {keyed_median - direct_median:.3f} ms)"
            )
            direct_rates, proxied_rates = [], []
            for _ in range(rounds):
                direct_rates.append(await throughput(direct, f"{large.origin}/chat/completions"))
                proxied_rates.append(
                    await throughput(proxied, f"{large_ticket.url}/chat/completions")
                )
            direct_rate = statistics.median(direct_rates)
            proxied_rate = statistics.median(proxied_rates)
            print(
                f"{backend:>7} streamed 8 MB answer: direct {direct_rate:.0f} MB/s, through "
                f"the sentinel {proxied_rate:.0f} MB/s, ratio {proxied_rate / direct_rate:.2f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=["asyncio", "trio"], action="append")
    arguments = parser.parse_args()
    for backend in arguments.backend or ["asyncio", "trio"]:
        anyio.run(main, arguments.requests, arguments.rounds, backend, backend=backend)
