"""Results as people read them: a heading, the attempts when there were several, the output."""

from __future__ import annotations

import signal

from .._job import Attempt, JobResult


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


def _render_attempt(number: int, attempt: Attempt) -> str:
    if attempt.exit_code is None:
        exit_code = ""
    elif attempt.exit_code < 0:  # ended by a signal: a timeout, or an early stop at a marker
        exit_code = f", stopped by {_signal_name(-attempt.exit_code)}"
    else:
        exit_code = f", exit {attempt.exit_code}"
    retry = f", retry after {attempt.retry_after:.0f} s" if attempt.retry_after else ""
    message = f": {attempt.message}" if attempt.message else ""
    where = f"{attempt.backend}/{attempt.provider or '-'}"
    return (
        f"   attempt {number}: {where} -> {attempt.outcome.value}"
        f"{exit_code}{retry}, {attempt.duration:.1f} s{message}"
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
