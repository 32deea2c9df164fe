"""``${VAR}`` and ``${VAR:-default}`` expansion of configuration values.

Values are expanded once, at load time, from a mapping the caller passes
(normally ``os.environ``, read, never written). ``$${`` stands for a literal
``${`` so a value can contain that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REFERENCE = re.compile(
    r"\$\$\{"  # escaped: a literal "${"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<bad>\$\{[^}]*\}?)"
)


class UnsetVariable(Exception):
    """Raised by :func:`expand_string`; the loader turns it into a ConfigError."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


class MalformedReference(Exception):
    """A ``${`` that does not form ``${NAME}`` or ``${NAME:-default}``."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(text)


def expand_string(value: str, environ: Mapping[str, str]) -> str:
    """Return ``value`` with every reference replaced.

    ``${VAR:-default}`` uses the default when VAR is unset or empty, as the
    shell does; ``${VAR}`` set to the empty string expands to it.

    Raises:
        UnsetVariable: ``${VAR}`` without default and VAR is not set.
        MalformedReference: a ``${`` that is not a valid reference.
    """
    if "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group("bad") is not None:
            raise MalformedReference(match.group("bad"))
        name = match.group("name")
        if name is None:
            return "${"
        default = match.group("default")
        current = environ.get(name)
        if default is not None:
            return current if current else default
        if current is None:
            raise UnsetVariable(name)
        return current

    return _REFERENCE.sub(substitute, value)


def expand_tree(value: Any, environ: Mapping[str, str], path: tuple[str, ...] = ()) -> Any:
    """Expand every string inside nested dicts and lists.

    Raises:
        ExpansionError: carries the key path of the value that failed.
    """
    if isinstance(value, str):
        try:
            return expand_string(value, environ)
        except (UnsetVariable, MalformedReference) as exc:
            raise ExpansionError(exc, path) from None
    if isinstance(value, dict):
        return {key: expand_tree(item, environ, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_tree(item, environ, path) for item in value]
    return value


class ExpansionError(Exception):
    """An expansion failure and the key path (tables..., key) where it happened."""

    def __init__(self, cause: UnsetVariable | MalformedReference, path: tuple[str, ...]) -> None:
        self.cause = cause
        self.path = path
        super().__init__(str(cause))


def unset_references(
    value: Any, environ: Mapping[str, str], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], str]]:
    """Every ``${VAR}`` (without default) whose variable is unset: (key path, name)."""
    found: list[tuple[tuple[str, ...], str]] = []
    if isinstance(value, str):
        for match in _REFERENCE.finditer(value):
            name = match.group("name")
            if name and match.group("default") is None and name not in environ:
                found.append((path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            found += unset_references(item, environ, (*path, key))
    elif isinstance(value, list):
        for item in value:
            found += unset_references(item, environ, path)
    return found
