"""Values the run workflow passes between its parts and receives from people."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.domain.models import AgentResult, ChangeSet, RunState

DECISION_TOPIC = "decision"
"""The topic a run waits on for people: approve, reject, cancel, a follow-up, a re-check nudge."""
FOLLOW_UP = "follow_up"
"""A message on the decision topic: another round of work on the run's branches."""
RECHECK = "recheck"
"""A message on the decision topic: something the gate depends on changed (e.g. checks finished)."""
DROP = "drop"
"""A message on the decision topic: take one repo out of the plan awaiting approval (`instruction`
names it)."""
EXPIRE = "expire"
"""A message on the decision topic: the approval window closed (sent by the scheduler's expiry job)."""
RETRY_FAILED = "retry_failed"
"""A message on the decision topic of a campaign: work the failed repos again (only those)."""
SKIP = "skip"
"""A message on the decision topic of a campaign: drop one repo (`repo` in the message)."""
CLOSE = "close"
"""A message on the decision topic of a campaign: end it; its open PRs are closed or left per `on_close`."""
PARKED = "parked"
"""What a run's workflow returns when it ends at a wait for a person (the run goes on in a
continuation workflow when a message comes)."""
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


class LoopState(BaseModel):
    """Where a run waits and what its approval loop needs to go on from there (kept in the store
    while the run is parked, so a continuation picks it up)."""

    stage: str = "approval"  # plan | approval | campaign
    rounds: int = 0
    repairs: int = 0
    rebases: int = 0
    """Rebase rounds this attempt ran because pre-flight found a PR conflicting with its moved base."""
    ask: bool = True
    plan: dict[str, object] | None = None
    campaign: dict[str, object] | None = None
    """A campaign's per-repo progress (`campaign_plan.CampaignState`) while it waits."""
    asked: list[str] = Field(default_factory=list)
    """The repos a campaign's last approval request covered (a new PR asks again)."""


class Taken(BaseModel):
    """What a run found at its wait: a message, or nothing (then it parked, or it blocks)."""

    message: dict[str, object] | None = None
    parked: bool = False


class StepOutcome(BaseModel):
    """One agent step's end: its result, or why the run's budget stopped it before it ran."""

    result: AgentResult
    run_budget_exceeded: str | None = None
