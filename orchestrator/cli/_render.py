"""Results as people read them: a heading, the attempts when there were several, the output."""

from __future__ import annotations

import signal

from .._job import Attempt, AttemptOutcome, JobResult


def render_result(result: JobResult) -> str:
    """A job's result for a terminal; secrets were redacted before it got here."""
    total = sum(attempt.duration for attempt in result.attempts)
    count = len(result.attempts)
    plural = "" if count == 1 else "s"
    if result.status == "succeeded":
        where = f"{result.backend}/{result.provider or '-'}"
        model = f" (model {result.model})" if result.model else ""
        heading = f"== {result.job_id}: succeeded on {where}{model}, "
    else:
        heading = f"== {result.job_id}: failed, "
    cut = ", output cut (only the CLI's last 8 MiB were kept)" if result.output_truncated else ""
    lines = [heading + f"{count} attempt{plural}, {total:.1f} s{cut}"]
    if count > 1 or result.status == "failed":
        lines += [_render_attempt(number, a) for number, a in enumerate(result.attempts, 1)]
    if result.status == "failed":
        lines.append(result.error or "Error: the job failed")
    elif result.output:
        lines.append(result.output.rstrip("\n"))
    return "\n".join(lines)


#: Outcomes for which the orchestrator itself ends a running CLI (with SIGTERM/SIGKILL).
ENDED_BY_US = frozenset(
    {
        AttemptOutcome.USAGE_LIMIT,
        AttemptOutcome.AUTH_ERROR,
        AttemptOutcome.TRANSIENT_ERROR,
        AttemptOutcome.TIMEOUT,
        AttemptOutcome.CANCELLED,
    }
)


def _render_attempt(number: int, attempt: Attempt) -> str:
    if attempt.exit_code is None:
        exit_code = ""
    elif attempt.exit_code < 0 and attempt.outcome in ENDED_BY_US:
        # The orchestrator signals a CLI only to end it: a limit seen live, a timeout, a stop.
        exit_code = f", ended by the orchestrator ({_signal_name(-attempt.exit_code)})"
    elif attempt.exit_code < 0:
        exit_code = f", killed by {_signal_name(-attempt.exit_code)} (not sent by the orchestrator)"
    else:
        exit_code = f", exit {attempt.exit_code}"
    retry = f", retry after {attempt.retry_after:.0f} s" if attempt.retry_after else ""
    message = f": {attempt.message}" if attempt.message else ""
    where = f"{attempt.backend}/{attempt.provider or '-'}"
    return (
        f"   attempt {number}: {where}{_carried(attempt)} -> {attempt.outcome.value}"
        f"{exit_code}{retry}, {attempt.duration:.1f} s{message}"
    )


def _carried(attempt: Attempt) -> str:
    """Which earlier attempt's work this one continued, and how."""
    if attempt.resumed_from is not None:
        return f" (resumed attempt {attempt.resumed_from}'s session)"
    if attempt.handed_over_from is not None:
        return f" (handed attempt {attempt.handed_over_from}'s work over)"
    return ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
