"""The run as plain text for `baton runs show`: what was asked and how it stands first (totals,
actions, where it failed), then steps grouped by repo, PRs in merge order (from 1), approvals, and
the numbered events last. The grouping and PR helpers are shared with the live view (terminal.py).
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.models import ChangeSet, ChangeState, ChecksState, RunState
from bot.domain.records import RunEvent, RunView, Step, StepState
from bot.surfaces.render import (
    approval_lines,
    checks_icon,
    event_data_text,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    next_actions,
    one_line,
    requester,
    short_sha,
    state_label,
    step_icon,
    summary_line,
)


def by_repo(view: RunView) -> list[tuple[str, list[Step]]]:
    """The run's steps grouped by repo, in merge order (the plan's order before PRs exist);
    steps of no repo (the plan) first."""
    merge = {c.repo: c.order for c in view.changes}
    planned = {repo: i for i, repo in enumerate(view.run.spec.repos)}
    groups: dict[str, list[Step]] = {}
    for step in view.steps:
        groups.setdefault(step.repo or "", []).append(step)
    return sorted(groups.items(), key=lambda g: (g[0] != "", merge.get(g[0], len(merge) + planned.get(g[0], 0))))


def merge_position(change: ChangeSet) -> str:
    """A PR's place in the merge train, counted from 1."""
    return str(change.order + 1)


def pr_checks(change: ChangeSet, view: RunView) -> str:
    """A PR's checks as people should read them: not "unknown" while a live run is running them."""
    if change.checks is ChecksState.unknown and change.state is ChangeState.open and not view.run.state.terminal:
        return f"{checks_icon(ChecksState.pending)} pending"
    return f"{checks_icon(change.checks)} {change.checks.value}"


def _columns(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _failure_where(view: RunView) -> list[str]:
    """For a run that failed: the failed steps (repo, agent, what they said) and red checks."""
    if view.run.state is not RunState.failed:
        return []
    lines = [
        f"failed at: {s.name} in {s.repo or '-'}"
        + (f" ({s.agent})" if s.agent else "")
        + f": {one_line(s.detail, 160)}"
        for s in view.steps
        if s.state is StepState.failed
    ]
    lines += [
        f"checks failed: {c.repo}#{c.number}: {one_line(c.checks_output[-300:], 160)}"
        for c in view.changes
        if c.checks.value == "failed"
    ]
    return lines


def timeline_text(
    view: RunView, events: list[RunEvent], now: datetime | None = None, *, with_events: bool = True
) -> str:
    """`baton runs show`: what was asked and how it stands first (totals, actions, where it failed),
    then steps, PRs and approvals, and the numbered events last (`with_events`; else their count).

    Event times carry the date only when it differs from the run's first day.
    """
    run, trigger = view.run, view.run.spec.trigger
    out = [
        f"Run {run.run_id} — {state_label(run.state)}",
        f"requested by {requester(view)} via {trigger.source.value} at {run.created_at:%Y-%m-%d %H:%M:%S %Z}",
        f"request: {one_line(trigger.request, 200)}",
        f"repos: {', '.join(run.spec.repos) or '-'}   playbook: {run.spec.playbook}",
    ]
    if run.error:
        out.append(f"error: {one_line(run.error, 200)}")
    out += _failure_where(view)
    actions = next_actions(view)
    out += [f"totals: {summary_line(view, now)}", f"actions: {', '.join(actions) or 'none'}"]
    if run.state is RunState.awaiting_approval:
        out.append(f"  approve: baton approve {run.run_id}   reject: baton reject {run.run_id} --reason '...'")
    out += ["", f"Steps ({len(view.steps)})"]
    rows = [
        [
            step_icon(s.state),
            s.name,
            s.repo or "-",
            s.agent or "-",
            fmt_duration(s.duration_s),
            fmt_tokens(s.usage.tokens),
            fmt_cost(s.usage.cost_usd),
            one_line(s.detail, 80),
        ]
        for _repo, group in by_repo(view)
        for s in group
    ]
    out += _columns(rows) or ["  none"]
    out += ["", f"Pull requests ({len(view.changes)})"]
    rows = [
        [
            merge_position(c),
            f"{c.repo}#{c.number}",
            short_sha(c.head_sha),
            f"checks {c.checks.value}",
            c.state.value,
            c.url,
        ]
        for c in sorted(view.changes, key=lambda c: (c.order, c.repo))
    ]
    out += _columns(rows) or ["  none"]
    out += [
        f"  merge failed for {c.repo}#{c.number}: {one_line(c.merge_error, 200)}" for c in view.changes if c.merge_error
    ]
    out += ["", f"Approvals ({len(view.approvals)})"]
    out += [f"  {line}" for line in approval_lines(view)] or ["  none"]
    if not with_events:
        more = f" (`baton runs show {run.run_id} --events` lists them)" if events else ""
        return "\n".join([*out, "", f"Events: {len(events)}{more}"]) + "\n"
    out += ["", f"Events ({len(events)})"]
    day = run.created_at.date()
    stamp = "{:%H:%M:%S}", "{:%Y-%m-%d %H:%M:%S}"
    rows = [
        [f"{e.seq}.", stamp[e.at.date() != day].format(e.at), e.kind, event_data_text(e.data)]
        for e in sorted(events, key=lambda e: e.seq)
    ]
    out += _columns(rows) or ["  none"]
    return "\n".join(out) + "\n"
