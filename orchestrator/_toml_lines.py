"""Where a key sits in a TOML file: the line a message about it should name.

tomli returns plain dicts with no positions, so a problem found after parsing (a
wrong type, an unknown key, an unset variable) would name only file, table and
key. This scans the text the way TOML lays it out: table headers, then
``key = value`` lines, dotted keys included. A key written inside an inline
table is not found; the message then names its table's header line.
"""

from __future__ import annotations

import re
from pathlib import Path

_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*(?P<name>{_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*(?P<name>{_DOTTED})\s*=")
_PARTS = re.compile(_PART)


def line_of(text: str, table: str | None, key: str | None) -> int | None:
    """The 1-based line of ``key`` in ``[table]`` (``None``: top level), else the
    table's header line, else ``None``."""
    wanted_table = table or ""
    target = f"{wanted_table}.{key}" if wanted_table else key
    header_line: int | None = None
    current = ""
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        header = _HEADER.match(line)
        if header is not None:
            current = _joined(header["name"])
            if current == wanted_table and header_line is None:
                header_line = number
            continue
        assignment = _KEY.match(line)
        if assignment is None:
            continue
        in_multiline = _opens_multiline(line[assignment.end() :])
        if key is None:
            continue
        dotted = _joined(assignment["name"])
        path = f"{current}.{dotted}" if current else dotted
        if path == target:
            return number
    return header_line


def line_in_file(path: Path, table: str | None, key: str | None) -> int | None:
    """:func:`line_of` on a file's text; ``None`` when it cannot be read."""
    text = text_of(path)
    return None if text is None else line_of(text, table, key)


def text_of(path: Path) -> str | None:
    """The file's text, or ``None``: a line number is a nicety, never a new error."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _joined(dotted: str) -> str:
    return ".".join(_unquoted(part) for part in _PARTS.findall(dotted))


def _unquoted(part: str) -> str:
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
        return part[1:-1]
    return part


def _opens_multiline(value: str) -> str | None:
    """The delimiter of a multi-line string the value starts and does not close."""
    for delimiter in ('"""', "'''"):
        if value.lstrip().startswith(delimiter) and value.count(delimiter) == 1:
            return delimiter
    return None
