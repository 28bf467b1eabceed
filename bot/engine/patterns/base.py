"""What every pattern sees: a durable context for one repo, and the result a pattern returns.

Patterns are plain functions over `PatternContext`; the context turns each agent invocation and
each checks run into a checkpointed step, so patterns compose freely and stay deterministic.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from bot.config import Node
from bot.domain import AgentResult, CheckOutcome


class NodeResult(BaseModel):
    ok: bool
    summary: str = ""
    head: str = ""
    agent: str | None = None


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
