"""Reverting a merged change set: a *revert run*, linked to the run it undoes.

`revert` on a merged run (a command, `baton runs revert RUN`, the card's Revert button) starts a
new run whose spec names the run it reverts (`RunSpec.reverts`); its id derives from that run's, so
asking twice joins the first. It is a run of its own rather than a phase of the merged one because
everything a run has — its PRs, approvals bound to their heads, the merge train, pre-flight,
retries, the audit trail, a card — is what a revert needs, and a merged run stays a record of what
merged. The original run gets a `revert_requested` event naming the revert run.

The revert run opens one revert PR per merged PR (Baton makes the revert commit; no agent), in
reverse merge order, then waits in the same approval loop: an authorised person's approval bound
to the revert PRs' heads, pre-flight, and the train, which merges in `order` — here the reverse of
the original merge order (consumers first, the provider last).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.domain.models import ChangeSet, RunSpec, RunState
from bot.domain.naming import branch_name
from bot.domain.untrusted import inert
from bot.engine import approval_loop
from bot.engine.deps import EngineDeps
from bot.engine.revert_spec import refusal
from bot.store.store import Store

if TYPE_CHECKING:
    from bot.engine.steps import RunSteps

MERGE_EVENTS = ("merged", "merged_elsewhere")


class RevertItem(BaseModel):
    """One merged PR to revert: where, which commit merged it, and its place in the revert train."""

    repo: str
    sha: str
    number: int
    order: int


def merge_order(store: Store, run_id: str) -> list[tuple[str, str]]:
    """(repo, merge commit) of every PR of the run, in the order they merged (Baton's merges and
    those found merged by hand)."""
    seen: dict[str, str] = {}
    for event in store.events(run_id):
        repo, sha = str(event.data.get("repo", "")), event.data.get("sha")
        if event.kind in MERGE_EVENTS and repo and sha and repo not in seen:
            seen[repo] = str(sha)
    return list(seen.items())


def revert_plan(deps: EngineDeps, spec: RunSpec) -> list[RevertItem] | str:
    """The revert PRs to open, in reverse merge order; or why there are none."""
    assert spec.reverts is not None
    original = deps.store.get_run(spec.reverts)
    why = refusal(original, spec.reverts)
    if why:
        return why
    numbers = {c.repo: c.number for c in deps.store.changes(spec.reverts)}
    merged = list(reversed(merge_order(deps.store, spec.reverts)))
    if not merged:
        return f"run {spec.reverts} recorded no merged PR to revert"
    return [RevertItem(repo=r, sha=sha, number=numbers.get(r, 0), order=i) for i, (r, sha) in enumerate(merged)]


def revert_commit(deps: EngineDeps, run_id: str, repo: str, branch: str, sha: str) -> str:
    """The body of a revert step: the revert branch (from the default branch) with `sha` undone."""
    path = deps.workspace.prepare(run_id, repo, branch)
    return deps.workspace.revert(path, sha)


def revert_body(spec: RunSpec, item: RevertItem, items: list[RevertItem]) -> str:
    order = ", ".join(i.repo for i in items)
    actor = spec.trigger.actor
    return (
        f"Opened by Baton for run `{spec.run_id}`, which reverts run `{spec.reverts}`, asked for by "
        f"{inert(actor.display or actor.id)} ({actor.source.value}).\n\n"
        f"This PR reverts {item.repo}#{item.number} (merged as `{item.sha[:12]}`).\n\n"
        f"**The whole set is reverted in reverse merge order:** {order}.\n\n"
        "It merges only after an authorised approval bound to the head SHAs of every revert PR."
    )


def title_of(spec: RunSpec, item: RevertItem) -> str:
    return f"[baton] Revert {item.repo}#{item.number} (run {spec.reverts})"


def revert_branch(spec: RunSpec) -> str:
    return branch_name(spec.run_id, spec.trigger.request)


def run_revert(steps: RunSteps, spec: RunSpec, attempt: int) -> str:
    """A revert run from its start: plan the revert PRs, open them one by one (each step durable:
    a re-run finds the revert commit on its branch and the PR already open), then the approval loop
    and the train, exactly as for any run."""
    run_id = spec.run_id
    steps.state_step(run_id, RunState.planning)
    plan = steps.revert_plan_step(spec)
    if isinstance(plan, str):
        steps.state_step(run_id, RunState.failed, error=plan)
        return RunState.failed.value
    steps.event_step(run_id, "revert_plan", {"reverts": spec.reverts, "order": [i.repo for i in plan]})
    steps.state_step(run_id, RunState.working)
    branch = revert_branch(spec)
    changes: list[ChangeSet] = []
    for item in plan:
        head = steps.revert_commit_step(run_id, item.repo, branch, item.sha)
        steps.push_step(run_id, item.repo, branch, head)
        change = steps.open_change_step(
            run_id, item.repo, branch, title_of(spec, item), revert_body(spec, item, plan), item.order
        )
        changes.append(steps.change_checks_step(change))
    return approval_loop.approve_and_merge(steps, spec, attempt, changes)
