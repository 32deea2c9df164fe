"""Where a job's work stands: the session the next attempt may resume."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ResumePoint:
    """A session an attempt left behind after doing some work.

    Attributes:
        backend: the backend whose CLI wrote it (only that CLI can resume it).
        session_id: the CLI's session id.
        attempt: the number of the attempt that wrote it last.
        transcript: the transcript file, where it was found.
        environment: the environment of that attempt (where its home is).
    """

    backend: str
    session_id: str
    attempt: int
    transcript: Path
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
