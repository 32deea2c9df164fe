"""An async agent that hands prompts to the orchestrator and awaits the results.

Runs offline against the demo config (from the repository root):

    .venv/bin/python examples/async_agent.py

Point ``CONFIG_DIR`` at your own config directory for real agents. The same
code runs under trio: ``anyio.run(main, backend="trio")``.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from orchestrator import Job, Orchestrator, ProviderRotated

CONFIG_DIR = Path(__file__).parent / "demo"
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


async def main() -> None:
    async with Orchestrator.from_config_dir(CONFIG_DIR, concurrency=3) as orch:
        async with anyio.create_task_group() as watchers:
            await watchers.start(watch_rotations, orch)
            handles = [await orch.submit(Job(prompt=prompt)) for prompt in PROMPTS]
            for handle in handles:
                result = await handle.result()
                print(f"{result.status}: {result.output.strip()} (via {result.provider})")
            watchers.cancel_scope.cancel()
        status = await orch.status()
        print(status.model_dump_json(indent=1, include={"last_provider"}))


if __name__ == "__main__":
    anyio.run(main)
