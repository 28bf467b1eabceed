"""The Linear status card of a run, as Markdown: one comment per run on the issue, edited in place.

Pure functions from a RunView to text: state, who asked, repos and playbook; a table of steps;
each PR with its head and checks; recorded decisions; and the commands the state allows. Text
that came from agents or people is flattened to one line and escaped so it cannot break the
table, open a code block or mention anyone. No elapsed clock while the run goes on, so an edit
happens only when something people can see changed.
"""

from __future__ import annotations

import re

from bot.domain.models import ChangeState, RunState
from bot.domain.records import RunView
from bot.surfaces import campaign
from bot.surfaces.links import diffstat_text, pr_href, review_url_of
from bot.surfaces.render import (
    approval_lines,
    checks_icon,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    next_actions,
    one_line,
    requester,
    short_sha,
    state_label,
    step_icon,
    total_usage,
)

_STATE_MARK = {
    RunState.queued: "⏳",
    RunState.planning: "🧭",
    RunState.working: "🛠️",
    RunState.awaiting_approval: "👀",
    RunState.merging: "🔀",
    RunState.merged: "✅",
    RunState.failed: "❌",
    RunState.cancelled: "🚫",
    RunState.rejected: "⛔",
    RunState.expired: "⌛",
}
_COMMANDS = {
    "approve": "`/baton approve` merges every PR below",
    "reject": "`/baton reject <reason>` closes the run",
    "cancel": "`/baton cancel` stops the work",
    "retry": "`/baton retry` tries again",
    "revert": "`/baton revert` opens revert PRs for the whole set",
    "close": "`/baton close` ends the campaign",
}
_MARKDOWN = re.compile(r"([\\`*_\[\]|<>#@!~])")


def plain(text: str, limit: int = 120) -> str:
    """Untrusted text as one inert line: no newlines, no Markdown, no @mentions."""
    return _MARKDOWN.sub(r"\\\1", one_line(text, limit))


def link(url: str) -> str:
    """A forge's URL made safe inside a Markdown link target or code span."""
    return re.sub(r"[\s()`<>]", "", url)[:300]


def render_card(view: RunView, run_page: str) -> str:
    run = view.run
    rollout = campaign.summary(view)
    repos = run.spec.repos if rollout is None else [*run.spec.repos[:5], f"… {len(run.spec.repos)} in all"]
    lines = [
        f"{_STATE_MARK[run.state]} **Baton run [`{run.run_id}`]({run_page})** — {state_label(run.state)}",
        "",
        f"Requested by {plain(requester(view), 80)} · repos: {', '.join(repos) or '-'}"
        f" · playbook: `{run.spec.playbook}`",
    ]
    if run.waiting_for:
        lines.append(f"Waiting for: **{run.waiting_for}**")
    if run.error:
        lines.append(f"Error: {plain(run.error, 300)}")
    if rollout is not None:  # a burndown, not a row per repo: the card stays small at 500 repos
        lines += ["", f"**Campaign** · {campaign.count_line(rollout)} · [every repo]({link(run_page)}/repos)"]
        lines += [f"- failing: {plain(line, 200)}" for line in campaign.failing_lines(rollout)]
        lines += _decisions(view)
    else:
        lines += _steps(view) + _changes(view, review_url_of(run_page)) + _decisions(view)
    usage = total_usage(view)
    totals = f"{fmt_tokens(usage.tokens)} tokens · {fmt_cost(usage.cost_usd)}"
    if run.state.terminal:
        totals += f" · took {fmt_duration((run.updated_at - run.created_at).total_seconds())}"
    lines += ["", totals]
    actions = [_COMMANDS[a] for a in next_actions(view) if a in _COMMANDS]
    if actions:
        lines += ["", "Reply with " + "; ".join(actions) + ". `@baton <instruction>` asks for another round."]
    return "\n".join(lines)


def _steps(view: RunView) -> list[str]:
    if not view.steps:
        return []
    rows = ["", "| | Step | Repo | Agent | Time | Cost | Detail |", "|---|---|---|---|---|---|---|"]
    for step in view.steps:
        rows.append(
            f"| {step_icon(step.state)} | {plain(step.name, 40)} | {step.repo or '-'} | {step.agent or '-'} "
            f"| {fmt_duration(step.duration_s)} | {fmt_cost(step.usage.cost_usd)} | {plain(step.detail, 100)} |"
        )
    return rows


def _changes(view: RunView, review_url: str) -> list[str]:
    if not view.changes:
        return []
    rows = ["", "**Pull requests**" + (f" · [Review changes]({link(review_url)})" if review_url else "")]
    for change in view.changes:
        state = change.state.value
        if change.state is ChangeState.merged:
            state = f"merged as `{short_sha(change.merge_sha)}`"
        name = f"{change.repo}#{change.number}"
        href = pr_href(change, review_url)
        where = f"[{name}]({link(href)})" if href else f"{name} `{link(change.url)}`"
        line = f"- {where} · head `{short_sha(change.head_sha)}` · checks {checks_icon(change.checks)} · {state}"
        if change.diffstat is not None:
            line += f" · {diffstat_text(change)}"
        if change.merge_error:
            line += f" · {plain(change.merge_error, 200)}"
        rows.append(line)
    return rows


def _decisions(view: RunView) -> list[str]:
    decisions = approval_lines(view)
    if not decisions:
        return []
    return ["", "**Decisions**", *(f"- {plain(line, 300)}" for line in decisions)]


def reminder_text(view: RunView, waited_hours: float, approvers: list[str]) -> str:
    """The comment that nudges approvers on the issue (a new comment, so Linear notifies)."""
    who = ", ".join(f"`{plain(p, 80)}`" for p in approvers) or "an approver"
    return (
        f"⏰ Reminder: Baton run `{view.run.run_id}` has waited {fmt_duration(waited_hours * 3600)} "
        f"for approval from {who}. Reply `/baton approve` to merge its PRs, or `/baton reject <reason>`."
    )
