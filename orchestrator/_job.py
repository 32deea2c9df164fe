"""Jobs and their results: what goes in, what comes out, validated at the boundary."""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

#: What a job id may be (it names spool and result files).
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _check_job_id(value: str) -> str:
    # Job ids name spool and result files: no separators, no leading dot.
    if not JOB_ID_PATTERN.fullmatch(value):
        raise ValueError("must be 1-128 letters, digits, '.', '_' or '-', not starting with . _ -")
    return value


#: Characters that must never reach a CLI's argument list from a job.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _has_lone_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _check_passable(value: str) -> str:
    """Text that must reach a process, a file or a sink: no NUL, no lone surrogate.

    A JSON job may spell both (``\\u0000``, ``\\ud800``); Python can neither pass
    them to a process nor encode them into a result or event, so they are
    refused here, as one failed result naming the field.
    """
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if _has_lone_surrogate(value):
        raise ValueError("must not contain lone surrogates (invalid Unicode)")
    return value


def _check_name(value: str) -> str:
    """A backend name as config tables spell them: printable, no surrogates."""
    _check_passable(value)
    if _CONTROL.search(value) or not value.strip():
        raise ValueError("must be a backend name (no control characters, not empty)")
    return value


def _check_metadata(value: JsonValue, where: str = "metadata") -> JsonValue:
    """Every key and string inside ``metadata`` must be passable text (see above)."""
    stack: list[tuple[str, JsonValue]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            try:
                _check_passable(item)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        elif isinstance(item, dict):
            for key, inner in item.items():
                _check_passable(key)
                stack.append((f"{path}.{key}", inner))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", inner) for index, inner in enumerate(item))
    return value


def _check_cwd(value: Path | None) -> Path | None:
    if value is not None:
        _check_passable(str(value))
    return value


def _check_argv_value(value: str) -> str:
    """A job value that becomes a CLI argument (the model) must be a value, never a flag.

    ``model = "--openai-base-url=http://attacker/v1"`` would otherwise make
    qwen send the provider's key elsewhere, and ``"--yolo"`` approve every
    tool call: options and flags come from the configuration only.
    """
    if value.startswith("-"):
        raise ValueError("must not start with '-' (flags come from the configuration only)")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (NUL, newlines, ...)")
    if _has_lone_surrogate(value):
        raise ValueError("must not contain lone surrogates")
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _check_prompt(value: str) -> str:
    _check_passable(value)
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class JobMode(StrEnum):
    """``edit`` uses the backend's ``options``; ``noedit`` its ``options_for_noedit``."""

    EDIT = "edit"
    NOEDIT = "noedit"


class Job(BaseModel):
    """A prompt for a backend.

    Attributes:
        id: unique id; generated when not given. Names result files.
        prompt: the text handed to the agent CLI (argument or stdin, never a shell).
        backend: which backend to start on; None means ``[message_backend].default``.
        model: overrides the ``model`` of the backend the job starts on, and of
            fallback backends of the same kind (adapter); others run their own.
        models: per backend name, the model to use there (wins over ``model``).
        mode: selects ``options`` or ``options_for_noedit``.
        cwd: working directory of the CLI; None means the orchestrator's.
        timeout: seconds for the whole job, every attempt included.
        idle_timeout: seconds without any output after which an attempt is
            ended; None: the backend's, else the adapter's default; 0: never.
        difficulty: ``high`` starts the job on the high-score backends (auto-coder's
            ``[backend_with_high_score]``) when it names no backend.
        resume: carry the agent's work across a limit (resume its session on the
            next provider, hand it over to the next backend); None: the backend's
            ``resume`` setting.
        metadata: free-form data carried into the result and events.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, AfterValidator(_check_job_id)] = Field(
        default_factory=lambda: uuid.uuid4().hex
    )
    prompt: Annotated[str, AfterValidator(_check_prompt)]
    backend: Annotated[str, Field(max_length=256), AfterValidator(_check_name)] | None = None
    model: Annotated[str, Field(max_length=256), AfterValidator(_check_argv_value)] | None = None
    models: dict[
        Annotated[str, Field(max_length=256), AfterValidator(_check_name)],
        Annotated[str, Field(max_length=256), AfterValidator(_check_argv_value)],
    ] = Field(default_factory=dict)
    mode: JobMode = JobMode.EDIT
    cwd: Annotated[Path | None, AfterValidator(_check_cwd)] = None
    timeout: Annotated[float, Field(gt=0)] | None = None
    idle_timeout: Annotated[float, Field(ge=0)] | None = None
    difficulty: Literal["normal", "high"] = "normal"
    resume: bool | None = None
    metadata: Annotated[dict[str, JsonValue], AfterValidator(_check_metadata)] = Field(
        default_factory=dict
    )


class AttemptOutcome(StrEnum):
    """How one attempt on one provider ended; the supervisor decides what follows."""

    SUCCESS = "success"
    USAGE_LIMIT = "usage_limit"
    AUTH_ERROR = "auth_error"
    TRANSIENT_ERROR = "transient_error"
    TIMEOUT = "timeout"
    LAUNCH_ERROR = "launch_error"
    #: An error no rule recognises: the next provider is tried, without a cooldown.
    FAILURE = "failure"
    #: The CLI refused the job itself (its options or prompt): the job fails.
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class TokenUsage(BaseModel):
    """Token counts as the CLI reported them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class Attempt(BaseModel):
    """One run of one CLI on one provider, as recorded in the result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    provider: str | None
    model: str | None
    outcome: AttemptOutcome
    exit_code: int | None
    duration: float
    message: str = ""
    retry_after: float | None = None
    stderr_tail: tuple[str, ...] = ()
    #: The CLI wrote more than the kept tail of stdout (8 MiB): its start is missing.
    stdout_truncated: bool = False
    #: The CLI's session this attempt ran in, where known.
    session_id: str | None = None
    #: The attempt (1-based) whose session this one resumed, on the next provider.
    resumed_from: int | None = None
    #: The attempt whose work this one's prompt handed over (from another backend).
    handed_over_from: int | None = None
    #: The model the provider's answers named (seen by the sentinel), where known.
    served_model: str | None = None


class JobResult(BaseModel):
    """The one result every job ends in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    status: Literal["succeeded", "failed"]
    output: str = ""
    #: The answer came from a stdout longer than the kept tail (8 MiB): its start is missing.
    output_truncated: bool = False
    backend: str | None = None
    provider: str | None = None
    model: str | None = None
    attempts: tuple[Attempt, ...] = ()
    error: str | None = None
    session_id: str | None = None
    usage: TokenUsage | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
