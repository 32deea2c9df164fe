"""The adapter contract: one narrow job, like httpx's transports.

An adapter turns an :class:`AttemptRequest` into an :class:`Invocation` (argv,
stdin, the variables it adds) and classifies what the process produced. It
never spawns anything itself: the process runner does that for every adapter
alike, so timeouts, process groups and bounded buffers are solved once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from ._job import AttemptOutcome, Job, JobMode, TokenUsage
from ._llm_config import BackendConfig
from ._provider_metadata import ProviderConfig
from .limits import Headroom

if TYPE_CHECKING:  # the resume package runs processes, which need this module first
    from .resume import SessionStore

Stream = Literal["stdout", "stderr"]
#: auto-coder's placeholder for the session id in ``options_for_resume``.
SESSION_PLACEHOLDER = "[sessionId]"


@dataclass(frozen=True)
class AttemptRequest:
    """Everything an adapter needs to build one attempt.

    Attributes:
        time_zone: the child's ``TZ`` (None: this machine's zone), for reset
            times a CLI prints in local time without naming a zone.
    """

    job: Job
    backend: BackendConfig
    provider: ProviderConfig | None
    time_zone: str | None = None
    #: Whether the job's ``model`` is meant for this backend: it is for the backend the
    #: job starts on and backends of the same kind (adapter), not for a fallback to
    #: another CLI (a qwen model means nothing to gemini).
    job_model_applies: bool = True
    #: The session to resume (its CLI's id), when this attempt continues earlier work.
    resume_session: str | None = None
    #: The prompt instead of the job's: a continuation, or the job's with a hand-over.
    prompt_override: str | None = None

    @property
    def prompt(self) -> str:
        """What the agent is told in this attempt."""
        return self.job.prompt if self.prompt_override is None else self.prompt_override

    @property
    def model(self) -> str | None:
        """The job's model for this backend (its ``models`` entry, else its ``model`` where
        it applies), if the backend allows it; else the backend's own."""
        wanted = self.job.models.get(self.backend.name)
        if wanted is None and self.job_model_applies:
            wanted = self.job.model
        allowed = self.backend.allowed_models
        if wanted and (not allowed or wanted in allowed):
            return wanted
        return self.backend.model

    @property
    def options(self) -> tuple[str, ...]:
        """The backend's options for the job's mode (``options_for_resume`` for a resumed
        attempt, where set), auto-coder's placeholders filled in: ``[model_name]``,
        ``[sessionId]``, ``[settings]``, ``[model_provider]``. One with no value here
        (no session to resume, no ``settings``) is dropped with the flag before it."""
        backend = self.backend
        if self.resume_session is not None and backend.options_for_resume:
            chosen = backend.options_for_resume
        elif self.job.mode is JobMode.NOEDIT:
            chosen = backend.options_for_noedit
        else:
            chosen = backend.options
        values = {
            "[model_name]": self.model,
            SESSION_PLACEHOLDER: self.resume_session,
            "[settings]": backend.settings,
            "[model_provider]": backend.model_provider,
        }
        return expand_placeholders(chosen, values)

    @property
    def options_name_the_session(self) -> bool:
        """The options already say which session to resume (auto-coder's placeholder)."""
        return self.resume_session is not None and any(
            SESSION_PLACEHOLDER in option
            for option in (self.backend.options_for_resume or self.backend.options)
        )


def expand_placeholders(
    options: tuple[str, ...], values: Mapping[str, str | None]
) -> tuple[str, ...]:
    """``options`` with each ``[placeholder]`` replaced; an option whose placeholder has no
    value is dropped, with the flag before it (``--resume [sessionId]`` with no session)."""
    if not any("[" in option for option in options):
        return options
    expanded: list[str] = []
    for option in options:
        missing = [name for name, value in values.items() if name in option and value is None]
        if missing:
            if expanded and expanded[-1].startswith("-") and expanded[-1] != option:
                expanded.pop()
            continue
        for name, value in values.items():
            if value is not None:
                option = option.replace(name, value)
        expanded.append(option)
    return tuple(expanded)


@dataclass(frozen=True)
class WatchedLog:
    """A log the CLI writes while it runs, followed for limit lines (qwen's debug log).

    Attributes:
        path: where the file will be, given the child's environment (its home);
            None when it cannot be known.
        judge: a verdict for one line of it, or None.
    """

    path: Callable[[Mapping[str, str]], Path | None]
    judge: Callable[[str], Classification | None]


@dataclass(frozen=True)
class Invocation:
    """What to run: argv (never through a shell), optional stdin, added variables.

    Attributes:
        session_id: the session id chosen up front (``--session-id``), if any.
        watched_log: a log to follow for limit signals when the sentinel does
            not watch the attempt.
    """

    argv: tuple[str, ...]
    stdin: bytes | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    session_id: str | None = None
    watched_log: WatchedLog | None = None


@dataclass(frozen=True)
class ProcessOutput:
    """What the runner saw: the exit status and the kept tail of each stream.

    Attributes:
        exit_code: the exit status; negative for a signal; None if never started.
        stdout: the kept tail of standard output, decoded.
        stderr: the kept tail of standard error, decoded.
        stdout_truncated: True when the start of stdout was dropped.
        timed_out: which timeout ended the process, if one did.
        launch_error: why the process could not be started, if it could not.
    """

    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    timed_out: Literal["total", "idle"] | None = None
    launch_error: str | None = None


@dataclass(frozen=True)
class Classification:
    """An adapter's verdict on an attempt, with whatever the output told.

    Attributes:
        outcome: how it ended.
        message: one line for humans (never the answer text).
        retry_after: seconds until the provider may be used again, when the
            output said (Retry-After, "try again in", a reset time).
        answer: the agent's answer, from the JSON output mode where parsed.
        session_id: the CLI's session id, where reported.
        usage: token counts, where reported.
        headroom: how close the provider is to its limit, where the output
            said (claude's ``allowed_warning`` events).
    """

    outcome: AttemptOutcome
    message: str = ""
    retry_after: float | None = None
    answer: str = ""
    session_id: str | None = None
    usage: TokenUsage | None = None
    headroom: Headroom | None = None


class LiveScanner(Protocol):
    """Looks at output while the process runs; a verdict ends the attempt at once."""

    def feed(self, stream: Stream, text: str) -> Classification | None: ...


@runtime_checkable
class ResumableAdapter(Protocol):
    """An adapter whose CLI can resume a session on another provider.

    Attributes:
        session_store: where its CLI keeps session transcripts.
    """

    session_store: SessionStore | None

    @property
    def can_resume(self) -> bool:
        """Whether this CLI resumes sessions headless (and its sessions can be found)."""
        ...

    def session_in(self, stdout: str) -> str | None:
        """The session id the CLI printed, if any."""
        ...

    def did_work(self, stdout: str) -> bool:
        """Whether the agent did something (answered, called a tool) before it stopped."""
        ...


class Adapter(Protocol):
    """A backend CLI, as the supervisor sees it."""

    name: str

    def build(self, request: AttemptRequest) -> Invocation:
        """The argv, stdin and extra variables for one attempt."""
        ...

    def scanner(self, request: AttemptRequest) -> LiveScanner:
        """A fresh live scanner for one attempt."""
        ...

    def classify(self, request: AttemptRequest, output: ProcessOutput) -> Classification:
        """The verdict on a finished attempt."""
        ...
