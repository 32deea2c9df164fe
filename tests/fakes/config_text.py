"""Config text for tests whose providers run the fake CLI (``fake_cli.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

FAKE_CLI = Path(__file__).parent / "fake_cli.py"


def provider(backend: str, name: str, mode: str = "answer", **env: str) -> str:
    settings = "".join(f'{key} = "{value}"\n' for key, value in env.items())
    return (
        f"[{backend}.{name}]\ncommand = {str(sys.executable)!r}\nargs = [{str(FAKE_CLI)!r}]\n"
        f'FAKE_MODE = "{mode}"\nFAKE_NAME = "{name}"\n{settings}'
    )


def backend(name: str, providers: list[str], **fields: str) -> str:
    extra = "".join(f"{key} = {value}\n" for key, value in fields.items())
    return (
        f'[backends.{name}]\nbackend_type = "generic"\nproviders = {providers!r}\n'
        f'usage_markers = ["rate limit"]\n{extra}'
    )


HTTP_CLI = Path(__file__).parent / "http_cli.py"


def http_provider(backend: str, name: str, base_url: str, *, sentinel: bool) -> str:
    """A provider running ``http_cli.py`` against ``base_url``, through the sentinel or not."""
    return (
        f"[{backend}.{name}]\ncommand = {str(sys.executable)!r}\nargs = [{str(HTTP_CLI)!r}]\n"
        f'OPENAI_BASE_URL = "{base_url}"\nOPENAI_API_KEY = "sk-test-{name}"\n'
        f'sentinel = {str(sentinel).lower()}\nsentinel_env = "OPENAI_BASE_URL"\n'
        'sentinel_key_env = "OPENAI_API_KEY"\n'
    )


def shell_agent_config(directory: Path, script: str, **settings: str) -> Path:
    """``directory/config``: one backend ``agent`` whose one provider runs ``sh -c script
    sh PROMPT`` (no Python start-up per job), with ``settings`` in its environment."""
    config = directory / "config"
    config.mkdir()
    (config / "llm_config.toml").write_text(
        '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n'
    )
    lines = "".join(f'{key} = "{value}"\n' for key, value in settings.items())
    metadata = config / "provider_metadata.toml"
    metadata.write_text(
        f'[agent.sh]\ncommand = "/bin/sh"\nargs = ["-c", {json.dumps(script)}, "sh"]\n{lines}'
    )
    metadata.chmod(0o600)
    return config
