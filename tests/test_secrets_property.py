"""No secret leaves: random provider secrets never reach events, logs, status, state or results.

The one place a secret may show is the CLI's own answer text, which is the
agent's output and passed on as it is (documented in README, "Security").
"""

from __future__ import annotations

import string
from pathlib import Path

import anyio
import structlog
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import AttemptRequest, Job, JsonlFileSink, Orchestrator, load_config
from orchestrator._registry import load_adapter

from .fakes.config_text import FAKE_CLI

SECRET = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.~+/=!@#%^&*", min_size=12, max_size=48
).filter(lambda s: any(c.isalpha() for c in s) and any(c.isdigit() for c in s))
PYTHON = str(Path(__import__("sys").executable))


def write_config(directory: Path, secrets: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    llm = {
        "backends": {
            "leaky": {"backend_type": "generic", "providers": ["echoes", "limited"]},
            "agent": {"backend_type": "generic", "providers": ["answers"]},
        },
        "message_backend": {"default": "agent", "order": ["agent", "leaky"]},
    }
    echo = " ".join(f"key={secret}" for secret in secrets)
    fake = {"command": PYTHON, "args": [str(FAKE_CLI)]}
    metadata = {
        "leaky": {
            "limited": {**fake, "FAKE_MODE": "limit", "API_KEY": secrets[0]},
            "echoes": {**fake, "FAKE_MODE": "reject", "FAKE_ECHO": echo, "TOKEN": secrets[1]},
        },
        "agent": {"answers": {**fake, "API_KEY": secrets[1], "OTHER_KEY": secrets[0]}},
    }
    (directory / "llm_config.toml").write_text(tomli_w.dumps(llm))
    path = directory / "provider_metadata.toml"
    path.write_text(tomli_w.dumps(metadata))
    path.chmod(0o600)
    return directory


@settings(max_examples=8, deadline=None)
@given(secrets=st.lists(SECRET, min_size=2, max_size=2, unique=True))
def test_no_secret_reaches_events_logs_status_state_or_results(secrets: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        config = load_config(write_config(root / "config", secrets), environ={})
        texts = anyio.run(run_everything, config, root)
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret reached the {where}"


async def run_everything(config: object, root: Path) -> dict[str, str]:
    from orchestrator import OrchestratorConfig

    assert isinstance(config, OrchestratorConfig)
    events_file = root / "events.jsonl"
    with structlog.testing.capture_logs() as logs:
        async with (
            Orchestrator(
                config, state_file=root / "state.json", sinks=[JsonlFileSink(events_file)]
            ) as orch,
            orch.events() as events,
        ):
            failed = await orch.run(Job(prompt="do it", backend="leaky"))
            answered = await orch.run(Job(prompt="do it", backend="agent"))
            status = await orch.status()
            seen = events.waiting(10_000)
    assert failed.status == "failed"
    assert answered.status == "succeeded"
    return {
        "results": failed.model_dump_json() + answered.model_dump_json(),
        "events": "".join(event.model_dump_json() for event in seen),
        "event log": events_file.read_text(),
        "logs": repr(logs),
        "status": status.model_dump_json(),
        "state file": (root / "state.json").read_text(),
    }


@given(secret=SECRET, backend=st.sampled_from(["qwen", "claude", "gemini", "codex", "generic"]))
def test_secrets_travel_in_the_environment_never_in_argv(secret: str, backend: str) -> None:
    from orchestrator import BackendConfig, ProviderConfig

    provider = ProviderConfig(
        name="p",
        backend=backend,
        command="/bin/agent",
        env={"API_KEY": secret, "OPENAI_API_KEY": secret, "ANTHROPIC_API_KEY": secret},
    )
    request = AttemptRequest(
        Job(prompt="hello", backend=backend),
        BackendConfig(name=backend, providers=("p",), model="m"),
        provider,
    )
    invocation = load_adapter(backend).build(request)
    assert not any(secret in part for part in invocation.argv)
    assert secret not in (invocation.stdin or b"").decode()
