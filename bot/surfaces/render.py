"""Pure text helpers every surface shares: labels, icons, number formats, the one-line summary.

Slack, GitHub, Linear, the terminal and the dashboard all describe a run in the same words;
these functions are where those words are chosen. Nothing here does I/O or knows a wire format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from bot.domain.models import ChangeState, ChecksState, RunState, Usage, utcnow
from bot.domain.records import RunView, StepState
from bot.engine.integration_gate import STEP_NAME

_STEP_ICONS: dict[StepState, str] = {
    StepState.running: "…",
    StepState.succeeded: "✓",
    StepState.failed: "✗",
    StepState.skipped: "-",
}

_CHECKS_ICONS: dict[ChecksState, str] = {
    ChecksState.unknown: "?",
    ChecksState.pending: "…",
    ChecksState.passed: "✓",
    ChecksState.failed: "✗",
}

_ACTIVE_STATES = frozenset({RunState.queued, RunState.planning, RunState.working})

TEMPLATES = Path(__file__).parent / "templates"
"""The HTML pages' Jinja2 templates (the dashboard's and the review page's), beside this file."""


def state_label(state: RunState) -> str:
    """The run state in words people read: `awaiting_approval` → "awaiting approval"."""
    return state.value.replace("_", " ")


def step_icon(state: StepState) -> str:
    """One character for a step's state, the same on every surface."""
    return _STEP_ICONS[state]


def checks_icon(state: ChecksState) -> str:
    """One character for a PR's checks state."""
    return _CHECKS_ICONS[state]


def fmt_duration(seconds: float | None) -> str:
    """ "1.2s" under a minute, "3m04s" under an hour, "1h02m", "2d03h"; "-" if unknown."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"
    return f"{whole // 86400}d{(whole % 86400) // 3600:02d}h"


def fmt_cost(usd: float) -> str:
    """ "$0.0123" below a dollar (agent steps are often cents), "$12.34" above."""
    if abs(usd) < 1:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def fmt_tokens(n: int) -> str:
    """ "950", "12.3k", "1.2M"."""
    if abs(n) < 1000:
        return str(n)
    if abs(n) < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def short_sha(sha: str | None) -> str:
    """The 7-character form people recognise; "-" when there is none."""
    return sha[:7] if sha else "-"


def one_line(text: str, limit: int = 80) -> str:
    """Collapse whitespace (newlines included) and trim to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: max(limit - 1, 0)] + "…"


def total_usage(view: RunView) -> Usage:
    """The run's usage: the engine's roll-up when it has one, else the sum of its steps so far.

    The engine may roll step usage into `run.usage` only at milestones; summing the steps keeps
    the figures moving on surfaces in between.
    """
    if view.run.usage != Usage():
        return view.run.usage
    total = Usage()
    for step in view.steps:
        total = total + step.usage
    return total


def elapsed_seconds(view: RunView, now: datetime | None = None) -> float:
    """Wall time of the run: to its last update once finished, to `now` while it goes on."""
    end = view.run.updated_at if view.run.state.terminal else (now or utcnow())
    return max((end - view.run.created_at).total_seconds(), 0.0)


def summary_line(view: RunView, now: datetime | None = None) -> str:
    """One line: state, repos, steps done/total, PRs merged/total, tokens, cost, elapsed."""
    steps = view.steps
    done = sum(1 for s in steps if s.state in (StepState.succeeded, StepState.skipped))
    failed = sum(1 for s in steps if s.state is StepState.failed)
    merged = sum(1 for c in view.changes if c.state is ChangeState.merged)
    usage = total_usage(view)
    step_part = f"steps {done}/{len(steps)}" + (f" ({failed} failed)" if failed else "")
    parts = [
        state_label(view.run.state),
        ", ".join(view.run.spec.repos) or "no repos",
        step_part,
        f"PRs {merged}/{len(view.changes)} merged",
        f"{fmt_tokens(usage.tokens)} tokens",
        fmt_cost(usage.cost_usd),
        fmt_duration(elapsed_seconds(view, now)),
    ]
    return " · ".join(parts)


def integration_red(view: RunView) -> str | None:
    """The output's tail when the latest integration checks of the run failed, else None."""
    last = next((s for s in reversed(view.steps) if s.name == STEP_NAME and s.repo is None), None)
    if last is None or last.state is not StepState.failed:
        return None
    return last.detail or "(no output)"


def next_actions(view: RunView) -> list[str]:
    """The decisions the run's state allows, as action ids ("cancel", "approve", ...).

    Merging allows nothing: stopping a merge train half way is what "retry" after a failure is for.
    """
    state = view.run.state
    if view.campaign and not state.terminal:  # a campaign goes on around its failed repos
        failed = any(v == "failed" for v in dict(view.campaign.get("status") or {}).values())
        asks = (
            ["approve", "reject"] if state is RunState.awaiting_approval and view.run.waiting_for == "approval" else []
        )
        return [*asks, *(["retry"] if failed else []), "close", "cancel"]
    if state in _ACTIVE_STATES:
        return ["cancel"]
    if state is RunState.awaiting_approval:
        # Red integration checks on the change set: nothing to approve until a follow-up fixes them.
        return ["reject"] if integration_red(view) is not None else ["approve", "reject"]
    if state is RunState.failed:
        return ["retry"]
    if state is RunState.merged:
        return ["revert"]  # the whole set, in reverse merge order (bot/engine/revert.py)
    return []


def requester(view: RunView) -> str:
    """Who asked for the run: "Alice (slack:U1)", or just the key when there is no display name."""
    actor = view.run.spec.trigger.actor
    return f"{actor.display} ({actor.key})" if actor.display else actor.key


def approval_lines(view: RunView) -> list[str]:
    """One line per recorded decision: what, by whom, when, on which SHAs, and whether it holds."""
    lines = []
    for approval in view.approvals:
        who = approval.actor.display or approval.actor.key
        shas = ", ".join(f"{repo}@{short_sha(sha)}" for repo, sha in approval.head_shas.items())
        line = f"{approval.decision.value} by {who} at {approval.at:%Y-%m-%d %H:%M:%S}"
        line += f" [{shas}]" if shas else ""
        line += f" — {one_line(approval.reason, 80)}" if approval.reason else ""
        line += "" if approval.valid else " (invalidated: a PR changed since)"
        lines.append(line)
    return lines


def event_data_text(data: Mapping[str, object], limit: int = 100) -> str:
    """An event's data as `key=value` pairs on one line, each value and the whole trimmed."""

    def value(v: object) -> str:
        text = v if isinstance(v, str) else json.dumps(v, default=str, separators=(",", ":"))
        return one_line(text, 40)

    return one_line(" ".join(f"{k}={value(v)}" for k, v in data.items()), limit)


def ago(seconds: float) -> str:
    """How long ago, as people say it: "just now", "42 s ago", "3 min ago", "5 h ago", "2 days ago"."""
    seconds = max(seconds, 0.0)
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def fmt_cost_rounded(usd: float) -> str:
    """A cost at a glance: "$0" for nothing, "<$0.01" for a fraction of a cent, else cents."""
    if usd == 0:
        return "$0"
    if abs(usd) < 0.01:
        return "<$0.01"
    return f"${usd:,.2f}"


def ended_why(view: RunView) -> str | None:
    """Why a run that did not merge ended (its error), or None for runs that merged or go on."""
    if view.run.state in (RunState.failed, RunState.rejected, RunState.cancelled, RunState.expired):
        return view.run.error or state_label(view.run.state)
    return None


PLAN_REPOS_SHOWN = 20
"""Repos a plan's text names with their evidence before "and N more" (a 500-repo plan stays short)."""


def plan_lines(data: Mapping[str, object], repos_shown: int = PLAN_REPOS_SHOWN) -> list[str]:
    """A `plan_ready` event in plain lines: the waves, and for a discovered plan each repo's
    evidence (its first matching lines, or the consumers it provides for). The matching lines are
    repository text: each surface escapes these lines for its own markup."""
    order = [str(r) for r in _listed(data.get("order"))]
    waves = [[str(r) for r in _listed(w)] for w in _listed(data.get("waves"))]
    pattern = data.get("discovered")
    head = f"Plan: {len(order)} repo(s)" + (f" in {len(waves)} wave(s)" if waves else "")
    lines = [head + (f", found by `{pattern}`" if pattern else "")]
    for i, wave in enumerate(waves, 1):
        names = ", ".join(wave[:repos_shown]) + (
            f", … {len(wave) - repos_shown} more" if len(wave) > repos_shown else ""
        )
        lines.append(f"  wave {i}: {names}")
    evidence = data.get("evidence")
    if not isinstance(evidence, Mapping):
        return lines
    for repo in order[:repos_shown]:
        found = evidence.get(repo)
        if not isinstance(found, Mapping):
            continue
        hits = [h for h in _listed(found.get("hits")) if isinstance(h, Mapping)]
        files = found.get("files") or 0
        why = [f"{files}{'+' if found.get('truncated') else ''} file(s) match"] if hits else []
        providers = [str(p) for p in _listed(found.get("provider_of"))]
        why += [f"provider of {', '.join(providers[:5])}{' …' if len(providers) > 5 else ''}"] if providers else []
        why += ["named in the request"] if found.get("explicit") else []
        lines.append(f"  {repo}: {'; '.join(why) or 'in the plan'}")
        lines += [f"    {h.get('path')}:{h.get('line')}: {one_line(str(h.get('text') or ''), 100)}" for h in hits]
    if len(order) > repos_shown:
        lines.append(f"  … and {len(order) - repos_shown} more repo(s)")
    return lines


def _listed(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []
