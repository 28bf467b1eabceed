"""What the dashboard says beyond the raw run: a state's icon, times as people say them ("3 min
ago", the exact time on hover), a failed run's why and where (the failed step, checks or merge,
with its output tail), how a waiting run is approved from each surface, and costs at a glance.

Pure functions over a RunView (and the run's links); the templates only lay them out.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bot.domain.models import ChangeState, ChecksState, RunState, Source
from bot.domain.records import RunView, StepState
from bot.surfaces.render import (
    ago,
    elapsed_seconds,
    fmt_cost,
    fmt_cost_rounded,
    fmt_duration,
    fmt_tokens,
    short_sha,
    state_label,
    total_usage,
)

STATE_ICON = {
    RunState.queued: "◌",
    RunState.planning: "◔",
    RunState.working: "⟳",
    RunState.awaiting_approval: "‖",
    RunState.merging: "⇢",
    RunState.merged: "✓",
    RunState.failed: "✗",
    RunState.rejected: "⊘",
    RunState.cancelled: "⊘",
    RunState.expired: "◷",
}
"""One glyph per state, each in the fonts a Linux browser has (DejaVu), like the surfaces' ✓ and ✗."""
TAIL_CHARS = 1500


class When(BaseModel):
    ago: str
    exact: str
    iso: str


class FailurePoint(BaseModel):
    what: str
    tail: str = ""


class Failure(BaseModel):
    why: str
    where: list[FailurePoint]


class ApproveWay(BaseModel):
    surface: str
    how: str
    url: str | None = None
    available: bool = True


class Cost(BaseModel):
    shown: str
    exact: str


def state_icon(state: RunState) -> str:
    return STATE_ICON[state]


def when(at: datetime, now: datetime) -> When:
    return When(ago=ago((now - at).total_seconds()), exact=f"{at:%Y-%m-%d %H:%M:%S} UTC", iso=at.isoformat())


def cost(usd: float) -> Cost:
    """Rounded to cents for reading, the exact figure kept for the hover."""
    return Cost(shown=fmt_cost_rounded(usd), exact=fmt_cost(usd))


def summary(view: RunView, now: datetime) -> str:
    """The run in one line, with its cost rounded: steps, PRs, tokens, cost, time."""
    steps = view.steps
    done = sum(1 for s in steps if s.state in (StepState.succeeded, StepState.skipped))
    failed = sum(1 for s in steps if s.state is StepState.failed)
    merged = sum(1 for c in view.changes if c.state is ChangeState.merged)
    usage = total_usage(view)
    parts = [
        f"steps {done}/{len(steps)}" + (f" ({failed} failed)" if failed else ""),
        f"PRs {merged}/{len(view.changes)} merged",
        f"{fmt_tokens(usage.tokens)} tokens",
        fmt_cost_rounded(usage.cost_usd),
        fmt_duration(elapsed_seconds(view, now)),
    ]
    return " · ".join(parts)


def failure(view: RunView) -> Failure | None:
    """Why a failed run failed and where: its failed steps, red checks and refused merges."""
    if view.run.state is not RunState.failed:
        return None
    # The last failure of each step in each repo: a verify loop's earlier attempts said the same.
    last = {(s.repo, s.name): s for s in view.steps if s.state is StepState.failed}
    where = [
        FailurePoint(
            what=f"step {s.name} in {s.repo or 'the plan'}" + (f" (agent {s.agent})" if s.agent else ""),
            tail=s.detail[-TAIL_CHARS:],
        )
        for s in last.values()
    ]
    for c in sorted(view.changes, key=lambda c: c.order):
        if c.checks is ChecksState.failed:
            what = f"checks of {c.repo}#{c.number} at {short_sha(c.head_sha)}"
            where.append(FailurePoint(what=what, tail=c.checks_output[-TAIL_CHARS:]))
        if c.merge_error:
            where.append(FailurePoint(what=f"merge of {c.repo}#{c.number}", tail=c.merge_error[-TAIL_CHARS:]))
    return Failure(why=view.run.error or state_label(view.run.state), where=where)


def approve_ways(view: RunView, links: dict[str, str]) -> list[ApproveWay]:
    """How a person approves this run from each surface (and why a surface cannot, when it cannot).

    `links`: label → URL of the places the run is talked about (its Slack thread, issue)."""
    run_id = view.run.run_id
    source = view.run.spec.trigger.source
    what = "the plan" if view.run.waiting_for == "plan" else "the PRs at their current heads"
    slack = next((url for label, url in links.items() if label.startswith("Slack")), None)
    issue_gh = next((url for label, url in links.items() if label.startswith("GitHub")), None)
    issue_linear = next((url for label, url in links.items() if label.startswith("Linear")), None)
    on_github = any(c.url.startswith("https://") and "/pull/" in c.url for c in view.changes)
    ways = [
        ApproveWay(
            surface="Terminal",
            how=f"baton approve {run_id}  (or: baton reject {run_id} --reason '…') approves {what}",
        ),
        ApproveWay(
            surface="Slack",
            how="the Approve & merge button on the run's card in its thread"
            if slack
            else "not here: the run has no Slack card (it was not asked in Slack)",
            url=slack,
            available=slack is not None,
        ),
        ApproveWay(
            surface="GitHub",
            how="comment /baton approve on the issue" + (" or on any of the run's PRs" if on_github else "")
            if issue_gh or on_github
            else "not here: the run has no GitHub issue or PR",
            url=issue_gh or (view.changes[0].url if on_github else None),
            available=bool(issue_gh or on_github),
        ),
        ApproveWay(
            surface="Linear",
            how="comment /baton approve on the issue"
            if source is Source.linear
            else "not here: the run was not asked in Linear",
            url=issue_linear,
            available=source is Source.linear,
        ),
    ]
    return ways
