"""A campaign as every surface shows it: the burndown (counts by state, merge rate, the failing
repos named with their reason) in a fixed number of lines whatever the number of repos, and the
per-repo table the dashboard pages through.

Read from the run's view (`RunView.campaign`, the engine's per-repo progress, beside its PRs).
"""

from __future__ import annotations

from typing import Any

from bot.domain.records import RunView
from bot.engine.campaign_plan import CampaignState, Phase, burndown, table

LABELS = {
    Phase.queued: "queued",
    Phase.working: "working",
    Phase.checks: "checks",
    Phase.pr_open: "PR open",
    Phase.approved: "approved",
    Phase.merged: "merged",
    Phase.failed: "failed",
    Phase.skipped: "skipped",
}


def state_of(view: RunView) -> CampaignState | None:
    return CampaignState.model_validate(view.campaign) if view.campaign else None


def summary(view: RunView) -> dict[str, Any] | None:
    """The burndown of a campaign run, or None for any other run."""
    state = state_of(view)
    if state is None:
        return None
    return burndown(state, {c.repo: c for c in view.changes})


def rows(view: RunView, phase: str | None = None) -> list[dict[str, str]]:
    """The per-repo table, in plan order, only the repos in `phase` when given."""
    state = state_of(view)
    if state is None:
        return []
    found = table(state, {c.repo: c for c in view.changes})
    return [r for r in found if phase is None or r["phase"] == phase]


def count_line(data: dict[str, Any]) -> str:
    counts = data["counts"]
    parts = [f"{LABELS[p]} {counts[p.value]}" for p in Phase]
    return f"{data['total']} repos: " + " · ".join(parts) + f" · merge rate {data['merge_rate']:.0%}"


def failing_lines(data: dict[str, Any]) -> list[str]:
    """The failing repos with their reasons (the first few; how many more)."""
    lines = [f"{f['repo']}: {' '.join(str(f['reason']).split())[:160]}" for f in data["failing"]]
    if data["failing_more"]:
        lines.append(f"… and {data['failing_more']} more failing")
    return lines


def has_failed(view: RunView) -> bool:
    data = summary(view)
    return bool(data and data["counts"][Phase.failed.value])
