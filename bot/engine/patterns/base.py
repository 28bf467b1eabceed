"""What every pattern sees: a durable context for one repo, and the result a pattern returns.

Patterns are plain functions over `PatternContext`; the context turns each agent invocation and
each checks run into a checkpointed step, so patterns compose freely and stay deterministic.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from bot.config.playbooks import Node
from bot.domain.models import AgentResult, AgentStatus, CheckOutcome


class NodeResult(BaseModel):
    ok: bool
    summary: str = ""
    head: str = ""
    agent: str | None = None


class Candidate(BaseModel):
    """One best-of candidate's outcome (see PatternContext.race)."""

    agent: str
    step_key: str = ""
    status: AgentStatus
    summary: str = ""
    head: str
    """The candidate's commit, or the start when it changed nothing or failed."""
    diff_lines: int = 0
    cost_usd: float = 0.0
    checks_passed: bool | None = None
    """None when the candidate's checks were not run."""

    @property
    def ok(self) -> bool:
        return self.status is AgentStatus.succeeded


class PatternContext(Protocol):
    repo: str
    head: str

    def invoke(
        self,
        agent: str,
        *,
        name: str,
        role: str = "implementer",
        feedback: str = "",
        transcript: list[str] | None = None,
    ) -> AgentResult:
        """Run one agent from the current head; on success the head moves to its commit."""
        ...

    def checks(self) -> CheckOutcome: ...

    def race(self, agents: list[str], *, names: list[str], feedback: str = "", checks: bool = True) -> list[Candidate]:
        """Run the agents at once from the current head, each in its own worktree, each followed by
        the checks when `checks`; the head does not move (best-of picks and `reset`s to a winner)."""
        ...

    def reset(self, sha: str) -> None:
        """Make `sha` the head again (the next step starts from it)."""
        ...

    def say(self, speaker: str, text: str) -> None:
        """Append a line to the run's shared transcript (kept as run events)."""
        ...

    def resolve(self, agent: str) -> list[str]:
        """An agent name, or `@routed` expanded to the routed agent and its fallback chain."""
        ...

    def execute(self, node: Node, feedback: str = "") -> NodeResult: ...


def feedback_from(previous: AgentResult, agent: str) -> str:
    return f"The previous step ({agent}) reported: {previous.summary}".strip()
