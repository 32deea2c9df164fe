"""Config text for tests whose providers run the fake CLI (``fake_cli.py``)."""

from __future__ import annotations

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
