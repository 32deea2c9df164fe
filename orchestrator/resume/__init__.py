"""Session resume: a job cut off by a limit carries its agent's work to the next provider.

Every CLI we run keeps a session transcript and can resume it by id. On a
limit after the agent did some work, the next attempt on the same backend
resumes that session (its transcript first carried into the next provider's
home when providers keep separate ones) with a short continuation prompt.
When the job falls back to another backend, whose CLI cannot read the
transcript, the new CLI gets a hand-over: the original prompt and a bounded,
redacted digest of what was done.
"""

from ._carry import NOTHING, RESUME_AFTER, Carry, WorkCarrier
from ._handover import HANDOVER_LIMIT, handover_prompt, transcript_digest, working_tree_summary
from ._point import ResumePoint
from ._sessions import SessionStore, carry_transcript

__all__ = [
    "HANDOVER_LIMIT",
    "NOTHING",
    "RESUME_AFTER",
    "Carry",
    "ResumePoint",
    "SessionStore",
    "WorkCarrier",
    "carry_transcript",
    "handover_prompt",
    "transcript_digest",
    "working_tree_summary",
]
