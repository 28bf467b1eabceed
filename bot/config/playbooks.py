"""Playbooks (`playbooks:` in baton.yml): per repo, a tree of orchestration patterns — one agent,
sequential steps, best-of-N, a group chat, handoff, verify/repair, fallback — that the engine's
patterns run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic import model_validator as _model_validator

from bot.config.base import Strict as _Strict

ROUTED_AGENT = "@routed"
"""In a playbook, the agent chosen by the routing rules (or `agent=` in the request)."""


class BestOf(_Strict):
    agents: list[str] = Field(min_length=1)
    n: int | None = Field(default=None, ge=1)
    judge: Literal["checks_then_smallest_diff", "checks_then_cheapest", "smallest_diff"] = "checks_then_smallest_diff"
    concurrent: bool = False


class GroupChat(_Strict):
    participants: list[str] = Field(min_length=2)
    moderator: str | None = None
    max_rounds: int = Field(default=3, ge=1)
    agree_word: str = "LGTM"


class HandoffRoute(_Strict):
    to: str
    when: Literal["failed", "succeeded", "always"] | None = None
    summary_matches: str | None = None


class Handoff(_Strict):
    start: str
    routes: list[HandoffRoute] = Field(default_factory=list)
    max_hops: int = Field(default=3, ge=1)


class Verify(_Strict):
    do: Node
    max_attempts: int = Field(default=3, ge=1)


class Node(_Strict):
    """One node of a playbook: exactly one of the pattern fields is set."""

    name: str | None = None
    task: str | None = None
    agent: str | None = None
    sequential: list[Node] | None = None
    best_of: BestOf | None = None
    group_chat: GroupChat | None = None
    handoff: Handoff | None = None
    verify: Verify | None = None
    fallback: list[str] | None = None

    @_model_validator(mode="after")
    def _exactly_one_pattern(self) -> Node:
        kinds = [k for k in self.pattern_fields() if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a playbook node needs exactly one of {', '.join(self.pattern_fields())}; "
                f"got {', '.join(kinds) or 'none'}"
            )
        return self

    @staticmethod
    def pattern_fields() -> tuple[str, ...]:
        return ("agent", "sequential", "best_of", "group_chat", "handoff", "verify", "fallback")

    @property
    def pattern(self) -> str:
        return next(k for k in self.pattern_fields() if getattr(self, k) is not None)


def default_node() -> Node:
    return Node(verify=Verify(do=Node(fallback=[ROUTED_AGENT]), max_attempts=2))


class Campaign(_Strict):
    """`campaign:` in a playbook: roll one change out over many repos in waves (bot/engine/campaign.py)."""

    canary: int = Field(default=0, ge=0)
    """The first N repos of the plan (providers first) must reach green checks before the rest start."""
    canary_approval: bool = False
    """The canary waits for its own approval and merges before the rest start."""
    max_open_prs: int | None = Field(default=None, ge=1)
    """At most this many of the campaign's PRs open (unmerged) at once; the rest queue."""
    max_concurrent_agents: int | None = Field(default=None, ge=1)
    """At most this many repos worked at once (default: `concurrency.per_run`)."""
    on_close: Literal["close", "leave"] = "leave"
    """What `close` (and `skip`) does with the campaign's PRs that are still open."""


class Playbook(_Strict):
    description: str = ""
    repos: list[str] = Field(default_factory=list)
    planner: str | None = None
    approve_plan: bool | None = None
    discover: str | None = Field(default=None, min_length=1)
    """A regex (git grep -E): runs of this playbook also take every configured repo whose default
    branch matches it, plus their providers."""
    per_repo: Node = Field(default_factory=default_node)
    integration_checks: str | None = None
    """A command run on the whole change set (every repo at its PR head under `BATON_SET_DIR/<repo>`),
    confined, before approval is offered and again before the merge; red blocks the approval."""
    campaign: Campaign | None = None


def agents_in(node: Node) -> set[str]:
    """Every agent name a playbook node refers to."""
    found: set[str] = set()
    if node.agent:
        found.add(node.agent)
    for child in node.sequential or []:
        found |= agents_in(child)
    if node.best_of:
        found |= set(node.best_of.agents)
    if node.group_chat:
        found |= set(node.group_chat.participants)
        if node.group_chat.moderator:
            found.add(node.group_chat.moderator)
    if node.handoff:
        found |= {node.handoff.start} | {r.to for r in node.handoff.routes}
    if node.verify:
        found |= agents_in(node.verify.do)
    found |= set(node.fallback or [])
    return found
