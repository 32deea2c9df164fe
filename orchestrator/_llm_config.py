"""``llm_config.toml``: backends, their provider order, and the backend order.

Strict on purpose: an unknown key or a wrong type is an error naming the table
and key. Keys that auto-coder's file format has but this orchestrator does not
use are accepted with a warning, so an existing file loads without surprises.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ._diagnostics import ConfigWarning, config_error_from_validation
from ._errors import ConfigValueError

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)

#: A list in TOML, a tuple once loaded (strict mode would refuse the list).
StringTuple = Annotated[tuple[str, ...], Field(strict=False)]

#: What a resumed session is told: the conversation so far is in the session itself.
DEFAULT_RESUME_PROMPT = (
    "Your previous provider stopped you with a usage limit in the middle of this task. "
    "Continue exactly where you stopped: check what is already done, do not redo it, "
    "and finish the task."
)

#: auto-coder keys in ``[backends.<name>]`` that are accepted but not used here.
AUTO_CODER_BACKEND_KEYS = frozenset(
    {
        "api_key",
        "base_url",
        "openai_api_key",
        "openai_base_url",
        "temperature",
        "timeout",
        "max_retries",
        "extra_args",
    }
)
_PROVIDER_TABLE = (
    " in a provider table of provider_metadata.toml ([{backend}.<provider>]; "
    "'orchestrator migrate' moves it there)"
)
#: Where an ignored auto-coder key's value belongs instead, said in its warning.
WHERE_IT_GOES = {
    "api_key": ": give the key as the CLI's variable (OPENAI_API_KEY for qwen and codex, "
    "ANTHROPIC_API_KEY for claude, GEMINI_API_KEY for gemini)" + _PROVIDER_TABLE,
    "openai_api_key": ": give it as OPENAI_API_KEY" + _PROVIDER_TABLE,
    "base_url": ": give it as the CLI's base-URL variable (OPENAI_BASE_URL for qwen, "
    "ANTHROPIC_BASE_URL for claude, GOOGLE_GEMINI_BASE_URL for gemini)" + _PROVIDER_TABLE,
    "openai_base_url": ": give it as OPENAI_BASE_URL" + _PROVIDER_TABLE,
}

#: Of those, the ones whose values are secrets (they make the file sensitive).
SECRET_BACKEND_KEYS = frozenset({"api_key", "openai_api_key"})

#: auto-coder top-level tables accepted with a warning and otherwise unused.
AUTO_CODER_TABLES = frozenset({"backend_for_failed_pr"})
#: auto-coder's order of ``noedit`` jobs (``[message_backend]`` is its older name).
NOEDIT_TABLE = "backend_for_noedit"
#: auto-coder's backends for hard jobs (``difficulty = "high"``), tried first for them.
HIGH_SCORE_TABLES = ("backend_with_high_score", "backend_with_high_score_cloud")
#: auto-coder backend types for CLIs this tool does not run: such backends load disabled.
FOREIGN_BACKEND_TYPES = frozenset({"auggie", "codex-mcp"})
#: Tables this file may hold besides backends found at the top level (older layout).
KNOWN_TABLES = frozenset(
    {"backends", "message_backend", "backend", "telemetry", NOEDIT_TABLE, *HIGH_SCORE_TABLES}
)


class BackendConfig(BaseModel):
    """One ``[backends.<name>]`` table.

    Attributes:
        name: the table's name; jobs and ``[message_backend]`` refer to it.
        enabled: a disabled backend is skipped by fallback and refused by jobs.
        model: the model passed to the CLI; None keeps the CLI's default.
        providers: provider names in rotation order (the spec's "Rotation Order").
        backend_type: which adapter runs it; None means the adapter named like
            the backend (resolved by the loader, see ``adapter``).
        options: extra CLI arguments for ``edit`` jobs.
        options_for_noedit: extra CLI arguments for ``noedit`` jobs.
        usage_markers: extra case-insensitive texts that mean "usage limit"; one that
            is a JSON object matches a JSON line holding all its keys and values.
        replace_usage_markers: the backend's ``usage_markers`` replace the adapter's
            limit texts (auto-coder's meaning); the sentinel, the CLI's structured
            events and logs still watch.
        usage_limit_retry_count: retries on the same provider after a limit.
        usage_limit_retry_wait_seconds: wait before each of those retries.
        always_switch_after_execution: rotate to the next provider after every
            run, limited or not (spreads load across providers).
        usage_limit_cooldown_seconds: how long a limited provider is skipped
            when the CLI announced no reset time (None: the orchestrator's default).
        max_cooldown_seconds: the longest a limited provider is skipped, whatever
            its CLI announced (a reset a year away, ``Infinity``): longer waits are cut
            to this, so a provider is never out for good by a misread.
        max_concurrency: attempts running at once on this backend (None: no limit).
        idle_timeout: seconds without output that end an attempt, for jobs
            that do not set their own (None: the adapter's default; 0: never).
        throttle_wait_seconds: a limit announcing a wait this short (a
            per-minute throttle) is waited out on the same provider, twice at
            most, instead of rotating.
        busy_cooldown_seconds: how long a provider that answered "overloaded"
            or a server error is skipped.
        cwd_root: jobs on this backend may only work inside this directory
            (symlinks resolved); overrides the orchestrator's ``cwd_root``.
        allowed_models: the models jobs may ask for on this backend (empty:
            any); another backend's fallback ignores a job model it does not allow.
        settings: what ``[settings]`` in the options stands for (auto-coder's key: a
            settings file, e.g. claude's ``--settings``).
        model_provider: what ``[model_provider]`` in the options stands for.
        on_model_mismatch: what a provider serving another model than the attempt asked
            for (as the sentinel sees the answers) does: ``warn`` (recorded on the
            attempt and logged) or ``fail`` (the attempt fails; the job moves on).
        resume: on a limit (or a refused key, or an idle timeout) after the agent
            did some work, the next attempt on this backend resumes its session
            on the next provider instead of starting over.
        resume_prompt: what a resumed session is told (instead of the prompt again).
        options_for_resume: options for a resumed attempt instead of ``options``
            (auto-coder's key); ``[sessionId]`` in them is the session's id, and
            then the adapter adds no resume flag of its own.
        rotate_at_utilization: a provider whose latest headroom reading is
            at least this fraction used is passed over by new jobs while
            another provider has room (running jobs are never interrupted).
    """

    model_config = _STRICT

    name: str
    enabled: bool = True
    model: str | None = None
    providers: StringTuple = ()
    backend_type: str | None = None
    options: StringTuple = ()
    options_for_noedit: StringTuple = ()
    usage_markers: StringTuple = ()
    replace_usage_markers: bool = False
    usage_limit_retry_count: Annotated[int, Field(ge=0, le=1000)] = 0
    usage_limit_retry_wait_seconds: Annotated[float, Field(ge=0, le=86_400)] = 0.0
    always_switch_after_execution: bool = False
    usage_limit_cooldown_seconds: Annotated[float, Field(ge=0, le=7 * 86_400)] | None = None
    max_cooldown_seconds: Annotated[float, Field(gt=0, le=366 * 86_400)] = 8 * 86_400.0
    max_concurrency: Annotated[int, Field(ge=1)] | None = None
    idle_timeout: Annotated[float, Field(ge=0, le=7 * 86_400)] | None = None
    throttle_wait_seconds: Annotated[float, Field(ge=0, le=3600)] = 5.0
    busy_cooldown_seconds: Annotated[float, Field(ge=0, le=86_400)] = 30.0
    rotate_at_utilization: Annotated[float, Field(gt=0, le=1)] = 0.9
    allowed_models: StringTuple = ()
    cwd_root: Annotated[Path, Field(strict=False)] | None = None
    settings: str | None = None
    model_provider: str | None = None
    on_model_mismatch: Literal["warn", "fail"] = "warn"
    resume: bool = True
    resume_prompt: Annotated[str, Field(min_length=1, max_length=4096)] = DEFAULT_RESUME_PROMPT
    options_for_resume: StringTuple = ()

    @property
    def adapter(self) -> str:
        """The adapter name: ``backend_type`` when set, else the backend's name."""
        return self.backend_type or self.name


class MessageBackendConfig(BaseModel):
    """The ``[message_backend]`` table: which backend a job uses, and fallback order."""

    model_config = _STRICT

    default: str | None = None
    order: StringTuple = ()


class TelemetryConfig(BaseModel):
    """The ``[telemetry]`` table: the optional sinks the worker and ``run`` start.

    Attributes:
        prometheus_port: serve ``/metrics`` on this port (0: any free one).
        prometheus_host: the address it listens on; loopback unless chosen.
        opentelemetry: spans and metrics through the process's OpenTelemetry
            providers (set up by ``opentelemetry-instrument`` or the application).
        event_log_max_bytes: ``events.jsonl`` is rotated when it would grow past this.
        event_log_keep: rotated logs kept (``events.jsonl.1`` is the newest).
    """

    model_config = _STRICT

    prometheus_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    prometheus_host: str = "127.0.0.1"
    opentelemetry: bool = False
    event_log_max_bytes: Annotated[int, Field(ge=4096)] = 64 * 1024 * 1024
    event_log_keep: Annotated[int, Field(ge=0, le=100)] = 3


class LLMConfig(BaseModel):
    """The whole of ``llm_config.toml`` after validation (before cross-checks)."""

    model_config = ConfigDict(frozen=True)

    backends: dict[str, BackendConfig]
    message_backend: MessageBackendConfig
    telemetry: TelemetryConfig = TelemetryConfig()
    #: The order of ``noedit`` jobs, where one is given apart from the main order.
    noedit_backend: MessageBackendConfig | None = None
    #: Backends tried first for hard jobs (auto-coder's ``[backend_with_high_score]``).
    high_score: tuple[str, ...] = ()
    #: The tables the orders came from, for messages.
    main_table: str = "message_backend"
    noedit_table: str | None = None
    #: ``{backend: the table defining it}`` where that is not ``backends.<name>``.
    origins: dict[str, str] = Field(default_factory=dict)

    def table_of(self, backend: str) -> str:
        """The table that defines ``backend``, for messages."""
        return self.origins.get(backend, f"backends.{backend}")


def parse_llm_config(
    data: dict[str, Any], file: Path
) -> tuple[LLMConfig, list[ConfigWarning], bool]:
    """Validate the parsed TOML of ``llm_config.toml``.

    Returns:
        The config, its warnings, and whether the file holds secrets
        (auto-coder's ``api_key`` keys), which makes its permissions matter.

    Raises:
        ConfigValueError: naming the table and key at fault.
    """
    warnings: list[ConfigWarning] = []
    (main_name, main_table), noedit = _order_tables(data, file, warnings)
    top_level: dict[str, Any] = {}
    for table, value in data.items():
        if table in AUTO_CODER_TABLES:
            warnings.append(
                ConfigWarning(
                    f"[{table}] is an auto-coder table that provider-orchestrator does not use",
                    file=file,
                    table=table,
                )
            )
        elif table not in KNOWN_TABLES and _looks_like_a_backend(value):
            top_level[table] = value
        elif table not in KNOWN_TABLES:
            raise ConfigValueError(
                f"unknown table or key '{table}' (expected [backends.<name>], "
                "[message_backend] and [telemetry])",
                file=file,
                key=table,
            )
    if not isinstance(data.get("backends", {}), dict):
        raise ConfigValueError("must be a table of backends", file=file, key="backends")
    backends_table = dict(data.get("backends") or {})
    for name, value in top_level.items():
        if name in backends_table:
            message = f"top-level [{name}] is ignored: [backends.{name}] defines that backend"
        else:
            backends_table[name] = value
            message = (
                f"top-level [{name}] is auto-coder's older layout of a backend; it is read as "
                f"[backends.{name}] (move it there)"
            )
        warnings.append(ConfigWarning(message, file=file, table=name))
    holds_secrets = False
    backends: dict[str, BackendConfig] = {}
    origins = {name: name for name in top_level if name not in data.get("backends", {})}
    for name, table in backends_table.items():
        backends[name] = _parse_backend(
            name, table, file, warnings, origins.get(name, f"backends.{name}")
        )
        holds_secrets |= isinstance(table, dict) and bool(SECRET_BACKEND_KEYS & set(table))
    high_score = []
    for table_name in HIGH_SCORE_TABLES:
        if table_name in data:
            name, secret = _high_score_backend(
                data[table_name], table_name, backends, file, warnings
            )
            high_score.append(name)
            holds_secrets |= secret
    if not backends:
        raise ConfigValueError(
            "no backends configured: add a [backends.<name>] table", file=file, table="backends"
        )
    message_backend = _orders(main_table, main_name, file)
    noedit_backend = None if noedit is None else _orders(noedit[1], noedit[0], file)
    try:
        telemetry = TelemetryConfig.model_validate(data.get("telemetry", {}))
    except pydantic.ValidationError as exc:
        raise config_error_from_validation(
            exc, file=file, table="telemetry", known_keys=TelemetryConfig.model_fields
        ) from None
    llm = LLMConfig(
        backends=backends,
        message_backend=message_backend,
        telemetry=telemetry,
        noedit_backend=noedit_backend,
        high_score=tuple(high_score),
        main_table=main_name,
        noedit_table=None if noedit is None else noedit[0],
        origins=origins,
    )
    return llm, warnings, holds_secrets


def _orders(table: Any, name: str, file: Path) -> MessageBackendConfig:
    try:
        return MessageBackendConfig.model_validate(table)
    except pydantic.ValidationError as exc:
        raise config_error_from_validation(
            exc, file=file, table=name, known_keys=MessageBackendConfig.model_fields
        ) from None


_Named = tuple[str, Any]


def _order_tables(
    data: dict[str, Any], file: Path, warnings: list[ConfigWarning]
) -> tuple[_Named, _Named | None]:
    """``(name, table)`` of the main order and of the noedit order (None: the main one), as
    auto-coder reads them: ``[backend]`` is the main order, ``[backend_for_noedit]`` the
    noedit one, and ``[message_backend]`` its older name; a file with only
    ``[message_backend]`` (the spec's) orders every job with it."""
    noedit = (NOEDIT_TABLE, data[NOEDIT_TABLE]) if NOEDIT_TABLE in data else None
    if "backend" not in data:
        return ("message_backend", data.get("message_backend", {})), noedit
    if "message_backend" in data and NOEDIT_TABLE in data:
        warnings.append(
            ConfigWarning(
                f"[message_backend] is ignored: [backend] orders edit jobs and [{NOEDIT_TABLE}] "
                "noedit jobs (auto-coder's meaning)",
                file=file,
                table="message_backend",
            )
        )
    elif "message_backend" in data:
        warnings.append(
            ConfigWarning(
                "[message_backend] orders noedit jobs only: with [backend] present it is read "
                f"as auto-coder's older name of [{NOEDIT_TABLE}], and [backend] orders edit "
                "jobs",
                file=file,
                table="message_backend",
            )
        )
        return ("backend", data["backend"]), ("message_backend", data["message_backend"])
    return ("backend", data["backend"]), noedit


def _looks_like_a_backend(value: Any) -> bool:
    """A top-level table with backend keys (``model``, ``options``...): auto-coder's older
    layout, ``[qwen]`` for ``[backends.qwen]``."""
    backend_keys = set(BackendConfig.model_fields) | AUTO_CODER_BACKEND_KEYS
    return isinstance(value, dict) and bool(value) and set(value) <= backend_keys


def _high_score_backend(
    table: Any,
    table_name: str,
    backends: dict[str, BackendConfig],
    file: Path,
    warnings: list[ConfigWarning],
) -> tuple[str, bool]:
    """The backend a high-score table defines (named by its ``name``, else the table), or
    the existing backend it names; and whether it holds secrets."""
    if not isinstance(table, dict):
        raise ConfigValueError("must be a table", file=file, key=table_name)
    name = table.get("name", table_name)
    if not isinstance(name, str) or not name:
        raise ConfigValueError("must be a backend name", file=file, table=table_name, key="name")
    settings = {key: value for key, value in table.items() if key != "name"}
    if name in backends:
        if settings:
            raise ConfigValueError(
                f"'{name}' is already a backend: either name it alone (to use it for hard "
                "jobs) or give this table another name",
                file=file,
                table=table_name,
                key="name",
            )
        return name, False
    backends[name] = _parse_backend(name, settings, file, warnings, table_name)
    return name, bool(SECRET_BACKEND_KEYS & set(settings))


def _parse_backend(
    name: str, table: Any, file: Path, warnings: list[ConfigWarning], where: str
) -> BackendConfig:
    if not isinstance(table, dict):
        raise ConfigValueError("must be a table", file=file, table=where)
    if "name" in table:
        raise ConfigValueError(
            "unknown key 'name' (a backend is named by its table)",
            file=file,
            table=where,
            key="name",
        )
    known = {key: value for key, value in table.items() if key not in AUTO_CODER_BACKEND_KEYS}
    warnings.extend(
        ConfigWarning(
            "auto-coder setting not used by provider-orchestrator; it is ignored"
            + WHERE_IT_GOES.get(key, "").format(backend=name),
            file=file,
            table=where,
            key=key,
        )
        for key in table
        if key in AUTO_CODER_BACKEND_KEYS
    )
    try:
        backend = BackendConfig.model_validate({**known, "name": name})
    except pydantic.ValidationError as exc:
        raise config_error_from_validation(
            exc, file=file, table=where, known_keys=BackendConfig.model_fields
        ) from None
    counted = collections.Counter(backend.providers)
    duplicates = sorted(name for name, count in counted.items() if count > 1)
    if duplicates:
        raise ConfigValueError(
            f"provider listed twice: {', '.join(duplicates)}",
            file=file,
            table=where,
            key="providers",
        )
    return backend
