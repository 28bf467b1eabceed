"""The approval policy: who may decide on a run, and whether the recorded decisions open the gate.

An approval is a decision by an authorised person, bound to exactly what would merge: every PR's
head SHA and the base branch it targets. Rules count persons (`people:`), not identities, so one
human's Slack click and GitHub comment are one approval, and a requester cannot approve their own
run from another surface. With no `approval.approvers` listed, only the terminal operator and
people whose GitHub login holds `github.approve_permission` on every repo of the run may approve;
on GitHub repos, anyone with a GitHub identity must hold that permission. Whoever pushed the commit
a PR is at may not approve it. The merge train itself is `bot/engine/merge_train.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, Field, model_validator

from bot.config.models import ApprovalPolicy, BatonFile
from bot.domain.models import Actor, ChangeSet, ChangeState, ChecksState, Decision, RunState, Source
from bot.domain.people import People
from bot.domain.records import Approval, Run
from bot.engine.integration_gate import approval_refusal
from bot.store.audit import decision_kind
from bot.store.store import Store, shas_digest

WILDCARDS = "*?["
PUSH_EVENTS = ("head_moved", "approval_invalidated")
"""Events that record who moved a PR's head (`by`, a GitHub login) and to which SHA."""


class GateVerdict(BaseModel):
    ok: bool
    reason: str = ""
    head_shas: dict[str, str] = Field(default_factory=dict)
    bases: dict[str, str] = Field(default_factory=dict)


class DecisionOutcome(StrEnum):
    """What became of a decision, for the edges to answer without reading its message."""

    recorded = "recorded"
    duplicate = "duplicate"
    """The same person already made this decision on these heads: nothing new counts."""
    stale = "stale"
    """The PRs changed since the person looked: they must look again."""
    not_waiting = "not_waiting"
    refused = "refused"


class DecisionResult(BaseModel):
    accepted: bool
    message: str
    outcome: DecisionOutcome = DecisionOutcome.recorded

    @model_validator(mode="before")
    @classmethod
    def _outcome_from_acceptance(cls, data: Any) -> Any:
        """Commands other than decisions (cancel, retry, follow-up) say only accepted or not."""
        if isinstance(data, dict) and "outcome" not in data:
            data = {**data, "outcome": DecisionOutcome.recorded if data.get("accepted") else DecisionOutcome.refused}
        return data


def listed(policy: ApprovalPolicy, people: People, actor: Actor) -> str | None:
    """The `approval.approvers` pattern that names `actor` (by any identity of their person), or None."""
    keys = people.keys(actor)
    return next((p for p in policy.approvers if any(fnmatchcase(k, p) for k in keys)), None)


def may_approve(policy: ApprovalPolicy, actor: Actor, requester: Actor, people: People | None = None) -> str | None:
    """Why the policy alone (the approvers list, self-approval by person) refuses `actor`, or None."""
    people = people or People([])
    if policy.approvers and listed(policy, people, actor) is None:
        return f"{actor.display or actor.key} is not an approver (approvers: {', '.join(policy.approvers)})"
    exempt = actor.source.value in policy.self_approval_exempt_sources
    if policy.forbid_self_approval and not exempt and people.same(actor, requester):
        return "the requester may not approve their own run"
    return None


def github_repos(config: BatonFile, run: Run) -> list[str]:
    """The run's repos on GitHub (`owner/name`), or its issue's repo when none is."""
    names = {r.name: r.github for r in config.repos if r.forge == "github" and r.github}
    fulls = [names[r] for r in run.spec.repos if r in names]
    reply = run.spec.trigger.reply_to
    if not fulls and reply.source is Source.github and reply.repo:
        fulls = [reply.repo]
    return fulls


def _bound(approval: Approval, pending: list[ChangeSet]) -> bool:
    """Bound to every pending PR's head and base (approvals from before bases were kept bind heads only)."""
    return all(
        approval.head_shas.get(c.repo) == c.head_sha and approval.bases.get(c.repo, c.base) == c.base for c in pending
    )


def evaluate(
    policy: ApprovalPolicy,
    changes: list[ChangeSet],
    approvals: list[Approval],
    created_at: datetime,
    now: datetime,
    people: People | None = None,
) -> GateVerdict:
    """Whether the recorded approvals allow merging the current heads into their bases right now."""
    people = people or People([])
    if now > created_at + timedelta(hours=policy.expiry_hours):
        return GateVerdict(ok=False, reason="the approval window has expired")
    pending = [c for c in changes if c.state is not ChangeState.merged]
    bound = [a for a in approvals if a.valid and a.decision is Decision.approve and _bound(a, pending)]
    approvers = {people.key(a.actor) for a in bound}
    if len(approvers) < policy.min_approvals:
        return GateVerdict(
            ok=False,
            reason=f"needs {policy.min_approvals} approval(s) bound to the current heads, has {len(approvers)}",
        )
    if policy.require_green_checks:
        red = [c.repo for c in changes if c.state is ChangeState.open and c.checks is not ChecksState.passed]
        if red:
            return GateVerdict(ok=False, reason=f"checks are not green on {', '.join(red)}")
    shas = dict(bound[-1].head_shas)
    shas.update({c.repo: c.head_sha for c in changes if c.state is ChangeState.merged})
    return GateVerdict(ok=True, head_shas=shas, bases={c.repo: c.base for c in changes})


def last_pushers(store: Store, run_id: str, heads: dict[str, str]) -> dict[str, str]:
    """repo → the GitHub login whose push put the PR at its current head, when a webhook said so."""
    found: dict[str, str] = {}
    for event in store.events(run_id):
        data = event.data
        repo, by = str(data.get("repo", "")), data.get("by")
        if event.kind in PUSH_EVENTS and by and heads.get(repo) == data.get("sha"):
            found[repo] = str(by)
    return found


GitHubCheck = Callable[[str, Run], str | None]
"""(a GitHub login, the run) → why that login may not approve it on GitHub, or None."""


def _moved_since(store: Store, run_id: str, when: datetime) -> bool:
    """Whether Baton saw a PR's current head after `when` (a whole second later: GitHub's times
    have one-second precision, so a head seen within that second counts as seen before)."""
    return any(seen >= when + timedelta(seconds=1) for seen in store.heads_seen_at(run_id).values())


class ApprovalService:
    """Decides who may decide, records people's decisions and hands them to the waiting run."""

    def __init__(self, store: Store, config: BatonFile, notify: Callable[[str, dict[str, Any]], None]) -> None:
        self.store = store
        self.config = config
        self.policy = config.approval
        self.people = People(config.people)
        self.notify = notify
        # `github.approve_permission` on every GitHub repo of the run, asked of GitHub (set by the
        # runtime when it has GitHub credentials); without it, GitHub identities cannot be vouched for.
        self.github: GitHubCheck | None = None
        # Per-source checks on top of the policy (Slack user groups, Linear teams); source → reason or None.
        self.authorizers: dict[str, Callable[[Actor, Run], str | None]] = {}

    # -- who may decide -------------------------------------------------------------------------------
    def refusal(self, actor: Actor, run: Run) -> str | None:
        """Why `actor` may not approve or reject `run`, or None: the policy, then the GitHub
        authority behind them, then their surface's own check."""
        refusal = may_approve(self.policy, actor, run.spec.trigger.actor, self.people) or self._authority(actor, run)
        authorizer = self.authorizers.get(actor.source.value)
        if refusal is None and authorizer is not None:
            refusal = authorizer(actor, run)
        return refusal

    def _authority(self, actor: Actor, run: Run) -> str | None:
        if actor.source is Source.cli:
            return None  # the terminal operator: whoever runs Baton on this machine
        needed = self.config.github.approve_permission
        login = self.people.github_login(actor)
        repos = github_repos(self.config, run)
        pattern = listed(self.policy, self.people, actor)
        if login is not None and repos:
            if self.github is None:
                return "GitHub permissions cannot be checked here (no GitHub credentials), so no approval counts"
            return self.github(login, run)
        named = pattern is not None and not any(c in pattern for c in WILDCARDS)
        if pattern is not None and (named or not repos):
            return None
        who = actor.display or actor.key
        if pattern is not None:
            return (
                f"on GitHub repos a wildcard in approval.approvers ({pattern}) does not vouch for {who}: map them "
                f"in `people:` to a GitHub login with {needed} access to {', '.join(repos)}, or list them by id"
            )
        if not repos:
            return (
                f"with no approval.approvers, only the terminal operator and people whose GitHub login has "
                f"{needed} access to every repo of the run may approve, and this run changes no GitHub repo; "
                f"ask the operator to list {who} in approval.approvers"
            )
        return (
            f"with no approval.approvers, a {actor.source.value} approval counts only from someone mapped in "
            f"`people:` to a GitHub login with {needed} access to {', '.join(repos)}, and {who} is not"
        )

    def _binding(self, run_id: str, actor: Actor, changes: list[ChangeSet]) -> str | None:
        """Why an approval of these PRs may not be given now: a base other than the repo's default
        branch, or `actor` pushed the commit a PR is at."""
        defaults = {r.name: r.default_branch for r in self.config.repos}
        for change in changes:
            target = defaults.get(change.repo, change.base)
            if change.state is ChangeState.open and change.base != target:
                return (
                    f"{change.repo}#{change.number} targets {change.base}, not {target}; retarget it to {target} first"
                )
        heads = {c.repo: c.head_sha for c in changes if c.state is ChangeState.open}
        for repo, login in last_pushers(self.store, run_id, heads).items():
            if self.people.same(actor, Actor(source=Source.github, id=login)):
                return f"you pushed the last commit to {repo} (@{login}); someone else must approve it"
        return None

    # -- deciding -------------------------------------------------------------------------------------
    def decide(
        self,
        run_id: str,
        actor: Actor,
        decision: Decision,
        reason: str = "",
        seen_shas: dict[str, str] | None = None,
        *,
        not_before: datetime | None = None,
        seen_digest: str | None = None,
    ) -> DecisionResult:
        """Record an authorised decision bound to the PRs' heads and bases; a refusal goes to the
        audit trail with its reason.

        `not_before`: when the person made it (e.g. a GitHub comment's `created_at`): an approval is
        refused if Baton saw any PR's current head after then — they approved something else.
        `seen_digest`: the digest of the heads the person saw (a card's button carries it); other
        heads now make the decision `stale`. The head checks are made here, once, for every surface."""
        result = self._decide(run_id, actor, decision, reason, seen_shas, not_before, seen_digest)
        if not result.accepted:
            heads = {c.repo: c.head_sha for c in self.store.changes(run_id)}
            self.store.audit.refused(decision_kind(decision), actor, result.message, run_id=run_id, shas=heads)
        return result

    def _decide(
        self,
        run_id: str,
        actor: Actor,
        decision: Decision,
        reason: str,
        seen_shas: dict[str, str] | None,
        not_before: datetime | None = None,
        seen_digest: str | None = None,
    ) -> DecisionResult:
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}", outcome=DecisionOutcome.refused)
        changes = self.store.changes(run_id)
        heads = {c.repo: c.head_sha for c in changes}
        if run.state is not RunState.awaiting_approval:
            if self._already(run_id, actor, decision, heads):  # a double click, after the run moved on
                message = f"already recorded: {decision.value} by {self.people.name(actor)}"
                return DecisionResult(accepted=True, message=message, outcome=DecisionOutcome.duplicate)
            message = f"run {run_id} is {run.state.value}, not awaiting approval"
            return DecisionResult(accepted=False, message=message, outcome=DecisionOutcome.not_waiting)
        refusal = self.refusal(actor, run)
        if refusal:
            return DecisionResult(accepted=False, message=refusal, outcome=DecisionOutcome.refused)
        if seen_digest is not None and seen_digest != shas_digest(heads):
            message = "the PRs changed since you looked; review them again"
            return DecisionResult(accepted=False, message=message, outcome=DecisionOutcome.stale)
        if seen_shas is not None and seen_shas != heads:
            message = "the PRs changed since you looked; review them again"
            return DecisionResult(accepted=False, message=message, outcome=DecisionOutcome.stale)
        if not_before is not None and decision is Decision.approve and _moved_since(self.store, run_id, not_before):
            message = "approve again: heads changed since your comment"
            return DecisionResult(accepted=False, message=message, outcome=DecisionOutcome.stale)
        binding = self._binding(run_id, actor, changes) if decision is Decision.approve else None
        if binding is None and decision is Decision.approve:
            binding = approval_refusal(self.store, run_id, changes)
        if binding:
            return DecisionResult(accepted=False, message=binding, outcome=DecisionOutcome.refused)
        bases = {c.repo: c.base for c in changes}
        if self._already(run_id, actor, decision, heads) or not self.store.record_approval(
            Approval(run_id=run_id, actor=actor, decision=decision, head_shas=heads, bases=bases, reason=reason)
        ):
            message = f"already recorded: {decision.value} by {self.people.name(actor)}"
            return DecisionResult(accepted=True, message=message, outcome=DecisionOutcome.duplicate)
        self.store.audit.record(
            decision_kind(decision),
            actor=actor.key,
            surface=actor.source.value,
            run_id=run_id,
            reason=reason,
            shas=heads,
        )
        self.store.append_event(
            run_id,
            "decision",
            {"actor": actor.key, "decision": decision.value, "reason": reason, "shas": heads, "bases": bases},
        )
        self.notify(run_id, {"decision": decision.value, "reason": reason, "actor": actor.key})
        bound = ", ".join(f"{repo}@{sha[:7]}" for repo, sha in heads.items())
        return DecisionResult(accepted=True, message=f"{decision.value} recorded" + (f" for {bound}" if bound else ""))

    def _already(self, run_id: str, actor: Actor, decision: Decision, heads: dict[str, str]) -> bool:
        """The same person (through any of their identities) already made this decision on these heads."""
        key = self.people.key(actor)
        return any(
            a.valid and a.decision is decision and a.head_shas == heads and self.people.key(a.actor) == key
            for a in self.store.approvals(run_id)
        )
