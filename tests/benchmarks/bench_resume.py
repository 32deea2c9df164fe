"""Benchmark: the tokens a resume saves over a restart, counted by the sentinel.

Not a test: it prints figures. Run it (after ``npm ci --prefix tests/e2e``) with

    .venv/bin/python -m tests.benchmarks.bench_resume [--cli claude] [--before 6]
        [--after 2] [--rounds 3]

One job on the real CLI against two mock providers on 127.0.0.1
(tests/e2e/mock_api.py). The agent works ``--before`` steps (a tool call each) on
provider 1, which then answers 429; ``--after`` more steps finish the task on
provider 2. Each mock reports a request's whole size (system prompt, tools and the
conversation, at ~4 characters a token) as its input tokens, as a provider bills
it; the sentinel sums them per attempt. Two ways to go on:

- ``resume`` (the default): provider 2 resumes the session and does the
  remaining steps only, each request carrying the conversation so far;
- ``restart`` (``resume = false``): provider 2 starts over from the prompt and,
  knowing nothing of what was done, does every step again.

It prints the input tokens sent to provider 2 and in all (medians of the rounds),
the resume/restart ratio, and the job's wall time. The saving grows with the work
done before the limit; the cost of resuming is that each request carries history.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import anyio

from orchestrator import AttemptFinished, Job

from ..e2e.conftest import CLI_BIN, PROTOCOL, cli_environment
from ..e2e.mock_api import MockApi, Mode
from ..e2e.test_real_clis import run_job


async def one_job(cli: str, before: int, after: int, resume: bool) -> tuple[int, int, float]:
    """(input tokens on provider 2, in all, wall seconds) for one job."""
    protocol = PROTOCOL[cli]
    steps_on_second = after if resume else before + after
    tool: list[Mode] = ["tool"]
    first_script: list[Mode] = [*tool * before, "rate-limit-bare"]
    second_script: list[Mode] = [*tool * steps_on_second, "answer"]
    with (
        tempfile.TemporaryDirectory() as scratch,
        MockApi(protocol, "answer", script=first_script, whole_request_usage=True) as first,
        MockApi(
            protocol, "answer", "done", script=second_script, whole_request_usage=True
        ) as second,
    ):
        root = Path(scratch)
        work = root / "work"
        work.mkdir()
        urls = {
            f"MOCK_{cli.upper()}_LIMITED": first.origin,
            f"MOCK_{cli.upper()}_ANSWERING": second.origin,
        }
        environment = cli_environment(root / "home", urls)
        job = Job(prompt="refactor the module", backend=cli, cwd=work, resume=resume)
        result, events, elapsed = await run_job(environment, job)
        finished = [e for e in events if isinstance(e, AttemptFinished)]
    if "-v" in sys.argv:
        for a in result.attempts:
            print(f"    {a.provider} {a.outcome} resumed_from={a.resumed_from} {a.message[:80]}")
        print(f"    requests: first {first.model_requests}, second {second.model_requests}")
    if result.status != "succeeded":
        raise SystemExit(f"the job failed: {result.error}")
    tokens = {e.provider: 0 for e in finished}
    for event in finished:
        counted = event.wire_usage  # the sentinel's count, every request of the attempt
        if counted is not None and counted.input_tokens is not None:
            tokens[event.provider] += counted.input_tokens
    return tokens.get("answering", 0), sum(tokens.values()), elapsed


async def main(cli: str, before: int, after: int, rounds: int) -> None:
    figures: dict[bool, list[tuple[int, int, float]]] = {True: [], False: []}
    for _ in range(rounds):
        for resume in (True, False):  # interleaved: the machine's noise hits both alike
            figures[resume].append(await one_job(cli, before, after, resume))
    print(f"{cli}: {before} steps before the limit, {after} after; median of {rounds} rounds")
    medians = {}
    for resume, label in ((True, "resume"), (False, "restart")):
        second = statistics.median(f[0] for f in figures[resume])
        total = statistics.median(f[1] for f in figures[resume])
        wall = statistics.median(f[2] for f in figures[resume])
        medians[resume] = (second, total, wall)
        print(f"  {label:8} provider 2: {second:>8.0f} tokens   all: {total:>8.0f}   {wall:5.2f} s")
    (r2, rt, rw), (s2, st, sw) = medians[True], medians[False]
    print(f"  resume/restart: provider 2 {r2 / s2:.2f}, all {rt / st:.2f}, wall time {rw / sw:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # codex has no base-URL variable: the sentinel cannot count its tokens.
    parser.add_argument("--cli", choices=["claude", "gemini", "qwen"], default="claude")
    parser.add_argument("--before", type=int, default=6)
    parser.add_argument("--after", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-v", action="store_true", help="print each job's attempts")
    arguments = parser.parse_args()
    if not (CLI_BIN / arguments.cli).exists():
        sys.exit(f"{arguments.cli} is not installed: npm ci --prefix tests/e2e")
    anyio.run(
        main, arguments.cli, arguments.before, arguments.after, arguments.rounds, backend="trio"
    )
