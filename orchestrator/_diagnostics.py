"""Warnings found while loading config, and pydantic errors turned into ConfigErrors.

Warnings are values, not ``warnings.warn`` calls: the loader returns them with
the config so the command line prints them, a worker logs them, and a library
user can inspect them, with no global filter state in between.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pydantic
from pydantic_core import ErrorDetails

from ._errors import ConfigValueError, _describe_location


@dataclass(frozen=True)
class ConfigWarning:
    """Something in a config file that works but deserves attention."""

    message: str
    file: Path | None = None
    table: str | None = None
    key: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = _describe_location(self.file, self.table, self.key, self.line)
        return f"Warning: {self.message}" + (f" ({where})" if where else "")


def config_error_from_validation(
    exc: pydantic.ValidationError,
    *,
    file: Path,
    table: str,
    known_keys: Iterable[str] = (),
) -> ConfigValueError:
    """Describe the first validation failure by file, table and key; an unknown key
    close to one of ``known_keys`` gets a "did you mean".

    The offending value itself is never quoted: it may be a secret.
    """
    error = exc.errors(include_url=False, include_input=False)[0]
    names = [part for part in error["loc"] if isinstance(part, str)]
    indices = [part for part in error["loc"] if isinstance(part, int)]
    key = names[-1] if names else None
    inner_tables = names[:-1]
    full_table = ".".join([table, *inner_tables]) if table else ".".join(inner_tables)
    message = _describe_validation_error(error, key, indices)
    if error["type"] == "extra_forbidden" and key is not None:
        close = difflib.get_close_matches(key, list(known_keys), n=1, cutoff=0.75)
        if close:
            message += f" (did you mean '{close[0]}'?)"
    return ConfigValueError(message, file=file, table=full_table or None, key=key)


def _describe_validation_error(error: ErrorDetails, key: str | None, indices: list[int]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{key}'"
    if kind == "missing":
        return f"missing required key '{key}'"
    element = f" (item {indices[-1] + 1})" if indices else ""
    return f"{error['msg'][0].lower()}{error['msg'][1:]}{element}"
