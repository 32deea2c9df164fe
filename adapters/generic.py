"""The generic adapter: any command, prompt as an argument or on stdin.

Every built-in adapter is a :class:`CliAdapter`: a declaration of the CLI's
binary, flags, output parser and limit texts. This module holds the one
implementation of argv building and classification they all share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from orchestrator import (
    AttemptOutcome,
    AttemptRequest,
    Classification,
    Invocation,
    ProcessOutput,
    Stream,
    TokenUsage,
    UsageError,
    find_marker,
    parse_retry_after,
)

PromptStyle = Literal["option", "print_flag", "positional", "stdin"]

#: Texts that mean "try again shortly", for every CLI.
TRANSIENT_MARKERS = (
    "internal server error",
    "service unavailable",
    "bad gateway",
    "gateway timeout",
    "overloaded",
    "econnreset",
    "econnrefused",
    "etimedout",
    "socket hang up",
    "fetch failed",
    "network error",
)
#: Texts that mean "the credentials are wrong", for every CLI.
AUTH_MARKERS = (
    "401",
    "unauthorized",
    "invalid api key",
    "invalid_api_key",
    "incorrect api key",
    "authentication_error",
    "authentication failed",
    "api key not valid",
    "permission_denied",
)


@dataclass(frozen=True)
class ParsedOutput:
    """What a CLI's JSON output mode said, where it has one."""

    answer: str
    is_error: bool = False
    error_text: str = ""
    session_id: str | None = None
    usage: TokenUsage | None = None


def plain_text(stdout: str) -> ParsedOutput:
    """Output without structure: the answer is stdout itself."""
    return ParsedOutput(answer=stdout.strip())


@dataclass(frozen=True)
class CliAdapter:
    """A declarative adapter for one agent CLI.

    Attributes:
        name: the adapter's name (``backend_type``).
        binary: the CLI's executable; None means the provider must set ``command``.
        subcommand: arguments right after the executable (codex's ``exec``).
        model_flag: flag that takes the model; None if the CLI has none.
        output_args: flags selecting the machine-readable output mode.
        prompt_style: ``option`` (``-p PROMPT``), ``print_flag`` (``-p`` then the
            prompt as an operand), ``positional``, or ``stdin``.
        usage_markers: texts meaning "usage limit" on the error channel.
        live_stdout_markers: structured usage-limit texts safe to act on in
            stdout while the CLI runs (answer text is never scanned).
        live_stdout_auth_markers: structured auth-failure texts, the same way
            (a CLI that retries a 401 would otherwise sit in its backoff).
        parse: reads the output mode's text.
        base_url_env: the variable holding the API base URL, which the
            sentinel replaces with its own address (None: not settable).
    """

    name: str
    binary: str | None
    subcommand: tuple[str, ...] = ()
    model_flag: str | None = None
    output_args: tuple[str, ...] = ()
    prompt_style: PromptStyle = "positional"
    usage_markers: tuple[str, ...] = ()
    auth_markers: tuple[str, ...] = AUTH_MARKERS
    transient_markers: tuple[str, ...] = TRANSIENT_MARKERS
    live_stdout_markers: tuple[str, ...] = ()
    live_stdout_auth_markers: tuple[str, ...] = ()
    parse: Callable[[str], ParsedOutput] = field(default=plain_text)
    base_url_env: str | None = None

    def build(self, request: AttemptRequest) -> Invocation:
        """``launcher + subcommand + options + model + output mode + prompt``.

        The launcher is the provider's ``command`` and ``args`` when it sets
        them, else the CLI's binary. The prompt is one argv element (or stdin),
        so no shell ever sees it; a prompt starting with ``-`` is kept from
        being read as a flag.
        """
        launcher = self._launcher(request)
        model = request.model
        argv = [*launcher, *self.subcommand, *request.options]
        if model and self.model_flag:
            argv += [self.model_flag, model]
        argv += self.output_args
        prompt = request.job.prompt
        style = self._prompt_style(request)
        if style == "stdin":
            return Invocation(argv=tuple(argv), stdin=prompt.encode("utf-8"))
        return Invocation(argv=(*argv, *self._prompt_args(style, prompt)))

    def scanner(self, request: AttemptRequest) -> LimitScanner:
        markers = (*self.usage_markers, *request.backend.usage_markers)
        return LimitScanner(
            stderr_markers=markers,
            stdout_markers=self.live_stdout_markers,
            stdout_auth_markers=self.live_stdout_auth_markers,
        )

    def classify(self, request: AttemptRequest, output: ProcessOutput) -> Classification:
        """Success, limit, auth, transient, timeout, launch error or failure.

        A zero exit is judged by the structured output only, never by words in
        the answer (an answer that mentions "quota" is still an answer).
        """
        if output.launch_error is not None:
            return Classification(AttemptOutcome.LAUNCH_ERROR, output.launch_error)
        parsed = self.parse(output.stdout)
        if output.exit_code == 0 and output.timed_out is None and not parsed.is_error:
            return Classification(
                AttemptOutcome.SUCCESS,
                answer=parsed.answer,
                session_id=parsed.session_id,
                usage=parsed.usage,
            )
        error_text = "\n".join(
            part for part in (parsed.error_text, output.stderr, _stdout_if_failed(output)) if part
        )
        verdict = self._error_verdict(request, error_text)
        if verdict is None and output.timed_out is not None:
            verdict = Classification(AttemptOutcome.TIMEOUT, _timeout_message(output))
        if verdict is None:
            verdict = Classification(AttemptOutcome.FAILURE, _failure_message(output, error_text))
        return Classification(
            verdict.outcome,
            verdict.message,
            verdict.retry_after,
            session_id=parsed.session_id,
            usage=parsed.usage,
        )

    def _error_verdict(self, request: AttemptRequest, text: str) -> Classification | None:
        marker = find_marker(text, (*self.usage_markers, *request.backend.usage_markers))
        if marker is not None:
            return limit_classification(marker, text)
        for outcome, markers in (
            (AttemptOutcome.AUTH_ERROR, self.auth_markers),
            (AttemptOutcome.TRANSIENT_ERROR, self.transient_markers),
        ):
            found = find_marker(text, markers)
            if found is not None:
                return Classification(outcome, f"{outcome.value.replace('_', ' ')}: {found!r}")
        return None

    def _launcher(self, request: AttemptRequest) -> list[str]:
        provider = request.provider
        if provider is not None and provider.command:
            return [provider.command, *provider.args]
        if self.binary is None:
            where = (
                f"provider '{provider.name}'" if provider else f"backend '{request.backend.name}'"
            )
            raise UsageError(
                f"Error: the {self.name} adapter needs a command: set 'command' for {where} "
                "in provider_metadata.toml"
            )
        return [self.binary]

    def _prompt_style(self, request: AttemptRequest) -> PromptStyle:
        provider = request.provider
        chosen = provider.options.get("prompt_via") if provider is not None else None
        if chosen == "stdin":
            return "stdin"
        return self.prompt_style

    @staticmethod
    def _prompt_args(style: PromptStyle, prompt: str) -> list[str]:
        dashed = prompt.startswith("-")
        if style == "option":
            return [f"--prompt={prompt}"] if dashed else ["-p", prompt]
        if style == "print_flag":
            return ["-p", "--", prompt] if dashed else ["-p", prompt]
        return ["--", prompt] if dashed else [prompt]


@dataclass
class LimitScanner:
    """Watches live output for limit texts; stdout only for structured markers.

    Keeps the last few characters of each stream so a marker split across two
    reads is still found.
    """

    stderr_markers: tuple[str, ...]
    stdout_markers: tuple[str, ...]
    stdout_auth_markers: tuple[str, ...] = ()
    _carry: dict[str, str] = field(default_factory=dict)

    def feed(self, stream: Stream, text: str) -> Classification | None:
        limits = self.stderr_markers if stream == "stderr" else self.stdout_markers
        auth = self.stdout_auth_markers if stream == "stdout" else ()
        if not (limits or auth):
            return None
        keep = max(len(marker) for marker in (*limits, *auth))
        window = self._carry.get(stream, "") + text
        self._carry[stream] = window[-keep:]
        marker = find_marker(window, limits)
        if marker is not None:
            return limit_classification(marker, window)
        marker = find_marker(window, auth)
        if marker is not None:
            return Classification(AttemptOutcome.AUTH_ERROR, f"auth error: {marker!r}")
        return None


def limit_classification(marker: str, text: str) -> Classification:
    """A usage-limit verdict with the wait the text announces, if any."""
    return Classification(
        AttemptOutcome.USAGE_LIMIT,
        f"usage limit: {marker!r}",
        retry_after=parse_retry_after(text, time.time()),
    )


def _stdout_if_failed(output: ProcessOutput) -> str:
    # Only a failed run's stdout may be searched for error texts.
    return output.stdout[-4096:] if output.exit_code not in (0, None) else ""


def _timeout_message(output: ProcessOutput) -> str:
    if output.timed_out == "idle":
        return "no output within the idle timeout"
    return "the job's timeout expired"


def _failure_message(output: ProcessOutput, error_text: str) -> str:
    last = next((line for line in reversed(error_text.splitlines()) if line.strip()), "")
    return f"exit code {output.exit_code}" + (f": {last[:200]}" if last else "")


ADAPTER = CliAdapter(name="generic", binary=None, prompt_style="positional")
