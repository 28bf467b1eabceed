"""The domain vocabulary every part of Baton speaks: triggers, runs, steps, changes, approvals, events.

These pydantic models are the contracts between handlers, the engine, adapters and surfaces
(design §2). They hold data only; behaviour lives in the engine and the adapters. What the store
records about a run for people to read (its steps, approvals, events, the run and its view) is
records.py.

The classes here travel in durable workflow arguments and step results (DBOS pickles them by
module path), so they stay in this module: moving one would strand runs recorded before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.diffs import DiffStat


def utcnow() -> datetime:
    return datetime.now(UTC)


class Source(StrEnum):
    slack = "slack"
    github = "github"
    linear = "linear"
    cli = "cli"
    schedule = "schedule"


class Actor(BaseModel):
    """Who did something, in the words of the place they did it."""

    model_config = ConfigDict(frozen=True)

    source: Source
    id: str
    display: str = ""

    @property
    def key(self) -> str:
        """`source:id`, the form approver lists in config use."""
        return f"{self.source.value}:{self.id}"


class Person(BaseModel):
    """One human behind several identities (`people:` in baton.yml): a Slack user id, a GitHub login
    and a Linear user id, each optional. Approval rules count persons, not identities."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    slack: str | None = None
    github: str | None = None
    linear: str | None = None

    def identities(self) -> list[Actor]:
        """Every actor this person may act as (ids compared case-insensitively for GitHub)."""
        found = [(Source.slack, self.slack), (Source.github, self.github), (Source.linear, self.linear)]
        return [Actor(source=source, id=ident) for source, ident in found if ident]


class ReplyTo(BaseModel):
    """Where progress for a run goes: one of these fields set per source."""

    source: Source
    channel: str | None = None
    thread_ts: str | None = None
    repo: str | None = None
    issue_number: int | None = None
    issue_id: str | None = None


class Trigger(BaseModel):
    source: Source
    actor: Actor
    request: str
    reply_to: ReplyTo
    delivery_id: str
    received_at: datetime = Field(default_factory=utcnow)
    labels: list[str] = Field(default_factory=list)


class Budget(BaseModel):
    """Limits for a run or a step; None means unlimited."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = None
    max_usd: float | None = None
    max_seconds: float | None = None
    max_agent_steps: int | None = None

    def merged_with(self, other: Budget) -> Budget:
        """Field-wise override: values set in `other` win."""
        data = self.model_dump()
        data.update({k: v for k, v in other.model_dump().items() if v is not None})
        return Budget(**data)


class Usage(BaseModel):
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    agent_seconds: float = 0.0
    agent_steps: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            cost_usd=round(self.cost_usd + other.cost_usd, 6),
            agent_seconds=round(self.agent_seconds + other.agent_seconds, 3),
            agent_steps=self.agent_steps + other.agent_steps,
        )


class RunSpec(BaseModel):
    """What a run was asked to do, after the request was understood."""

    run_id: str
    trigger: Trigger
    repos: list[str]
    playbook: str
    agent: str | None = None
    budget: Budget = Field(default_factory=Budget)
    auto_approve: bool = False
    reverts: str | None = None
    """A revert run: the merged run whose PRs this run reverts (in reverse merge order)."""
    discover: str | None = None
    """A regex (`--discover`, `discover=`): the run also takes every configured repo whose default
    branch matches it, and their providers."""


class RunState(StrEnum):
    queued = "queued"
    planning = "planning"
    working = "working"
    awaiting_approval = "awaiting_approval"
    merging = "merging"
    merged = "merged"
    failed = "failed"
    cancelled = "cancelled"
    rejected = "rejected"
    expired = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({RunState.merged, RunState.failed, RunState.cancelled, RunState.rejected, RunState.expired})


class ChecksState(StrEnum):
    unknown = "unknown"
    pending = "pending"
    passed = "passed"
    failed = "failed"


class ChangeState(StrEnum):
    open = "open"
    merged = "merged"
    closed = "closed"


class ChangeSet(BaseModel):
    """One pull request of a run (on the local forge: a recorded branch + target + head SHA)."""

    run_id: str
    repo: str
    branch: str
    base: str
    number: int
    url: str
    head_sha: str
    order: int = 0
    state: ChangeState = ChangeState.open
    checks: ChecksState = ChecksState.unknown
    checks_output: str = ""
    checks_program_missing: bool = False
    merge_sha: str | None = None
    merge_error: str | None = None
    diffstat: DiffStat | None = None
    """Files and lines changed at the head its checks last ran on (the cards show it)."""
    merged_by: str | None = None
    """Who merged it, as its forge names them (a GitHub login), when the forge says."""


class Readiness(BaseModel):
    """Whether a PR could merge now, as its forge sees it: `problem` says why not (None: it can);
    `conflict` when the reason is a conflict with the base (a rebase round can fix that)."""

    problem: str | None = None
    conflict: bool = False


class Decision(StrEnum):
    approve = "approve"
    reject = "reject"
    cancel = "cancel"
    extend_budget = "extend_budget"


class AgentStatus(StrEnum):
    succeeded = "succeeded"
    failed = "failed"
    timed_out = "timed_out"
    cancelled = "cancelled"


class AgentTask(BaseModel):
    """One unit of work handed to an agent: untrusted request text travels here as data."""

    run_id: str
    repo: str
    step_key: str
    prompt: str
    plan: str = ""
    feedback: str = ""
    role: str = "implementer"
    transcript: list[str] = Field(default_factory=list)


class DiffStats(BaseModel):
    """The size of a change, measured by git: what run facts and checkpoints keep instead of the
    diff itself (the diff lives in git, at the step's commit)."""

    files: int = 0
    insertions: int = 0
    deletions: int = 0

    @property
    def lines(self) -> int:
        return self.insertions + self.deletions


FILES_KEPT = 200
"""How many changed paths an AgentResult names (`diff_stats.files` counts them all)."""


class AgentResult(BaseModel):
    status: AgentStatus
    summary: str = ""
    diff_stats: DiffStats = Field(default_factory=DiffStats)
    files_changed: list[str] = Field(default_factory=list)
    """At most FILES_KEPT of the changed paths."""
    usage: Usage = Field(default_factory=Usage)
    session_id: str | None = None
    output_tail: str = ""
    transcript_path: str | None = None
    permission_denials: list[str] = Field(default_factory=list)
    commit_sha: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is AgentStatus.succeeded


class CheckOutcome(BaseModel):
    """Checks of one head: passed, failed, or (on a forge whose CI reports later) still pending."""

    passed: bool
    output_tail: str = ""
    sha: str = ""
    pending: bool = False
    program_missing: bool = False
    """The command exited 127 (the shell found no such program): configuration, not code, is wrong."""
    warnings: list[str] = Field(default_factory=list)
    """What went wrong beside the checks while reading them (a draft the forge could not mark ready
    for review): shown to people as a warning, never a checks failure."""

    @property
    def state(self) -> ChecksState:
        if self.pending:
            return ChecksState.pending
        return ChecksState.passed if self.passed else ChecksState.failed
