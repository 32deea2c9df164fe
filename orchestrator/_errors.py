"""Every error the orchestrator raises on purpose, in one tree.

Callers catch the branch they can act on; the command line maps each class to
its ``exit_code`` so scripts can rely on the number rather than the wording::

    OrchestratorError                 exit 1
    ├── ConfigError                   exit 2  (file, table, key, line)
    │   ├── ConfigFileNotFoundError
    │   ├── ConfigSyntaxError
    │   ├── ConfigValueError
    │   ├── UnsetVariableError
    │   └── UnknownProviderError
    ├── UsageError                    exit 2  (a call that cannot be served)
    │   ├── UnknownBackendError
    │   └── NoProvidersError
    ├── MigrationError                exit 2
    └── ServiceUnavailableError       exit 3  (Redis not reachable; try again)

Messages follow the spec's troubleshooting section word for word where it has
one (``Error: AZURE_ENDPOINT not set``, ``Error: No providers configured for
backend 'qwen'``) and then say where.
"""

from __future__ import annotations

from pathlib import Path


class OrchestratorError(Exception):
    """Root of every error the orchestrator raises on purpose."""

    exit_code: int = 1


class ConfigError(OrchestratorError):
    """A configuration file is missing, malformed or inconsistent.

    Attributes:
        file: the file at fault, when one is.
        table: the dotted TOML table, e.g. ``backends.qwen``.
        key: the key inside that table.
        line: 1-based line number, known for syntax errors.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: Path | None = None,
        table: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.table = table
        self.key = key
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = _describe_location(self.file, self.table, self.key, self.line)
        return f"Error: {self.message}" + (f" ({where})" if where else "")


def _describe_location(
    file: Path | None, table: str | None, key: str | None, line: int | None
) -> str:
    parts: list[str] = []
    if file is not None:
        parts.append(f"{file}:{line}" if line is not None else str(file))
    if table:
        parts.append(f"table [{table}]")
    if key:
        parts.append(f"key '{key}'")
    return ", ".join(parts)


class ConfigFileNotFoundError(ConfigError):
    """A required configuration file does not exist."""


class ConfigSyntaxError(ConfigError):
    """A file is not valid TOML (or JSON); ``line`` says where."""


class ConfigValueError(ConfigError):
    """A key has a wrong type or value, or a key is not allowed where it is."""


class UnsetVariableError(ConfigError):
    """A ``${VAR}`` reference names a variable the environment does not set."""

    def __init__(
        self,
        variable: str,
        *,
        file: Path | None = None,
        table: str | None = None,
        key: str | None = None,
        also: tuple[str, ...] = (),
    ) -> None:
        self.variable = variable
        self.also = also
        super().__init__(f"{variable} not set", file=file, table=table, key=key)

    def _render(self) -> str:
        """The first unset variable, then every other one in the file (one run finds all)."""
        first = super()._render()
        return first + "".join(f"\nError: {other}" for other in self.also)


class UnknownProviderError(ConfigError):
    """A backend lists a provider that provider_metadata.toml does not define."""


class UsageError(OrchestratorError):
    """A call asks for something the loaded configuration cannot serve."""

    exit_code = 2


class UnknownBackendError(UsageError):
    """A backend name that llm_config.toml does not configure."""

    def __init__(self, backend: str, known: list[str]) -> None:
        self.backend = backend
        self.known = known
        listed = ", ".join(repr(name) for name in known) or "none"
        super().__init__(f"Error: Unknown backend '{backend}' (configured backends: {listed})")


class NoProvidersError(UsageError):
    """An operation needs providers and the backend has none."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        super().__init__(f"Error: No providers configured for backend '{backend}'")


class MigrationError(OrchestratorError):
    """A qwen-providers.toml could not be migrated; nothing was written."""

    exit_code = 2


class ServiceUnavailableError(OrchestratorError):
    """A service the command needs (Redis) cannot be reached; retrying may work."""

    exit_code = 3
