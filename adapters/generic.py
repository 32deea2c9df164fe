"""The generic adapter: any command, prompt as an argument or on stdin.

Every built-in adapter is a :class:`CliAdapter`: a declaration of the CLI's
binary, flags, output parser and limit texts. This module holds the one
implementation of argv building and classification they all share.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from orchestrator import (
    AttemptOutcome,
    AttemptRequest,
    Classification,
    Headroom,
    Invocation,
    ProcessOutput,
    Stream,
    TokenUsage,
    UsageError,
    WatchedLog,
    find_marker,
    parse_retry_after,
)
from orchestrator.resume import SessionStore

T = TypeVar("T")
PromptStyle = Literal["option", "print_flag", "positional", "stdin"]
#: Judges one JSON line of stdout (an event of a stream-json mode) at Unix time ``now``.
LineJudge = Callable[[dict[str, Any], float], Classification | None]
#: Reads a headroom reading (a near-limit warning) from one JSON line of stdout.
LineHeadroom = Callable[[dict[str, Any], float], Headroom | None]
#: A stdout line longer than this is not judged (it is still kept in the output).
JUDGED_LINE_LIMIT = 1024 * 1024

#: Spellings of one flag in the yargs CLIs (gemini, and qwen, which forked it).
YARGS_FLAG_ALIASES = (
    frozenset({"-m", "--model"}),
    frozenset({"-o", "--output-format"}),
    frozenset({"-p", "--prompt"}),
)
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
#: Texts that mean "the CLI refused the job itself" (its options, its prompt):
#: another provider of the same backend would refuse it the same way. Argument
#: parsers' wordings: commander and yargs (the node CLIs), clap (codex).
REJECTION_MARKERS = (
    "error: unknown option",
    "error: missing required argument",
    "error: option '",
    "unknown argument",
    "unknown arguments:",
    "not enough arguments",
    "invalid values:",
    "error: unexpected argument",
    "error: invalid value",
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
        line_judge: reads each JSON line of stdout while the CLI runs (and
            after it ended) for structured limit events, e.g. claude's
            ``rate_limit_event``.
        line_headroom: reads near-limit warnings from stdout's JSON lines
            (claude's ``allowed_warning``), kept as the provider's headroom.
        rejection_markers: texts meaning the CLI refused the job or its
            options; such an attempt fails the job instead of rotating.
        default_idle_timeout: seconds without output after which an attempt
            is ended when neither the job nor the backend says otherwise:
            longer than the CLI's longest silent stretch in its streaming
            output mode (a tool call), so only a hung attempt is cut.
        session_flag: the flag that names the session up front
            (``--session-id UUID``); the attempt's session id is then known
            before the CLI prints anything. Not added when the options
            already choose a session.
        watched_log: the log the CLI writes for that session and how to
            judge its lines, followed when the sentinel does not watch.
        limit_signal: how this CLI shows a limit when the sentinel does not
            watch its provider (shown by ``config check``).
        silent_on_limits: given a provider's settings, True when (without
            the sentinel) a limit shows no sign until the CLI gives up, so
            only the idle timeout ends it (qwen with its debug log off).
        resume_args: what resumes a session, right after the subcommand
            (``{session}`` is its id): ``--resume {session}``, codex's
            ``resume {session}``. Empty: the CLI cannot resume headless.
        session_store: where the CLI keeps session transcripts.
        progress: given stdout, whether the agent did anything (answered,
            called a tool) before it stopped; a session with nothing in it is
            not worth resuming.
        flag_aliases: spellings of one flag (``-m``/``--model``): a flag the
            backend's options already give (auto-coder's ``"--model",
            "[model_name]"``, ``"--output-format", "stream-json"``, a trailing
            ``"-p"``) is not added again.
        output_modes: the values of the output flag this adapter reads; options
            choosing another get a warning at load time.
        key_env: the variables holding the CLI's API key, which the sentinel holds
            (the child gets a placeholder) when it watches the provider.
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
    line_judge: LineJudge | None = None
    line_headroom: LineHeadroom | None = None
    rejection_markers: tuple[str, ...] = REJECTION_MARKERS
    default_idle_timeout: float | None = None
    session_flag: str | None = None
    watched_log: Callable[[str], WatchedLog] | None = None
    limit_signal: str = "its error text when it exits (usage_markers)"
    silent_on_limits: Callable[[Mapping[str, str]], bool] | None = None
    resume_args: tuple[str, ...] = ()
    session_store: SessionStore | None = None
    progress: Callable[[str], bool] | None = None
    flag_aliases: tuple[frozenset[str], ...] = ()
    output_modes: tuple[str, ...] = ()
    key_env: tuple[str, ...] = ()

    @property
    def can_resume(self) -> bool:
        return bool(self.resume_args) and self.session_store is not None

    def session_in(self, stdout: str) -> str | None:
        return self.parse(stdout).session_id

    def did_work(self, stdout: str) -> bool:
        return self.progress is not None and self.progress(stdout)

    def build(self, request: AttemptRequest) -> Invocation:
        """``launcher + subcommand + options + model + output mode + prompt``.

        The launcher is the provider's ``command`` and ``args`` when it sets
        them, else the CLI's binary. The prompt is one argv element (or stdin),
        so no shell ever sees it; a prompt starting with ``-`` is kept from
        being read as a flag.
        """
        launcher = self._launcher(request)
        model = request.model
        options = request.options
        style = self._prompt_style(request)
        if style != "stdin" and options and self._prompt_flag_given(options[-1:]):
            options = options[:-1]  # auto-coder's trailing "-p": the prompt follows below
        argv = [*launcher, *self.subcommand]
        session_id = request.resume_session
        resumes_itself = request.options_name_the_session or (
            bool(self.resume_args) and self._given(options, self.resume_args[0])
        )  # options_for_resume = ["--resume", "latest"]: the options choose the session
        if session_id is not None and not resumes_itself:
            argv += [arg.replace("{session}", session_id) for arg in self.resume_args]
        argv += options
        if model and self.model_flag and not self._given(options, self.model_flag):
            argv += [self.model_flag, model]
        for group in _flag_groups(self.output_args):
            if not self._given(options, group[0]):
                argv += group
        if session_id is None:
            session_id = self._new_session(options)
            if session_id is not None and self.session_flag is not None:
                argv += [self.session_flag, session_id]
        watched = self.watched_log(session_id) if session_id and self.watched_log else None
        prompt = request.prompt
        stdin = prompt.encode("utf-8") if style == "stdin" else None
        if style == "print_flag" and self._prompt_flag_given(options):
            argv += ["--", prompt] if prompt.startswith("-") else [prompt]
        elif style != "stdin":
            argv += self._prompt_args(style, prompt)
        return Invocation(argv=tuple(argv), stdin=stdin, session_id=session_id, watched_log=watched)

    def option_problems(self, options: tuple[str, ...]) -> list[str]:
        """Why options would leave this adapter unable to read the CLI's output."""
        flag = next(iter(_flag_groups(self.output_args)), (None,))[0]
        if flag is None or not self.output_modes:
            return []
        names = self._aliases(flag)
        for position, option in enumerate(options):
            name, _, inline = option.partition("=")
            if name not in names:
                continue
            value = inline or (options[position + 1] if position + 1 < len(options) else "")
            if value not in self.output_modes:
                return [
                    f"{option if inline else f'{option} {value}'} chooses an output mode the "
                    f"{self.name} adapter does not read ({', '.join(self.output_modes)}): "
                    "answers are taken as plain text and limits only from error texts"
                ]
        return []

    def _aliases(self, flag: str) -> frozenset[str]:
        return next((names for names in self.flag_aliases if flag in names), frozenset({flag}))

    def _given(self, options: tuple[str, ...], flag: str) -> bool:
        names = self._aliases(flag)
        return any(option.split("=", 1)[0] in names for option in options)

    def _prompt_flag_given(self, options: tuple[str, ...]) -> bool:
        return (
            self._given(options, "-p") if self.prompt_style in ("option", "print_flag") else False
        )

    def _new_session(self, options: tuple[str, ...]) -> str | None:
        """A fresh session id, unless the CLI cannot take one or the options pick a session."""
        if self.session_flag is None:
            return None
        chosen = {self.session_flag, "--resume", "-r", "--continue", "-c"}
        if any(option.split("=", 1)[0] in chosen for option in options):
            return None
        return str(uuid.uuid4())

    def scanner(self, request: AttemptRequest) -> LimitScanner:
        return LimitScanner(
            stderr_markers=self._text_markers(request),
            stdout_markers=self.live_stdout_markers,
            stdout_auth_markers=self.live_stdout_auth_markers,
            line_judge=self._line_judge(request),
            time_zone=request.time_zone,
        )

    def _text_markers(self, request: AttemptRequest) -> tuple[str, ...]:
        """The adapter's limit texts (unless the backend replaces them, as auto-coder's
        ``usage_markers`` do) and the backend's own, JSON markers apart."""
        backend = request.backend
        configured = tuple(m for m in backend.usage_markers if json_marker(m) is None)
        return configured if backend.replace_usage_markers else (*self.usage_markers, *configured)

    def _line_judge(self, request: AttemptRequest) -> LineJudge | None:
        """The adapter's line judge, after the backend's JSON markers: a JSON line holding
        every key and value of one (auto-coder's meaning) is a usage limit."""
        wanted = [m for m in map(json_marker, request.backend.usage_markers) if m is not None]
        if not wanted:
            return self.line_judge
        own = self.line_judge

        def judge(event: dict[str, Any], now: float) -> Classification | None:
            for marker in wanted:
                if _holds(event, marker):
                    text = json.dumps(marker, separators=(",", ":"))
                    return Classification(AttemptOutcome.USAGE_LIMIT, f"usage limit: {text}")
            return own(event, now) if own is not None else None

        return judge

    def classify(self, request: AttemptRequest, output: ProcessOutput) -> Classification:
        """Success, limit, auth, transient, timeout, launch error or failure.

        A zero exit is judged by the structured output only, never by words in
        the answer (an answer that mentions "quota" is still an answer).
        """
        if output.launch_error is not None:
            return Classification(AttemptOutcome.LAUNCH_ERROR, output.launch_error)
        parsed = self.parse(output.stdout)
        headroom = self._latest_headroom(output.stdout)
        if output.exit_code == 0 and output.timed_out is None and not parsed.is_error:
            return Classification(
                AttemptOutcome.SUCCESS,
                answer=parsed.answer,
                session_id=parsed.session_id,
                usage=parsed.usage,
                headroom=headroom,
            )
        error_text = "\n".join(
            part for part in (parsed.error_text, output.stderr, _stdout_if_failed(output)) if part
        )
        verdict = self._judged_lines(
            request, f"{output.stdout}\n{output.stderr}"
        ) or self._error_verdict(request, error_text)
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
            headroom=headroom,
        )

    def _latest_headroom(self, stdout: str) -> Headroom | None:
        if self.line_headroom is None:
            return None
        now = time.time()
        readings = [read_line(self.line_headroom, line, now) for line in stdout.splitlines()]
        return next((reading for reading in reversed(readings) if reading is not None), None)

    def _judged_lines(self, request: AttemptRequest, output: str) -> Classification | None:
        """The first limit or auth verdict among the JSON lines of the output (see
        ``line_judge``, and JSON ``usage_markers``)."""
        judge = self._line_judge(request)
        if judge is None:
            return None
        now = time.time()
        for line in output.splitlines():
            verdict = read_line(judge, line, now)
            if verdict is not None:
                return verdict
        return None

    def _error_verdict(self, request: AttemptRequest, text: str) -> Classification | None:
        marker = find_marker(text, self._text_markers(request))
        if marker is not None:
            return limit_classification(marker, text, request.time_zone)
        for outcome, markers in (
            (AttemptOutcome.AUTH_ERROR, self.auth_markers),
            (AttemptOutcome.TRANSIENT_ERROR, self.transient_markers),
            (AttemptOutcome.REJECTED, self.rejection_markers),
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


def _flag_groups(args: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``("-o", "stream-json", "--verbose")`` -> ``[("-o", "stream-json"), ("--verbose",)]``."""
    groups: list[tuple[str, ...]] = []
    for arg in args:
        if arg.startswith("-") or not groups:
            groups.append((arg,))
        else:
            groups[-1] = (*groups[-1], arg)
    return groups


@dataclass
class LimitScanner:
    """Watches live output for limit texts; stdout only for structured markers.

    Keeps the last few characters of each stream so a marker split across two
    reads is still found.
    """

    stderr_markers: tuple[str, ...]
    stdout_markers: tuple[str, ...]
    stdout_auth_markers: tuple[str, ...] = ()
    line_judge: LineJudge | None = None
    time_zone: str | None = None
    _carry: dict[str, str] = field(default_factory=dict)
    _line: str = ""

    def feed(self, stream: Stream, text: str) -> Classification | None:
        if stream == "stdout" and self.line_judge is not None:
            verdict = self._judge_lines(text)
            if verdict is not None:
                return verdict
        return self._find_markers(stream, text)

    def _judge_lines(self, text: str) -> Classification | None:
        assert self.line_judge is not None
        *complete, self._line = (self._line + text).split("\n")
        if len(self._line) > JUDGED_LINE_LIMIT:
            self._line = ""
        now = time.time()
        for line in complete:
            verdict = read_line(self.line_judge, line, now)
            if verdict is not None:
                return verdict
        return None

    def _find_markers(self, stream: Stream, text: str) -> Classification | None:
        limits = self.stderr_markers if stream == "stderr" else self.stdout_markers
        auth = self.stdout_auth_markers if stream == "stdout" else ()
        if not (limits or auth):
            return None
        keep = max(len(marker) for marker in (*limits, *auth))
        window = self._carry.get(stream, "") + text
        self._carry[stream] = window[-keep:]
        marker = find_marker(window, limits)
        if marker is not None:
            return limit_classification(marker, window, self.time_zone)
        marker = find_marker(window, auth)
        if marker is not None:
            return Classification(AttemptOutcome.AUTH_ERROR, f"auth error: {marker!r}")
        return None


def limit_classification(marker: str, text: str, time_zone: str | None = None) -> Classification:
    """A usage-limit verdict with the wait the text announces, if any.

    ``time_zone``: the child's ``TZ``, for reset times printed in local time.
    """
    return Classification(
        AttemptOutcome.USAGE_LIMIT,
        f"usage limit: {marker!r}",
        retry_after=parse_retry_after(text, time.time(), time_zone),
    )


def json_marker(marker: str) -> dict[str, Any] | None:
    """A ``usage_markers`` entry that is a JSON object, parsed; None for a text."""
    if not marker.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(marker)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _holds(value: Any, wanted: Any) -> bool:
    """``value`` has every key of ``wanted`` with the same value (objects compared so,
    recursively): auto-coder's JSON marker match."""
    if isinstance(wanted, dict):
        return isinstance(value, dict) and all(
            key in value and _holds(value[key], inner) for key, inner in wanted.items()
        )
    return bool(value == wanted)


def read_line(
    reader: Callable[[dict[str, Any], float], T | None], line: str, now: float
) -> T | None:
    """What ``reader`` makes of one stdout line, when it is a JSON object."""
    line = line.strip()
    if not line.startswith("{") or len(line) > JUDGED_LINE_LIMIT:
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return reader(value, now) if isinstance(value, dict) else None


def _stdout_if_failed(output: ProcessOutput) -> str:
    # Only a failed run's stdout may be searched for error texts.
    return output.stdout[-4096:] if output.exit_code not in (0, None) else ""


def _timeout_message(output: ProcessOutput) -> str:
    if output.timed_out == "idle":
        return "no output within the idle timeout"
    return "the job's timeout expired"


def _failure_message(output: ProcessOutput, error_text: str) -> str:
    # Not cut here: the supervisor redacts the message first, then shortens it.
    last = next((line for line in reversed(error_text.splitlines()) if line.strip()), "")
    return f"exit code {output.exit_code}" + (f": {last}" if last else "")


ADAPTER = CliAdapter(name="generic", binary=None, prompt_style="positional")
