"""One job's work across its attempts: resume on the same backend, hand over to another."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio

from .._adapter import Adapter, ResumableAdapter
from .._job import AttemptOutcome, Job
from .._llm_config import BackendConfig
from ._handover import handover_prompt, transcript_digest, working_tree_summary
from ._point import ResumePoint
from ._sessions import carry_transcript

#: Endings after which the agent's session is worth continuing elsewhere.
RESUME_AFTER = frozenset(
    {
        AttemptOutcome.USAGE_LIMIT,
        AttemptOutcome.AUTH_ERROR,
        AttemptOutcome.TIMEOUT,
        AttemptOutcome.TRANSIENT_ERROR,
    }
)


@dataclass(frozen=True)
class Carry:
    """What an attempt takes over from earlier ones.

    Attributes:
        session: the session it resumes, if it does.
        prompt: its prompt instead of the job's (continuation or hand-over).
        resumed_from: the attempt whose session it resumes.
        handed_over_from: the attempt whose work its prompt summarizes.
    """

    session: str | None = None
    prompt: str | None = None
    resumed_from: int | None = None
    handed_over_from: int | None = None


NOTHING = Carry()
#: The environment an attempt's child gets, built on demand.
Home = Callable[[], Mapping[str, str]]


class WorkCarrier:
    """Keeps the latest resumable session of one job and prepares each attempt.

    Args:
        job: the job.
        redact: hides provider settings in a hand-over.
        base_environment: where ``git`` runs from, for the working tree's summary.
    """

    def __init__(
        self, job: Job, redact: Callable[[str], str], base_environment: Mapping[str, str]
    ) -> None:
        self.job = job
        self.point: ResumePoint | None = None
        self._redact = redact
        self._base_environment = base_environment
        self._handovers: dict[tuple[str, int], str] = {}

    def allowed(self, backend: BackendConfig) -> bool:
        """The job's ``resume`` when it sets one, else the backend's."""
        return self.job.resume if self.job.resume is not None else backend.resume

    async def before(self, backend: BackendConfig, adapter: Adapter, environment: Home) -> Carry:
        """What the next attempt on ``backend`` continues; ``environment()`` is its child's
        environment (where its CLI's home is)."""
        point = self.point
        if point is None or not self.allowed(backend):
            return NOTHING
        if point.backend != backend.name:
            return await self._handover(backend, point)
        resumable = _resumable(adapter)
        store = resumable.session_store if resumable is not None else None
        if store is None:
            return NOTHING
        placed = await anyio.to_thread.run_sync(
            carry_transcript, store, point.transcript, point.environment, environment()
        )
        if placed is None:
            return NOTHING  # the next CLI could not find the session: start over
        return Carry(point.session_id, backend.resume_prompt, resumed_from=point.attempt)

    async def after(
        self,
        backend: BackendConfig,
        adapter: Adapter,
        attempt: int,
        outcome: AttemptOutcome,
        session: str | None,
        stdout: str,
        environment: Home,
        carried: Carry,
    ) -> None:
        """Keep the attempt's session when it did work and a limit-like end cut it off."""
        if outcome not in RESUME_AFTER or session is None or not self.allowed(backend):
            return
        resumable = _resumable(adapter)
        store = resumable.session_store if resumable is not None else None
        if resumable is None or store is None:
            return
        # A resumed session holds earlier work even when this attempt added none.
        if carried.session != session and not resumable.did_work(stdout):
            return
        home = environment()
        transcript = await anyio.to_thread.run_sync(store.find, home, session)
        if transcript is None:
            return
        self.point = ResumePoint(backend.name, session, attempt, transcript, home)

    async def _handover(self, backend: BackendConfig, point: ResumePoint) -> Carry:
        key = (backend.name, point.attempt)
        if key not in self._handovers:
            digest = await anyio.to_thread.run_sync(
                transcript_digest, point.transcript, self._redact
            )
            tree = await working_tree_summary(self.job.cwd, self._base_environment, self._redact)
            self._handovers[key] = handover_prompt(self.job.prompt, point.backend, digest, tree)
        prompt = self._handovers[key]
        if prompt == self.job.prompt:  # nothing to hand over
            return NOTHING
        return Carry(prompt=prompt, handed_over_from=point.attempt)


def _resumable(adapter: Adapter) -> ResumableAdapter | None:
    """The adapter, when its CLI resumes sessions headless."""
    if isinstance(adapter, ResumableAdapter) and adapter.can_resume:
        return adapter
    return None
