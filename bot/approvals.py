"""Approval policy and the merge train.

An approval is a decision by an authorised actor, recorded with the head SHA of every PR in the
run. Merging happens only if every PR still has those SHAs, checks are green (when the policy
says so) and the approval has not expired. PRs merge in plan order; a failure stops the train
and the report says exactly what merged and what did not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from fnmatch import fnmatch
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from bot.audit import ENGINE_ACTOR, AuditKind, AuditOutcome, decision_kind
from bot.config import ApprovalPolicy
from bot.domain import (
    Actor,
    Approval,
    ChangeSet,
    ChangeState,
    ChecksState,
    Decision,
    Run,
    RunState,
    utcnow,
)
from bot.ports import MergeRefused
from bot.store import Store

if TYPE_CHECKING:
    from bot.engine.deps import EngineDeps


class GateVerdict(BaseModel):
    ok: bool
    reason: str = ""
    head_shas: dict[str, str] = Field(default_factory=dict)


class MergeOutcome(BaseModel):
    ok: bool
    moved: bool = False
    report: str = ""


class DecisionResult(BaseModel):
    accepted: bool
    message: str


def may_approve(policy: ApprovalPolicy, actor: Actor, requester: Actor) -> str | None:
    """Why `actor` may not decide on this run, or None if they may."""
    if policy.approvers and not any(fnmatch(actor.key, p) for p in policy.approvers):
        return f"{actor.display or actor.key} is not an approver (approvers: {', '.join(policy.approvers)})"
    self_approval = actor.key == requester.key
    exempt = actor.source.value in policy.self_approval_exempt_sources
    if self_approval and policy.forbid_self_approval and not exempt:
        return "the requester may not approve their own run"
    return None


def evaluate(
    policy: ApprovalPolicy,
    changes: list[ChangeSet],
    approvals: list[Approval],
    created_at: datetime,
    now: datetime,
) -> GateVerdict:
    """Whether the recorded approvals allow merging the current heads right now."""
    if now > created_at + timedelta(hours=policy.expiry_hours):
        return GateVerdict(ok=False, reason="the approval window has expired")
    pending = {c.repo: c.head_sha for c in changes if c.state is not ChangeState.merged}
    bound = [
        a
        for a in approvals
        if a.valid
        and a.decision is Decision.approve
        and all(a.head_shas.get(repo) == sha for repo, sha in pending.items())
    ]
    approvers = {a.actor.key for a in bound}
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
    return GateVerdict(ok=True, head_shas=shas)


def gate_step(deps: EngineDeps, run_id: str) -> GateVerdict:
    """Refresh every PR's head from the forge, invalidate stale approvals, then evaluate."""
    store = deps.store
    run = store.get_run(run_id)
    assert run is not None
    changes = []
    for change in store.changes(run_id):
        fresh = deps.forge.refresh(change).model_copy(
            update={"order": change.order, "run_id": run_id, "checks": change.checks}
        )
        if fresh.state is ChangeState.open and (
            fresh.head_sha != change.head_sha or fresh.checks is not ChecksState.passed
        ):
            # A new push (or checks that never finished): run them on the head people approve.
            outcome = deps.forge.run_checks(fresh)
            fresh = fresh.model_copy(
                update={
                    "checks": outcome.state,
                    "checks_output": outcome.output_tail[-2000:],
                    "head_sha": outcome.sha or fresh.head_sha,
                }
            )
        store.save_change(fresh)
        changes.append(fresh)
    approvals = store.approvals(run_id)
    pending = {c.repo: c.head_sha for c in changes if c.state is ChangeState.open}
    stale = [a for a in approvals if a.valid and any(a.head_shas.get(r) != s for r, s in pending.items())]
    if stale:
        store.invalidate_approvals(run_id)
        store.append_event(run_id, "approval_invalidated", {"reason": "a PR was pushed to after the approval"})
        approvals = store.approvals(run_id)
    return evaluate(deps.config.approval, changes, approvals, run.created_at, utcnow())


def merge_step(deps: EngineDeps, run_id: str, repo: str, expected_sha: str) -> MergeOutcome:
    """Merge one PR of the train, guarded by the approved SHA; never merges twice."""
    store = deps.store
    change = next(c for c in store.changes(run_id) if c.repo == repo)
    if change.state is ChangeState.merged:
        return MergeOutcome(ok=True)
    current = deps.forge.refresh(change)
    if current.state is ChangeState.merged:
        store.save_change(current.model_copy(update={"order": change.order, "run_id": run_id}))
        _audit_merge(store, run_id, repo, current.merge_sha or expected_sha)
        return MergeOutcome(ok=True)
    if current.head_sha != expected_sha:
        store.invalidate_approvals(run_id)
        store.append_event(
            run_id,
            "approval_invalidated",
            {"repo": repo, "expected": expected_sha, "found": current.head_sha},
        )
        return MergeOutcome(ok=False, moved=True, report=f"{repo} moved since approval")
    try:
        merged = deps.forge.merge(change, expected_sha)
    except MergeRefused as err:
        store.save_change(change.model_copy(update={"merge_error": str(err)}))
        report = train_report(store.changes(run_id), failed=repo, error=str(err))
        store.append_event(run_id, "merge_failed", {"repo": repo, "error": str(err), "report": report})
        store.audit.record(
            AuditKind.merge,
            actor=ENGINE_ACTOR,
            surface=MERGE_SURFACE,
            outcome=AuditOutcome.failed,
            run_id=run_id,
            reason=str(err),
            shas={repo: expected_sha},
        )
        return MergeOutcome(ok=False, report=report)
    merged = merged.model_copy(update={"order": change.order, "run_id": run_id, "merge_error": None})
    store.save_change(merged)
    store.append_event(run_id, "merged", {"repo": repo, "number": merged.number, "sha": merged.merge_sha})
    _audit_merge(store, run_id, repo, merged.merge_sha or expected_sha)
    return MergeOutcome(ok=True)


MERGE_SURFACE = "merge_train"


def _audit_merge(store: Store, run_id: str, repo: str, sha: str) -> None:
    """One audit record per merged PR, with the merged SHA (a replayed step adds nothing)."""
    store.audit.record(
        AuditKind.merge,
        actor=ENGINE_ACTOR,
        surface=MERGE_SURFACE,
        run_id=run_id,
        shas={repo: sha},
        dedupe_key=f"merge:{run_id}:{repo}",
    )


def train_report(changes: list[ChangeSet], failed: str, error: str) -> str:
    merged = [c.repo for c in changes if c.state is ChangeState.merged]
    waiting = [c.repo for c in changes if c.state is not ChangeState.merged and c.repo != failed]
    return (
        f"merge train stopped at {failed}: {error}. "
        f"Merged: {', '.join(merged) or 'none'}. Not merged: {', '.join([failed, *waiting])}. "
        "Fix it, then retry to merge the remaining PRs."
    )


def _moved_since(store: Store, run_id: str, when: datetime) -> bool:
    """Whether Baton saw a PR's current head after `when` (a whole second later: GitHub's times
    have one-second precision, so a head seen within that second counts as seen before)."""
    return any(seen >= when + timedelta(seconds=1) for seen in store.heads_seen_at(run_id).values())


class ApprovalService:
    """Records people's decisions and hands them to the waiting run."""

    def __init__(self, store: Store, policy: ApprovalPolicy, notify: Callable[[str, dict[str, Any]], None]) -> None:
        self.store = store
        self.policy = policy
        self.notify = notify
        # Per-source checks on top of the policy (e.g. GitHub: repo permission); source → reason or None.
        self.authorizers: dict[str, Callable[[Actor, Run], str | None]] = {}

    def decide(
        self,
        run_id: str,
        actor: Actor,
        decision: Decision,
        reason: str = "",
        seen_shas: dict[str, str] | None = None,
        *,
        not_before: datetime | None = None,
    ) -> DecisionResult:
        """Record an authorised decision bound to the PRs' heads; a refusal goes to the audit trail with its reason.

        `not_before`: when the person made it (e.g. a GitHub comment's `created_at`): an approval is
        refused if Baton saw any PR's current head after then — they approved something else."""
        result = self._decide(run_id, actor, decision, reason, seen_shas, not_before)
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
    ) -> DecisionResult:
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if run.state is not RunState.awaiting_approval:
            return DecisionResult(accepted=False, message=f"run {run_id} is {run.state.value}, not awaiting approval")
        refusal = may_approve(self.policy, actor, run.spec.trigger.actor)
        authorizer = self.authorizers.get(actor.source.value)
        if refusal is None and authorizer is not None:
            refusal = authorizer(actor, run)
        if refusal:
            return DecisionResult(accepted=False, message=refusal)
        heads = {c.repo: c.head_sha for c in self.store.changes(run_id)}
        if seen_shas is not None and seen_shas != heads:
            return DecisionResult(accepted=False, message="the PRs changed since you looked; review them again")
        if not_before is not None and decision is Decision.approve and _moved_since(self.store, run_id, not_before):
            return DecisionResult(accepted=False, message="approve again: heads changed since your comment")
        approval = Approval(run_id=run_id, actor=actor, decision=decision, head_shas=heads, reason=reason)
        if not self.store.record_approval(approval):
            return DecisionResult(accepted=True, message=f"already recorded: {decision.value}")
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
            {"actor": actor.key, "decision": decision.value, "reason": reason, "shas": heads},
        )
        self.notify(run_id, {"decision": decision.value, "reason": reason, "actor": actor.key})
        bound = ", ".join(f"{repo}@{sha[:7]}" for repo, sha in heads.items())
        return DecisionResult(accepted=True, message=f"{decision.value} recorded" + (f" for {bound}" if bound else ""))
