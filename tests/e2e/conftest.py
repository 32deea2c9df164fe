"""The real agent CLIs (installed by ``npm ci`` in tests/e2e/) against mock APIs.

Every CLI runs with a throwaway HOME and an environment built from scratch:
no real credential of the machine reaches it, every API URL points at a mock
on 127.0.0.1, and the CLIs' telemetry and update checks are switched off.
(A dead loopback proxy would be a stronger fence, but qwen then sends its
loopback API calls through it too.)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from .mock_api import MockApi, Mode, Protocol

E2E_DIR = Path(__file__).parent
CLI_BIN = E2E_DIR / "node_modules" / ".bin"
CONFIG_DIR = E2E_DIR.parent.parent / "examples" / "mock-apis"
CLIS = ("qwen", "claude", "gemini", "codex")
#: The protocol each CLI speaks to its provider.
PROTOCOL: dict[str, Protocol] = {
    "qwen": "openai-chat",
    "claude": "anthropic",
    "gemini": "gemini",
    "codex": "openai-responses",
}
#: Inherited from the test process; everything else is set here.
KEPT = ("LANG", "LC_ALL", "TERM", "TMPDIR", "TZ")

StartMock = Callable[..., MockApi]


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    """The folder holding the four CLIs; the test is skipped, saying why, without it."""
    if shutil.which("node") is None:
        pytest.skip("e2e: node is not installed, so the real CLIs cannot run")
    missing = [name for name in CLIS if not (CLI_BIN / name).exists()]
    if missing:
        pytest.skip(
            f"e2e: {', '.join(missing)} not installed in {CLI_BIN}; "
            "run `npm ci --prefix tests/e2e` (.ci/run does when npm is available)"
        )
    return CLI_BIN


@pytest.fixture
def anyio_backend() -> str:
    """The real CLIs take seconds each: the e2e suite runs once, on trio."""
    return "trio"


@pytest.fixture
def start_mock() -> Iterator[StartMock]:
    """``start_mock("anthropic", "answer", "text")``: a mock API, stopped after the test."""
    with ExitStack() as stack:

        def start(protocol: Protocol, mode: Mode, answer: str = "mock answer") -> MockApi:
            return stack.enter_context(MockApi(protocol, mode, answer))

        yield start


def cli_environment(home: Path, mock_urls: dict[str, str]) -> dict[str, str]:
    """What the CLIs inherit: PATH to them, a fresh HOME, no way out but loopback."""
    home.mkdir(parents=True, exist_ok=True)
    _write_settings(home)
    environment = {name: os.environ[name] for name in KEPT if name in os.environ}
    environment |= {
        "PATH": f"{CLI_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "CODEX_HOME": str(home / ".codex"),
        # Claude Code: no telemetry, error reports or update checks.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "NO_UPDATE_NOTIFIER": "1",
    }
    return environment | mock_urls


def _write_settings(home: Path) -> None:
    # Gemini CLI 0.61 turns GOOGLE_GEMINI_BASE_URL into a "gateway" auth type that
    # headless mode then rejects; naming the API-key auth type keeps the base URL.
    gemini = {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
    }
    qwen = {"privacy": {"usageStatisticsEnabled": False}}
    (home / ".codex").mkdir(exist_ok=True)
    for folder, settings in ((".gemini", gemini), (".qwen", qwen)):
        (home / folder).mkdir(exist_ok=True)
        (home / folder / "settings.json").write_text(json.dumps(settings))
