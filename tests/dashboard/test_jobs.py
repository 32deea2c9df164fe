"""The job book: each job's failover story, per-provider tallies and chart buckets from events."""

from __future__ import annotations

import time

from orchestrator._events import (
    AttemptFinished,
    AttemptStarted,
    BackendFellBack,
    JobFailed,
    JobQueued,
    JobSucceeded,
    JobWaiting,
    ProviderCooledDown,
    ProviderRotated,
)
from orchestrator._job import AttemptOutcome, TokenUsage
from orchestrator.dashboard._jobs import JobBook

T = 1_800_000_000.0


def failover_story(job_id: str = "job-1", start: float = T) -> list[object]:
    """A job limited on ``first`` (cooling 90 s), then done on ``second``."""
    return [
        JobQueued(job_id=job_id, backend="agent", timestamp=start),
        AttemptStarted(
            job_id=job_id, backend="agent", provider="first", attempt=1, timestamp=start
        ),
        AttemptFinished(
            job_id=job_id,
            backend="agent",
            provider="first",
            attempt=1,
            outcome=AttemptOutcome.USAGE_LIMIT,
            exit_code=1,
            duration=0.5,
            message="429 rate limit exceeded",
            timestamp=start + 0.5,
        ),
        ProviderCooledDown(
            job_id=job_id,
            backend="agent",
            provider="first",
            until=start + 90,
            reason="usage_limit",
            timestamp=start + 0.5,
        ),
        ProviderRotated(
            job_id=job_id,
            backend="agent",
            provider="second",
            from_provider="first",
            reason="usage_limit",
            timestamp=start + 0.5,
        ),
        AttemptStarted(
            job_id=job_id,
            backend="agent",
            provider="second",
            attempt=2,
            resumed_from=1,
            session_id="s-1",
            timestamp=start + 0.6,
        ),
        AttemptFinished(
            job_id=job_id,
            backend="agent",
            provider="second",
            attempt=2,
            outcome=AttemptOutcome.SUCCESS,
            exit_code=0,
            duration=2.0,
            usage=TokenUsage(input_tokens=100, output_tokens=20),
            wire_usage=TokenUsage(total_tokens=150),
            timestamp=start + 2.6,
        ),
        JobSucceeded(job_id=job_id, backend="agent", provider="second", duration=2.6,
                     timestamp=start + 2.6),
    ]  # fmt: skip


def test_a_failover_is_one_job_with_both_attempts_and_the_cooldown_it_caused() -> None:
    """Attempt chain, limit text, cooldown end, resumed session and failover count."""
    book = JobBook()
    book.record_all(failover_story())  # type: ignore[arg-type]
    job = book.job("job-1")
    assert job is not None
    assert (job.state, job.provider, job.failovers, job.duration) == ("succeeded", "second", 1, 2.6)
    first, second = job.attempts
    assert (first.provider, first.outcome, first.message) == (
        "first",
        "usage_limit",
        "429 rate limit exceeded",
    )
    assert (first.cooled_until, first.cooled_reason) == (T + 90, "usage_limit")
    assert (second.provider, second.outcome, second.resumed_from) == ("second", "success", 1)
    assert second.tokens == 150  # the sentinel's wire count wins over the CLI's own
    assert book.last_failover is not None
    assert (book.last_failover.from_where, book.last_failover.to_where) == ("first", "second")


def test_states_follow_the_events_and_filters_choose_jobs() -> None:
    """Queued, running, waiting and failed jobs; filters by state, backend and id text."""
    book = JobBook()
    book.record(JobQueued(job_id="a-queued", timestamp=T))
    book.record(AttemptStarted(job_id="b-running", backend="x", provider="p", attempt=1))
    book.record(JobWaiting(job_id="c-waiting", until=T + 60, reason="all cooling"))
    book.record(AttemptStarted(job_id="d-failed", backend="y", provider="p", attempt=1))
    book.record(JobFailed(job_id="d-failed", duration=1.0, error="Error: every provider failed"))
    assert book.counts() == {"queued": 1, "running": 1, "waiting": 1, "succeeded": 0, "failed": 1}
    assert [job.job_id for job in book.jobs(state="failed")] == ["d-failed"]
    assert [job.job_id for job in book.jobs(backend="x")] == ["b-running"]
    assert [job.job_id for job in book.jobs(text="WAIT")] == ["c-waiting"]
    failed = book.job("d-failed")
    assert failed is not None
    assert failed.error == "Error: every provider failed"
    assert next(job.job_id for job in book.jobs()) == "d-failed"  # newest activity first


def test_tallies_count_todays_attempts_limits_and_tokens_per_provider() -> None:
    """A provider's row shows today's runs, limits and tokens."""
    book = JobBook()
    now = time.time()
    book.record_all(failover_story(start=now))  # type: ignore[arg-type]
    book.record_all(failover_story("job-2", start=now + 5))  # type: ignore[arg-type]
    first, second = book.tally("agent", "first"), book.tally("agent", "second")
    assert (first.attempts, first.limited, first.tokens) == (2, 2, 0)
    assert (second.attempts, second.limited, second.tokens) == (2, 0, 300)
    assert book.tally("agent", "never-used").attempts == 0


def test_the_chart_counts_finished_jobs_and_failovers_per_minute_for_an_hour() -> None:
    """Sixty buckets, oldest first; a manual rotation is not a failover."""
    book = JobBook()
    now = time.time()
    book.record_all(failover_story(start=now - 125))  # type: ignore[arg-type]
    book.record(BackendFellBack(job_id="j", backend="b", from_backend="a", reason="usage_limit"))
    book.record(
        ProviderRotated(backend="a", provider="x", from_provider="y", reason="manual rotate")
    )
    chart = book.chart(now)
    assert len(chart) == 60
    assert chart[-1][0] == int(now // 60)
    assert sum(jobs for _, jobs, _ in chart) == 1
    assert sum(moves for _, _, moves in chart) == 2
    assert chart[-1][2] >= 1  # the fallback, just now


def test_the_book_forgets_the_oldest_finished_jobs_first() -> None:
    """Bounded: a running job outlives newer finished ones past the limit."""
    book = JobBook(keep=3)
    book.record(AttemptStarted(job_id="long-running", backend="a", provider="p", attempt=1))
    for number in range(5):
        book.record(JobSucceeded(job_id=f"done-{number}", duration=1.0))
    assert {job.job_id for job in book.jobs()} == {"long-running", "done-3", "done-4"}


def test_an_attempt_whose_start_was_not_read_still_shows() -> None:
    """History read from the middle of a job: the finish alone makes the attempt."""
    book = JobBook()
    book.record(
        AttemptFinished(
            job_id="late",
            backend="a",
            provider="p",
            attempt=3,
            outcome=AttemptOutcome.TIMEOUT,
            exit_code=None,
            duration=4.0,
            timestamp=T + 10,
        )
    )
    job = book.job("late")
    assert job is not None
    assert [(a.number, a.outcome, a.started_at) for a in job.attempts] == [(3, "timeout", T + 6)]
