"""What the store records about a run and surfaces read: its steps, the approvals bound to what
would merge, its events, the run itself and `RunView` (everything a surface renders). Data only;
none of these travel in a durable workflow's arguments or step results (those stay in models.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from bot.domain.models import Actor, ChangeSet, Decision, RunSpec, RunState, Usage, utcnow


class StepState(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"


class Step(BaseModel):
    run_id: str
    key: str
    name: str
    repo: str | None = None
    agent: str | None = None
    state: StepState = StepState.running
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    usage: Usage = Field(default_factory=Usage)
    detail: str = ""

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


class Approval(BaseModel):
    """A decision bound to exactly what would merge: each PR's head SHA and the base branch it targets."""

    run_id: str
    actor: Actor
    decision: Decision
    head_shas: dict[str, str] = Field(default_factory=dict)
    bases: dict[str, str] = Field(default_factory=dict)
    reason: str = ""
    at: datetime = Field(default_factory=utcnow)
    valid: bool = True


class RunEvent(BaseModel):
    run_id: str
    seq: int
    kind: str
    at: datetime = Field(default_factory=utcnow)
    data: dict[str, Any] = Field(default_factory=dict)


class Run(BaseModel):
    """What people read about a run: its spec, state and the totals so far."""

    run_id: str
    state: RunState
    spec: RunSpec
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None
    waiting_for: str | None = None
    attempt: int = 1


class RunView(BaseModel):
    """Everything a surface needs to render a run: one object, read from the store."""

    run: Run
    steps: list[Step] = Field(default_factory=list)
    changes: list[ChangeSet] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    last_seq: int = 0
    campaign: dict[str, Any] | None = None
    """A campaign's per-repo progress (the engine's `campaign` fact), when the run is one."""
