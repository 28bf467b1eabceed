"""The Slack status card of a run, as Block Kit: pure functions from a RunView to blocks and text.

One card per run, edited in place: who asked, what was understood (repos, agent, pattern, budget),
a checklist of steps, each PR with its checks, approvals ("Approved by @x at hh:mm"), the merge
train's progress, the totals, and the buttons the run's state allows (card_actions.py). The
replies in the run's thread are thread.py. Nothing here does I/O; every text stays inside Slack's
limits.
"""

from __future__ import annotations

from datetime import datetime

from bot.config.models import ApprovalPolicy
from bot.config.slack import SlackConfig
from bot.domain.models import ChangeSet, ChangeState, Decision, RunState, Source
from bot.domain.records import RunView, StepState
from bot.surfaces import campaign
from bot.surfaces.links import diffstat_text, pr_href, review_url_of
from bot.surfaces.render import (
    checks_icon,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    integration_red,
    one_line,
    short_sha,
    state_label,
    step_icon,
    summary_line,
)
from bot.surfaces.slack.card_actions import ACTIONS_BLOCK, Block, buttons

SECTION_LIMIT = 3000
_STATE_EMOJI = {
    RunState.queued: ":hourglass:",
    RunState.planning: ":thinking_face:",
    RunState.working: ":hammer_and_wrench:",
    RunState.awaiting_approval: ":eyes:",
    RunState.merging: ":arrows_counterclockwise:",
    RunState.merged: ":white_check_mark:",
    RunState.failed: ":x:",
    RunState.cancelled: ":no_entry_sign:",
    RunState.rejected: ":no_entry:",
    RunState.expired: ":alarm_clock:",
}


def esc(text: str) -> str:
    """Text people wrote, made inert in mrkdwn (Slack's three control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def who(actor_key: str, display: str = "") -> str:
    """A Slack user as a mention; anyone else by name."""
    source, _, ident = actor_key.partition(":")
    if source == Source.slack.value and ident:
        return f"<@{ident}>"
    return esc(display or actor_key)


def approvers_mrkdwn(policy: ApprovalPolicy, slack: SlackConfig) -> str:
    """Who may approve, in words that notify them: user mentions, user groups, other patterns."""
    named: list[str] = []
    for pattern in policy.approvers:
        source, _, ident = pattern.partition(":")
        if source == Source.slack.value and ident and not any(c in ident for c in "*?["):
            named.append(f"<@{ident}>")
        else:
            named.append(f"`{esc(pattern)}`")
    named += [f"<!subteam^{group}>" for group in slack.approver_usergroups]
    if not policy.approvers:
        # The secure default (bot/engine/approvals.py): no one is listed, so GitHub permission decides.
        default = "people mapped in `people:` to a GitHub login allowed to approve on every repo of the run"
        return ", ".join([default, *named]) + (" (not the requester)" if policy.forbid_self_approval else "")
    return ", ".join(named)


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text)}}


def _fit(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit_lines(title: str, lines: list[str], limit: int = SECTION_LIMIT) -> str:
    """A titled list inside `limit`, dropping the oldest lines first and saying how many."""
    kept = list(lines)
    dropped = 0
    while kept and len(title) + sum(len(x) + 1 for x in kept) + 30 > limit:
        kept.pop(0)
        dropped += 1
    head = [f"_… {dropped} earlier_"] if dropped else []
    return _fit("\n".join([title, *head, *kept]), limit)


def pr_link(change: ChangeSet, review_url: str = "") -> str:
    """The PR linked to its forge's page, or (local forge) to its part of the review page."""
    label = f"{esc(change.repo)} #{change.number}"
    href = pr_href(change, review_url)
    return f"<{href}|{label}>" if href else label


def _when(at: datetime) -> str:
    """hh:mm in each reader's own time zone (Slack's date token), UTC where it cannot be shown."""
    return f"<!date^{int(at.timestamp())}^{{time}}|{at:%H:%M} UTC>"


def _approvals(view: RunView) -> list[str]:
    lines = []
    for approval in view.approvals:
        verb = {Decision.approve: "Approved", Decision.reject: "Rejected"}.get(approval.decision)
        if verb is None:
            continue
        line = f"{verb} by {who(approval.actor.key, approval.actor.display)} at {_when(approval.at)}"
        lines.append(line if approval.valid else f"~{line}~ (a PR changed since)")
    return lines


def _train(view: RunView) -> str | None:
    if view.run.state not in (RunState.merging, RunState.merged, RunState.failed) or not view.changes:
        return None
    merged = [c for c in view.changes if c.state is ChangeState.merged]
    if view.run.state is RunState.failed and not merged and not any(c.merge_error for c in view.changes):
        return None
    marks = []
    for change in view.changes:
        mark = (
            "✓ merged"
            if change.state is ChangeState.merged
            else ("✗ " + one_line(change.merge_error, 80) if change.merge_error else "waiting")
        )
        marks.append(f"{esc(change.repo)} {esc(mark)}")
    return f"*Merge train:* {len(merged)}/{len(view.changes)} merged — " + ", ".join(marks)


def card_text(view: RunView) -> str:
    """The notification and screen-reader text of the card."""
    return f"Baton run {view.run.run_id}: {summary_line(view)}"


def card_blocks(view: RunView, approvers: str, now: datetime | None = None, page_url: str = "") -> list[Block]:
    """The card; `now` is when its elapsed time is measured to (the run's start gives a card that
    changes only when the run does, which is how the surface tells a needed edit from a clock tick)."""
    run, spec = view.run, view.run.spec
    actor = spec.trigger.actor
    title = f"{_STATE_EMOJI[run.state]} {state_label(run.state).capitalize()}"
    if run.waiting_for == "budget":
        title += " (paused: budget spent)"
    budget = fmt_cost(spec.budget.max_usd) if spec.budget.max_usd is not None else "none"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _fit(f"*Request:* {esc(one_line(spec.trigger.request, 1000))}")},
            "fields": [
                {"type": "mrkdwn", "text": f"*Requester*\n{who(actor.key, actor.display)}"},
                {"type": "mrkdwn", "text": f"*Repos*\n{esc(', '.join(spec.repos) or 'none')}"[:2000]},
                {"type": "mrkdwn", "text": f"*Agent*\n{esc(spec.agent or 'routed')}"},
                {"type": "mrkdwn", "text": f"*Pattern*\n{esc(spec.playbook)}"},
                {"type": "mrkdwn", "text": f"*Budget*\n{budget}"},
            ],
        },
    ]
    rollout = campaign.summary(view)
    if rollout is not None:  # a fixed number of blocks, whatever the number of repos
        table = f" · <{page_url}/repos|every repo>" if page_url else ""
        blocks.append(_section(f"*Campaign*{table}\n{esc(campaign.count_line(rollout))}"))
        failing = [esc(line) for line in campaign.failing_lines(rollout)]
        if failing:
            blocks.append(_section(_fit_lines("*Failing*", failing)))
    if view.steps and rollout is None:
        lines = [
            f"{step_icon(s.state)} {esc(s.repo or 'run')} · {esc(one_line(s.name, 60))}"
            + (f" · {esc(s.agent)}" if s.agent else "")
            + (
                f" · {fmt_duration(s.duration_s)}"
                if s.state is not StepState.running
                else f" · running since {_when(s.started_at)}"
            )
            + (f" · {fmt_tokens(s.usage.tokens)} tokens · {fmt_cost(s.usage.cost_usd)}" if s.usage.tokens else "")
            for s in view.steps
        ]
        blocks.append(_section(_fit_lines("*Steps*", lines)))
    if view.changes and rollout is None:
        review = review_url_of(page_url)
        lines = [
            f"{pr_link(c, review)} · {c.state.value} · checks {checks_icon(c.checks)} {c.checks.value}"
            f" · `{short_sha(c.head_sha)}`" + (f" · {diffstat_text(c)}" if c.diffstat else "")
            for c in view.changes
        ]
        title = "*Pull requests*" + (f" · <{review}|Review changes>" if review else "")
        blocks.append(_section(_fit_lines(title, lines)))
    decided = _approvals(view)
    if decided:
        blocks.append(_section(_fit_lines("*Approvals*", decided)))
    train = _train(view)
    if train:
        blocks.append(_section(train))
    red = integration_red(view)
    if red is not None and run.state in (RunState.awaiting_approval, RunState.failed):
        tail = esc(red[-1200:]).replace("`", "'")
        said = f"*Integration checks failed* on the change set; approval is blocked.\n```{tail}```"
        blocks.append(_section(_fit(said)))
    elif run.state is RunState.awaiting_approval:
        blocks.append(_section(f"*Waiting for approval* from {approvers}."))
    if run.error and run.state in (RunState.failed, RunState.rejected, RunState.expired, RunState.cancelled):
        blocks.append(_section(f"*{state_label(run.state).capitalize()}:* {esc(one_line(run.error, 1500))}"))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _fit(f"{_run_ref(run.run_id, page_url)} · {esc(summary_line(view, now))}", 2000),
                }
            ],
        }
    )
    actions = buttons(view)
    if actions:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": actions})
    return blocks


def _run_ref(run_id: str, page_url: str) -> str:
    """The run id, linked to the run's page when Baton knows its own address."""
    return f"<{page_url}|{run_id}>" if page_url else f"`{run_id}`"
