"""The queue as its store holds it (the spool's folders, the Redis job stream), beside
what the events tell: jobs no event names yet, and which failed jobs can run again."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._errors import OrchestratorError


class RetryError(OrchestratorError):
    """The job cannot be retried (not failed, not found, or its job text is gone)."""

    exit_code = 2


@dataclass(frozen=True)
class QueuedJob:
    """A job waiting for a worker: its id where known, else its entry or file name."""

    name: str
    since: float | None = None


@dataclass
class QueueView:
    queued: list[QueuedJob] = field(default_factory=list)
    #: Every job waiting, where more than those listed in ``queued`` wait.
    queued_total: int = 0
    running: list[str] = field(default_factory=list)
    #: Failed or dead-lettered jobs whose job text is kept, so they can run again (every
    #: dead letter among them).
    retryable: set[str] = field(default_factory=set)
    #: Dead-lettered job ids (delivered too often without finishing).
    dead: set[str] = field(default_factory=set)
