"""The merge train: re-read every PR before the gate is weighed, check every PR before anything
merges (pre-flight), then merge them one by one in plan order.

An approval voids when a PR's head or base moves after it. Pre-flight reads every PR again and
needs each open, not a draft someone made, mergeable, green, at the approved head and on the
approved base, which must be the repo's default branch; otherwise nothing merges and the run says
why (a conflict can be fixed by the rebase round `retry` starts). Each merge is guarded by the
approved SHA; a PR someone merged by hand is reported as such, with its real merge commit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from bot.domain.models import ChangeSet, ChangeState, ChecksState, utcnow
from bot.domain.people import People
from bot.domain.ports import MergeRefused
from bot.domain.records import Approval
from bot.engine.approvals import GateVerdict, evaluate
from bot.store.audit import ENGINE_ACTOR, AuditKind, AuditOutcome
from bot.store.store import Store

if TYPE_CHECKING:
    from bot.engine.deps import EngineDeps

MERGE_SURFACE = "merge_train"
REBASE_FACT = "rebase"
"""The repos pre-flight found conflicting: the next attempt of the run starts with a rebase round on them."""


class MergeOutcome(BaseModel):
    ok: bool
    moved: bool = False
    report: str = ""


class Preflight(BaseModel):
    ok: bool
    moved: bool = False
    report: str = ""
    conflicts: list[str] = Field(default_factory=list)


def _attempted(store: Store, run_id: str, repo: str) -> bool:
    """Whether Baton itself asked the forge to merge this PR (so finding it merged is Baton's doing)."""
    return bool(store.get_fact(run_id, f"merging:{repo}"))


def _merged_elsewhere(deps: EngineDeps, run_id: str, before: ChangeSet, fresh: ChangeSet) -> bool:
    """A PR found merged that Baton never merged: reported with its real merge commit, once."""
    store = deps.store
    if (
        before.state is ChangeState.merged
        or fresh.state is not ChangeState.merged
        or _attempted(store, run_id, fresh.repo)
    ):
        return False
    forge = next((r.forge for r in deps.config.repos if r.name == fresh.repo), "local")
    store.append_event(
        run_id,
        "merged_elsewhere",
        {"repo": fresh.repo, "number": fresh.number, "sha": fresh.merge_sha, "by": fresh.merged_by},
    )
    store.audit.record(
        AuditKind.merge,
        actor=f"{forge}:{fresh.merged_by}" if fresh.merged_by else "unknown",
        surface=forge,
        run_id=run_id,
        reason="merged outside Baton",
        shas={fresh.repo: fresh.merge_sha or fresh.head_sha},
        dedupe_key=f"merge:{run_id}:{fresh.repo}",
    )
    return True


def _void(store: Store, run_id: str, approvals: list[Approval], changes: list[ChangeSet]) -> None:
    """Void the approvals whose PR heads or bases moved since, saying which moved how."""
    reasons: list[str] = []
    for change in (c for c in changes if c.state is ChangeState.open):
        # An approval binds the PRs open when it was given: a PR opened later (a campaign's next
        # wave) is not covered by it, so it cannot have moved away from it.
        for approval in (a for a in approvals if a.valid and change.repo in a.head_shas):
            was = approval.bases.get(change.repo, change.base)
            if approval.head_shas.get(change.repo) != change.head_sha:
                reasons.append(f"{change.repo}#{change.number} was pushed to after the approval")
                break
            if was != change.base:
                reasons.append(
                    f"{change.repo}#{change.number} now targets another branch: its base changed from {was} "
                    f"to {change.base} after the approval"
                )
                break
    if reasons and store.invalidate_approvals(run_id):
        store.append_event(run_id, "approval_invalidated", {"reason": "; ".join(reasons)})


def gate_step(deps: EngineDeps, run_id: str) -> GateVerdict:
    """Refresh every PR's head and base from the forge, void stale approvals, then evaluate."""
    run = deps.store.get_run(run_id)
    assert run is not None
    changes = refreshed(deps, run_id)
    people = People(deps.config.people)
    return evaluate(deps.config.approval, changes, deps.store.approvals(run_id), run.created_at, utcnow(), people)


def refreshed(deps: EngineDeps, run_id: str, repos: list[str] | None = None) -> list[ChangeSet]:
    """The run's PRs (those of `repos`, when given) read again from the forge, checks run on a new
    head, and every approval voided that a PR moved away from."""
    store = deps.store
    changes = []
    for change in store.changes(run_id):
        if repos is not None and change.repo not in repos:
            continue
        fresh = deps.forge.refresh(change).model_copy(
            update={"order": change.order, "run_id": run_id, "checks": change.checks}
        )
        _merged_elsewhere(deps, run_id, change, fresh)
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
            # Announced here when the outcome is new: a webhook arriving later then finds it known.
            store.save_checks(fresh, source="gate", warnings=outcome.warnings)
        else:
            store.save_change(fresh)
        changes.append(fresh)
    _void(store, run_id, store.approvals(run_id), changes)
    return changes


def preflight_step(
    deps: EngineDeps, run_id: str, gate: GateVerdict, attempt: int, repos: list[str] | None = None
) -> Preflight:
    """Before the first merge: every PR (of `repos`, when given: a campaign's wave) read again must
    be mergeable exactly as approved."""
    store = deps.store
    defaults = {r.name: r.default_branch for r in deps.config.repos}
    problems: list[str] = []
    conflicts: list[str] = []
    moved = False
    fresh_changes: list[ChangeSet] = []
    found: list[tuple[str, ChangeSet | None]] = []  # (a problem, or "" and the PR whose readiness decides)
    for change in sorted(store.changes(run_id), key=lambda c: c.order):
        if change.state is ChangeState.merged or (repos is not None and change.repo not in repos):
            continue
        current = deps.forge.refresh(change).model_copy(update={"order": change.order, "run_id": run_id})
        fresh_changes.append(current)
        store.save_change(current)
        approved_head = gate.head_shas.get(change.repo)
        if current.state is ChangeState.merged:
            _merged_elsewhere(deps, run_id, change, current)
            moved = moved or current.head_sha != approved_head
            continue
        if current.head_sha != approved_head or current.base != gate.bases.get(change.repo, current.base):
            moved = True
            continue
        where = f"{change.repo}: #{current.number}"
        target = defaults.get(change.repo, current.base)
        if current.state is ChangeState.closed:
            found.append((f"{where} was closed without merging; reopen it", None))
        elif current.base != target:
            found.append((f"{where} targets {current.base}, not {target}", None))
        elif deps.config.approval.require_green_checks and current.checks is not ChecksState.passed:
            found.append((f"{where} has no green checks at the approved head {current.head_sha[:7]}", None))
        else:
            found.append(("", current))
    # Each PR's readiness (a merge-tree against its base) at once: a run's PRs are independent here.
    asked = [c for _, c in found if c is not None]
    with ThreadPoolExecutor(max_workers=max(1, min(len(asked), deps.config.concurrency.per_run))) as pool:
        readiness = dict(zip((c.repo for c in asked), pool.map(deps.forge.readiness, asked), strict=True))
    for problem, pr in found:
        if pr is None:
            problems.append(problem)
        elif readiness[pr.repo].problem:
            problems.append(f"{pr.repo}: {readiness[pr.repo].problem}")
            conflicts += [pr.repo] if readiness[pr.repo].conflict else []
    if moved:
        _void(store, run_id, store.approvals(run_id), fresh_changes)
        if store.invalidate_approvals(run_id):
            store.append_event(run_id, "approval_invalidated", {"reason": "a PR changed after the approval"})
        return Preflight(ok=False, moved=True)
    if not problems:
        return Preflight(ok=True)
    offer = (
        f" `retry` starts a rebase round on {', '.join(conflicts)}: the agent merges the base into the branch "
        "and resolves the conflict, then the PRs wait for approval again."
        if conflicts
        else " Fix it, then `retry`."
    )
    report = f"Nothing was merged: {'; '.join(problems)}.{offer}"
    store.put_fact(run_id, REBASE_FACT, {"attempt": attempt, "repos": conflicts})
    store.append_event(run_id, "preflight_failed", {"problems": problems, "conflicts": conflicts, "report": report})
    return Preflight(ok=False, report=report, conflicts=conflicts)


def rebase_repos(store: Store, run_id: str, attempt: int) -> list[str]:
    """The repos a rebase round should bring up to date on this attempt (once: the fact is spent)."""
    fact = store.get_fact(run_id, REBASE_FACT) or {}
    if not fact.get("repos") or int(fact.get("attempt", attempt)) >= attempt:
        return []
    store.put_fact(run_id, REBASE_FACT, {"attempt": attempt, "repos": []})
    return [str(r) for r in fact["repos"]]


def merge_step(deps: EngineDeps, run_id: str, repo: str, expected_sha: str) -> MergeOutcome:
    """Merge one PR of the train, guarded by the approved SHA; never merges twice."""
    store = deps.store
    change = next(c for c in store.changes(run_id) if c.repo == repo)
    if change.state is ChangeState.merged:
        return MergeOutcome(ok=True)
    current = deps.forge.refresh(change).model_copy(update={"order": change.order, "run_id": run_id})
    if current.state is ChangeState.merged:
        store.save_change(current)
        if not _merged_elsewhere(deps, run_id, change, current):
            _audit_merge(store, run_id, repo, current.merge_sha or expected_sha)  # ours, before a crash
        return MergeOutcome(ok=current.head_sha == expected_sha, moved=current.head_sha != expected_sha)
    if current.head_sha != expected_sha:
        store.invalidate_approvals(run_id)
        store.append_event(
            run_id,
            "approval_invalidated",
            {"repo": repo, "expected": expected_sha, "found": current.head_sha},
        )
        return MergeOutcome(ok=False, moved=True, report=f"{repo} moved since approval")
    store.put_fact(run_id, f"merging:{repo}", {"sha": expected_sha})
    try:
        merged = deps.forge.merge(change, expected_sha)
    except MergeRefused as err:
        store.put_fact(run_id, f"merging:{repo}", {})  # refused: if it is merged later, it was not by us
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


def retargeted(store: Store, run_id: str, repo: str, base: str, by: str) -> str | None:
    """Someone changed the branch a run's PR merges into: the PR is recorded on its new base and
    every approval voids (an approval binds the base too). Returns the event recorded, or None
    when the PR's base did not change."""
    change = next((c for c in store.changes(run_id) if c.repo == repo), None)
    if change is None or change.base == base:
        return None
    store.save_change(change.model_copy(update={"base": base}))
    reason = f"@{by} changed the base of {repo}#{change.number} from {change.base} to {base} after the approval"
    kind = "approval_invalidated" if store.invalidate_approvals(run_id) else "base_changed"
    store.append_event(run_id, kind, {"repo": repo, "reason": reason, "base": base, "was": change.base})
    return kind
