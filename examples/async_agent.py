"""An async agent that hands prompts to the orchestrator and awaits the results.

Runs offline against the demo config (from the repository root):

    .venv/bin/python examples/async_agent.py

Point ``CONFIG_DIR`` at your own config directory for real agents. The same
code runs under trio: ``anyio.run(main, backend="trio")``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from orchestrator import Job, Orchestrator, ProviderRotated

CONFIG_DIR = Path(__file__).parent / "demo"
#: The demo's providers run ``examples/demo/agent.py``, a path relative to the repository.
REPOSITORY = Path(__file__).resolve().parent.parent
PROMPTS = [
    "rename the module utils to helpers",
    "add a --verbose flag to the CLI",
    "fix the flaky test in test_cache.py",
]


async def watch_rotations(orch: Orchestrator, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    async with orch.events() as events:
        task_status.started()
        async for event in events:
            if isinstance(event, ProviderRotated):
                print(f"  rotated {event.backend}: {event.from_provider} -> {event.provider}")


async def main() -> int:
    """Exit status: 0 when every job succeeded, 1 otherwise (each failure printed)."""
    failures = 0
    async with Orchestrator.from_config_dir(CONFIG_DIR, concurrency=3) as orch:
        async with anyio.create_task_group() as watchers:
            await watchers.start(watch_rotations, orch)
            jobs = [Job(prompt=prompt, cwd=REPOSITORY) for prompt in PROMPTS]
            handles = [await orch.submit(job) for job in jobs]
            for handle in handles:
                result = await handle.result()
                if result.status == "succeeded":
                    print(f"succeeded: {result.output.strip()} (via {result.provider})")
                else:
                    failures += 1
                    print(f"failed: {result.error}", file=sys.stderr)
                    for attempt in result.attempts:
                        where = f"{attempt.backend}/{attempt.provider}"
                        reason = f"{attempt.outcome.value}: {attempt.message}"
                        print(f"  attempt on {where} -> {reason}", file=sys.stderr)
            watchers.cancel_scope.cancel()
        status = await orch.status()
        print(status.model_dump_json(indent=1, include={"last_provider"}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
