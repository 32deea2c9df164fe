"""``provider_metadata.toml``: how each provider of a backend is reached.

Each ``[<backend>.<provider>]`` table has ``command``, ``args`` and
``description``; every UPPERCASE key is an environment setting for the child
process; every other lowercase key is kept as a provider option (the spec's
migration example carries ``base_url`` and ``model``), never dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ._diagnostics import config_error_from_validation
from ._errors import ConfigValueError

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
#: Words in a setting's name that say its value is a credential.
CREDENTIAL_WORDS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "COOKIE",
    "SESSION",
    "SIGNATURE",
)
OPTION_NAME = re.compile(r"[a-z][a-z0-9_-]*")
#: Largest value an environment setting may hold; far above any real key or URL.
MAX_ENV_VALUE = 64 * 1024


class ProviderConfig(BaseModel):
    """One provider of one backend.

    Attributes:
        name: the provider's name, as listed in ``[backends.<b>].providers``.
        backend: the backend table it belongs to.
        command: the program to run instead of the CLI's own binary, if any.
        args: arguments placed right after ``command``.
        description: human-readable text shown in status output.
        max_concurrency: attempts running at once on this provider (None: no limit).
        env: the UPPERCASE settings: exported to the child only, never to
            ``os.environ``. Those whose names say credential (``KEY``,
            ``TOKEN``, ``SECRET``, ``PASSWORD``, ``AUTH``, ...) and those the
            ``secrets = ["NAME", ...]`` option lists are secrets, masked
            everywhere; the rest (base URLs, models, paths) are shown.
        options: the remaining lowercase keys, as written.
        unusable: why the provider cannot be used as configured (``${VAR}``
            references to unset variables); None when it can. Such a provider
            is skipped, not a reason to refuse the whole configuration.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str
    backend: str
    command: Annotated[str, Field(min_length=1)] | None = None
    args: Annotated[tuple[str, ...], Field(strict=False)] = ()
    description: str | None = None
    max_concurrency: Annotated[int, Field(ge=1)] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    unusable: str | None = None

    @property
    def fingerprint(self) -> str:
        """A short digest of everything that decides how the provider is reached.

        A provider refused with a 401 stays out until this changes (a new key,
        another command). 64 bits of SHA-256: it identifies a configuration and
        reveals nothing usable about a high-entropy key.
        """
        settings = {
            "command": self.command,
            "args": list(self.args),
            "env": sorted(self.env.items()),
            "options": sorted((k, repr(v)) for k, v in self.options.items()),
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        return digest.hexdigest()[:16]

    def is_secret(self, name: str) -> bool:
        """Whether setting ``name`` holds a credential (its name says so, or ``secrets``)."""
        listed = self.options.get("secrets", ())
        if isinstance(listed, list | tuple) and name in listed:
            return True
        return any(word in name for word in CREDENTIAL_WORDS)

    @property
    def secret_values(self) -> frozenset[str]:
        """Values that must never be shown: the credential settings'."""
        return frozenset(
            value for name, value in self.env.items() if value and self.is_secret(name)
        )


ProviderTables = dict[str, dict[str, ProviderConfig]]


def parse_provider_metadata(data: dict[str, Any], file: Path) -> ProviderTables:
    """Validate the parsed TOML of ``provider_metadata.toml``.

    Returns:
        ``{backend: {provider: ProviderConfig}}`` in file order (rotation order
        comes from llm_config.toml, not from here).

    Raises:
        ConfigValueError: naming the table and key at fault.
    """
    tables: ProviderTables = {}
    for backend, providers in data.items():
        if not isinstance(providers, dict):
            raise ConfigValueError(
                "must be a table of providers, e.g. [qwen.my-provider]", file=file, key=backend
            )
        tables[backend] = {}
        for name, table in providers.items():
            if not isinstance(table, dict):
                raise ConfigValueError(
                    "must be a provider table", file=file, table=backend, key=name
                )
            tables[backend][name] = parse_provider(backend, name, table, file)
    return tables


def parse_provider(backend: str, name: str, table: dict[str, Any], file: Path) -> ProviderConfig:
    """Split one provider table into fields, environment settings and options."""
    where = f"{backend}.{name}"
    fields: dict[str, Any] = {}
    env: dict[str, str] = {}
    options: dict[str, Any] = {}
    for key, value in table.items():
        if key in {"command", "args", "description", "max_concurrency"}:
            fields[key] = value
        elif ENV_NAME.fullmatch(key):
            env[key] = _env_value(value, file, where, key)
        elif OPTION_NAME.fullmatch(key):
            options[key] = value
        else:
            raise ConfigValueError(
                "key must be UPPERCASE (an environment setting such as API_KEY) or lowercase "
                "(a provider option)",
                file=file,
                table=where,
                key=key,
            )
    listed = options.get("secrets")
    if listed is not None and not (
        isinstance(listed, list)
        and all(isinstance(n, str) and ENV_NAME.fullmatch(n) for n in listed)
    ):
        raise ConfigValueError(
            'must be a list of UPPERCASE setting names to mask, e.g. secrets = ["MY_VAR"]',
            file=file,
            table=where,
            key="secrets",
        )
    if "args" in fields and "command" not in fields:
        raise ConfigValueError(
            "'args' needs 'command' (args are the command's arguments)",
            file=file,
            table=where,
            key="args",
        )
    try:
        return ProviderConfig.model_validate(
            {**fields, "name": name, "backend": backend, "env": env, "options": options}
        )
    except pydantic.ValidationError as exc:
        raise config_error_from_validation(exc, file=file, table=where) from None


def _env_value(value: Any, file: Path, table: str, key: str) -> str:
    """Environment values are strings; TOML numbers are accepted as their text."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigValueError(
            f"environment setting must be a string, got {type(value).__name__}",
            file=file,
            table=table,
            key=key,
        )
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise ConfigValueError(
            "environment setting contains a NUL character", file=file, table=table, key=key
        )
    if len(text) > MAX_ENV_VALUE:
        raise ConfigValueError(
            f"environment setting is longer than {MAX_ENV_VALUE} characters",
            file=file,
            table=table,
            key=key,
        )
    return text
