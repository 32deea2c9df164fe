"""Reading TOML files strictly: a broken file is an error with a line, never ``{}``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli

from ._errors import ConfigFileNotFoundError, ConfigSyntaxError

#: Larger files are refused before parsing; no real config comes near this.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def read_toml(path: Path) -> dict[str, Any]:
    """Parse ``path`` as TOML.

    Raises:
        ConfigFileNotFoundError: the file does not exist.
        ConfigSyntaxError: it is unreadable, too large, not UTF-8, or not TOML;
            the error carries the line where the parser stopped.
    """
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_CONFIG_BYTES else None
    except FileNotFoundError:
        raise ConfigFileNotFoundError(f"{path.name} not found", file=path) from None
    except OSError as exc:
        raise ConfigSyntaxError(f"cannot read {path.name}: {exc.strerror}", file=path) from None
    if data is None:
        raise ConfigSyntaxError(f"{path.name} is larger than {MAX_CONFIG_BYTES} bytes", file=path)
    return parse_toml(data, path)


def parse_toml(data: bytes, path: Path) -> dict[str, Any]:
    """Parse TOML bytes that came from ``path`` (used in messages only)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigSyntaxError("file is not valid UTF-8", file=path, line=line) from None
    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigSyntaxError(
            f"invalid TOML: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno
        ) from None
    except RecursionError:
        raise ConfigSyntaxError("invalid TOML: nested too deeply", file=path) from None
