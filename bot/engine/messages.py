"""Values the run workflow passes between its parts and receives from people."""

from __future__ import annotations

from pydantic import BaseModel

from bot.domain import ChangeSet, RunState

DECISION_TOPIC = "decision"
"""The topic a run waits on for people: approve, reject, cancel, a follow-up, a re-check nudge."""
FOLLOW_UP = "follow_up"
"""A message on the decision topic: another round of work on the run's branches."""
RECHECK = "recheck"
"""A message on the decision topic: something the gate depends on changed (e.g. checks finished)."""
EXPIRE = "expire"
"""A message on the decision topic: the approval window closed (sent by the scheduler's expiry job)."""
TERMINAL_VERDICTS = frozenset({RunState.expired.value, RunState.rejected.value, RunState.cancelled.value})


class DecisionMessage(BaseModel):
    verdict: str  # approve | follow_up | recheck | expired | rejected | cancelled
    instruction: str = ""
    actor: str = ""
    repair: bool = False


class RepoOutcome(BaseModel):
    repo: str
    status: str  # done | unchanged | failed | budget | cancelled
    summary: str = ""
    change: ChangeSet | None = None
