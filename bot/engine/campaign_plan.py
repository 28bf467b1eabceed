"""A campaign's scheduling decisions as plain functions: which repos start next (the canary first,
at most `max_open_prs` PRs open), which approved PRs merge now (providers before consumers), which
approvals cover which PRs, and the burndown people see.

No effects here: `campaign.py` applies these decisions through `RunSteps`; the fast tier tests them
directly. The per-repo progress (`CampaignState`) travels in the run's `LoopState` while it waits
and is kept as the run's `campaign` fact for the dashboard.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from bot.config.models import ApprovalPolicy
from bot.config.playbooks import Campaign
from bot.domain.models import ChangeSet, ChangeState, ChecksState, Decision
from bot.domain.people import People
from bot.domain.records import Approval
from bot.engine.approvals import GateVerdict

CAMPAIGN_FACT = "campaign"
FAILING_SHOWN = 10
"""How many failing repos a summary names (the rest are counted, and the dashboard lists them all)."""


class Phase(StrEnum):
    """Where one repo of a campaign is, as people see it (the burndown's columns, in order)."""

    queued = "queued"
    working = "working"
    checks = "checks"
    pr_open = "pr_open"
    approved = "approved"
    merged = "merged"
    failed = "failed"
    skipped = "skipped"


class CampaignState(BaseModel):
    """What the engine itself knows per repo: queued, working, done (its PR is open), failed or
    skipped; the PR's own state (checks, merged) is read from the forge's record each time."""

    order: list[str]
    canary: list[str]
    deps: dict[str, list[str]] = Field(default_factory=dict)
    status: dict[str, str] = Field(default_factory=dict)
    reasons: dict[str, str] = Field(default_factory=dict)
    tries: dict[str, int] = Field(default_factory=dict)
    approved: list[str] = Field(default_factory=list)
    """Repos whose open PR an approval binds at its current head and base (as last weighed)."""


def start(order: list[str], deps: dict[str, list[str]], policy: Campaign) -> CampaignState:
    """A new campaign over `order` (providers first): every repo queued, the first N the canary."""
    return CampaignState(
        order=order,
        canary=order[: policy.canary],
        deps={r: [d for d in deps.get(r, []) if d in order] for r in order},
        status=dict.fromkeys(order, "queued"),
    )


def _green(change: ChangeSet | None) -> bool:
    return change is not None and (change.state is ChangeState.merged or change.checks is ChecksState.passed)


def canary_ready(state: CampaignState, changes: dict[str, ChangeSet], policy: Campaign) -> bool:
    """Whether the rest may start: every canary repo green (merged too, with `canary_approval`) or skipped."""
    for repo in state.canary:
        change = changes.get(repo)
        if state.status[repo] == "skipped":
            continue
        if state.status[repo] != "done" or not _green(change):
            return False
        if policy.canary_approval and (change is None or change.state is not ChangeState.merged):
            return False
    return True


def open_count(state: CampaignState, changes: dict[str, ChangeSet]) -> int:
    """The campaign's PRs open on the forge (skipped repos are no longer the campaign's)."""
    return sum(1 for r, c in changes.items() if c.state is ChangeState.open and state.status.get(r) != "skipped")


def next_batch(state: CampaignState, changes: dict[str, ChangeSet], policy: Campaign) -> list[str]:
    """The queued repos to start now, in plan order: the canary alone until it is ready; only repos
    whose providers have a PR (or were skipped); no more than the free `max_open_prs` slots."""
    ready = canary_ready(state, changes, policy)
    slots = len(state.order) if policy.max_open_prs is None else policy.max_open_prs - open_count(state, changes)
    batch: list[str] = []
    for repo in state.order:
        if len(batch) >= slots:
            break
        if state.status[repo] != "queued" or (repo not in state.canary and not ready):
            continue
        if all(state.status[d] == "skipped" or (state.status[d] == "done" and d in changes) for d in state.deps[repo]):
            batch.append(repo)
    return batch


def approved_repos(
    policy: ApprovalPolicy,
    changes: list[ChangeSet],
    approvals: list[Approval],
    created_at: datetime,
    now: datetime,
    people: People | None = None,
) -> GateVerdict:
    """Per PR, whether enough valid approvals bind its current head and base (each approval covers
    the PRs that were open when it was given: a wave). `head_shas`: the approved heads to merge at."""
    people = people or People([])
    if now > created_at + timedelta(hours=policy.expiry_hours):
        return GateVerdict(ok=False, reason="the approval window has expired")
    heads: dict[str, str] = {}
    bases: dict[str, str] = {}
    for change in (c for c in changes if c.state is ChangeState.open):
        bound = {
            people.key(a.actor)
            for a in approvals
            if a.valid
            and a.decision is Decision.approve
            and a.head_shas.get(change.repo) == change.head_sha
            and a.bases.get(change.repo, change.base) == change.base
        }
        green = not policy.require_green_checks or change.checks is ChecksState.passed
        if len(bound) >= policy.min_approvals and green:
            heads[change.repo] = change.head_sha
            bases[change.repo] = change.base
    reason = "" if heads else f"needs {policy.min_approvals} approval(s) bound to an open, green PR's current head"
    return GateVerdict(ok=bool(heads), reason=reason, head_shas=heads, bases=bases)


def mergeable(state: CampaignState, changes: dict[str, ChangeSet], approved: list[str]) -> list[str]:
    """The approved, green PRs that may merge now, in plan order: a consumer only after every
    provider of it in the campaign merged (earlier in this list) or was skipped."""
    merged = {r for r, c in changes.items() if c.state is ChangeState.merged}
    result: list[str] = []
    for repo in state.order:
        change = changes.get(repo)
        if change is None or change.state is not ChangeState.open or repo not in approved:
            continue
        if state.status[repo] != "done":
            continue
        if all(d in merged or d in result or state.status[d] == "skipped" for d in state.deps[repo]):
            result.append(repo)
    return result


def phase(state: CampaignState, repo: str, change: ChangeSet | None) -> Phase:
    status = state.status[repo]
    if change is not None and change.state is ChangeState.merged:
        return Phase.merged
    if status in ("queued", "working", "failed", "skipped"):
        return Phase(status)
    if change is None or change.state is ChangeState.closed:
        return Phase.failed
    if change.checks is ChecksState.failed:
        return Phase.failed
    if change.checks is not ChecksState.passed:
        return Phase.checks
    return Phase.approved if repo in state.approved else Phase.pr_open


def settle(state: CampaignState, changes: dict[str, ChangeSet]) -> None:
    """Mark the repos whose PR checks came back red as failed (with the checks' output as reason)."""
    for repo, change in changes.items():
        if (
            state.status.get(repo) == "done"
            and change.state is ChangeState.open
            and change.checks is ChecksState.failed
        ):
            state.status[repo] = "failed"
            tail = change.checks_output.strip().splitlines()[-1:] or ["checks failed"]
            state.reasons[repo] = f"checks failed: {tail[0][:200]}"


def finished(state: CampaignState, changes: dict[str, ChangeSet]) -> bool:
    """Nothing left to do: every repo merged or skipped."""
    return all(
        state.status[r] == "skipped" or (r in changes and changes[r].state is ChangeState.merged) for r in state.order
    )


def burndown(state: CampaignState, changes: dict[str, ChangeSet]) -> dict[str, object]:
    """Counts by phase, the merge rate, and the first failing repos with their reasons: what every
    surface shows (a fixed size, whatever the number of repos)."""
    phases = {r: phase(state, r, changes.get(r)) for r in state.order}
    counts = Counter(phases.values())
    failing = [r for r in state.order if phases[r] is Phase.failed]
    merged = counts[Phase.merged]
    considered = len(state.order) - counts[Phase.skipped]
    return {
        "total": len(state.order),
        "counts": {p.value: counts[p] for p in Phase},
        "merge_rate": round(merged / considered, 3) if considered else 0.0,
        "failing": [{"repo": r, "reason": state.reasons.get(r, "failed")} for r in failing[:FAILING_SHOWN]],
        "failing_more": max(0, len(failing) - FAILING_SHOWN),
        "canary": state.canary,
    }


def table(state: CampaignState, changes: dict[str, ChangeSet]) -> list[dict[str, str]]:
    """One row per repo, in plan order, for the dashboard."""
    rows = []
    for repo in state.order:
        change = changes.get(repo)
        rows.append(
            {
                "repo": repo,
                "phase": phase(state, repo, change).value,
                "pr": change.url if change else "",
                "reason": state.reasons.get(repo, ""),
                "wave": "canary" if repo in state.canary else "rest",
            }
        )
    return rows
