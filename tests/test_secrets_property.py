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


LONG_LINE_SECRET = "sk_live_ABCDEFGHIJKLM7Qz9wXv"  # not key-shaped: only the setting masks it
PEM_SECRET = (
    "Kq8vZ2mN4tR7yW1pL5xC9bF3hJ6dG0sA\nTr5eY8uI2oP4aS6dF9gH1jK3lZ7xC0vB\n"
    "Nm4bV7cX1zL9kJ2hG5fD8sA3pO6iU0yT"
)


URL_PASSWORD = "Zt7qW2eR9yU4iO1p"
#: Not a credential by its name: only the URL rule masks the password inside it.
PROXY_URL = f"http://bob:{URL_PASSWORD}@proxy.example:3128"


def fragments(secret: str, size: int = 8) -> set[str]:
    """Every run of ``size`` characters of the secret (newlines aside)."""
    flat = secret.replace("\n", "")
    return {flat[i : i + size] for i in range(len(flat) - size + 1)}


def test_a_secret_at_the_end_of_a_long_line_or_over_three_lines_never_shows() -> None:
    """Redacted before any cut: no 8-character piece of either secret reaches any output."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        directory = root / "config"
        directory.mkdir()
        llm = {
            "backends": {"leaky": {"backend_type": "generic", "providers": ["long", "pem"]}},
            "message_backend": {"default": "leaky", "order": ["leaky"]},
        }
        fake = {"command": PYTHON, "args": [str(FAKE_CLI)], "FAKE_MODE": "reject"}
        metadata = {
            "leaky": {
                "long": {**fake, "API_TOKEN": LONG_LINE_SECRET, "FAKE_MODE": "fail_echo_last",
                         "FAKE_ECHO": "e" * 990 + " token " + LONG_LINE_SECRET},
                "pem": {**fake, "PRIVATE_KEY": PEM_SECRET, "PROXY_URL": PROXY_URL,
                        "FAKE_ECHO": "key:\n" + PEM_SECRET + "\nvia " + PROXY_URL},
            }
        }  # fmt: skip
        (directory / "llm_config.toml").write_text(tomli_w.dumps(llm))
        (directory / "provider_metadata.toml").write_text(tomli_w.dumps(metadata))
        (directory / "provider_metadata.toml").chmod(0o600)
        config = load_config(directory, environ={})

        async def run_both() -> str:
            async with (
                Orchestrator(config, sinks=[JsonlFileSink(root / "events.jsonl")]) as orch,
                orch.events() as events,
            ):
                first = await orch.run(Job(prompt="go"))
                config_b = Job(prompt="go", backend="leaky")
                second = await orch.run(config_b)
                seen = "".join(e.model_dump_json() for e in events.waiting(10_000))
            return first.model_dump_json() + second.model_dump_json() + seen

        texts = anyio.run(run_both) + (root / "events.jsonl").read_text()
    assert '"rejected"' in texts  # the CLIs did print their errors, secrets included
    assert "eeee token ***" in texts  # the long line, its end masked in the message
    assert "via http://***@proxy.example:3128" in texts  # the URL stays readable
    for secret in (LONG_LINE_SECRET, PEM_SECRET, URL_PASSWORD):
        leaked = [piece for piece in fragments(secret) if piece in texts]
        assert leaked == [], f"pieces of a secret reached the output: {leaked[:3]}"
