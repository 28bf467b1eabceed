"""The Slack status card of a run, as Block Kit: pure functions from a RunView to blocks and text.

One card per run, edited in place: who asked, what was understood (repos, agent, pattern, budget),
a checklist of steps, each PR with its checks, approvals ("Approved by @x at hh:mm"), the merge
train's progress, the totals, and the buttons the run's state allows. Also the milestone replies
posted in the run's thread. Nothing here does I/O; every text stays inside Slack's limits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.config.models import ApprovalPolicy
from bot.config.slack import SlackConfig
from bot.domain.models import ChangeSet, ChangeState, Decision, RunEvent, RunState, RunView, Source, StepState
from bot.store.store import shas_digest
from bot.surfaces import campaign
from bot.surfaces.links import diffstat_text, pr_href, review_url_of
from bot.surfaces.render import (
    checks_icon,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    integration_red,
    next_actions,
    one_line,
    plan_lines,
    short_sha,
    state_label,
    step_icon,
    summary_line,
)

Block = dict[str, Any]
SECTION_LIMIT = 3000
ACTIONS_BLOCK = "baton_actions"
ACTION_IDS = {
    "cancel": "baton_cancel",
    "approve": "baton_approve",
    "reject": "baton_reject",
    "retry": "baton_retry",
    "revert": "baton_revert",
    "drop": "baton_drop",
    "close": "baton_close",
}
DROP_OPTIONS = 100
"""Slack's limit on a select's options: a plan of more repos lists its first 100 (`@baton drop <repo>` takes any)."""
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
MILESTONE_KINDS = frozenset({"plan_ready", "pr_opened", "approval_requested"})


class ButtonValue(BaseModel):
    """What a button carries: the run, and for decisions the digest of the heads people saw."""

    run: str
    heads: str | None = None
    repo: str | None = None
    """The repo a "drop from the plan" option names."""


def button_value(run_id: str, heads: dict[str, str] | None = None) -> str:
    value = ButtonValue(run=run_id, heads=shas_digest(heads) if heads is not None else None)
    return value.model_dump_json(exclude_none=True)


def parse_button_value(raw: str) -> ButtonValue | None:
    try:
        return ButtonValue.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None


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


def _pr_link(change: ChangeSet, review_url: str = "") -> str:
    """The PR linked to its forge's page, or (local forge) to its part of the review page."""
    label = f"{esc(change.repo)} #{change.number}"
    href = pr_href(change, review_url)
    return f"<{href}|{label}>" if href else label


def _button(action: str, text: str, value: str, style: str | None = None, confirm: Block | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": ACTION_IDS[action],
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _confirm(title: str, text: str, yes: str, no: str) -> Block:
    return {
        "title": {"type": "plain_text", "text": title[:100]},
        "text": {"type": "plain_text", "text": _fit(text, 300)},
        "confirm": {"type": "plain_text", "text": yes[:30]},
        "deny": {"type": "plain_text", "text": no[:30]},
    }


def buttons(view: RunView) -> list[Block]:
    run_id = view.run.run_id
    heads = {c.repo: c.head_sha for c in view.changes}
    open_prs = ", ".join(f"{c.repo} #{c.number} at {short_sha(c.head_sha)}" for c in view.changes)
    made: list[Block] = []
    for action in next_actions(view):
        if action == "cancel":
            confirm = _confirm("Cancel this run?", "The agents stop and nothing is merged.", "Cancel run", "Keep going")
            made.append(_button("cancel", "Cancel", button_value(run_id), "danger", confirm))
        elif action == "approve":
            confirm = _confirm("Approve & merge?", f"Merge {open_prs or 'the PRs'}.", "Approve & merge", "Not yet")
            made.append(_button("approve", "Approve & merge", button_value(run_id, heads), "primary", confirm))
        elif action == "reject":
            made.append(_button("reject", "Reject", button_value(run_id, heads), "danger"))
        elif action == "retry":
            label = "Retry failed" if view.campaign else "Retry"
            made.append(_button("retry", label, button_value(run_id)))
        elif action == "close":
            confirm = _confirm("Close this campaign?", "Nothing more starts or merges.", "Close", "Keep going")
            made.append(_button("close", "Close campaign", button_value(run_id), "danger", confirm))
        elif action == "revert":
            confirm = _confirm(
                "Revert the whole set?",
                "Baton opens a revert PR per merged PR, in reverse merge order; they merge after an approval.",
                "Open revert PRs",
                "Keep",
            )
            made.append(_button("revert", "Revert", button_value(run_id), None, confirm))
    run = view.run
    if run.state is RunState.awaiting_approval and run.waiting_for == "plan" and len(run.spec.repos) > 1:
        made.append(_drop_select(run_id, run.spec.repos))
    return made


def _drop_select(run_id: str, repos: list[str]) -> Block:
    """A select that takes one repo out of the plan awaiting approval (one block, however many repos)."""
    values = [(r, ButtonValue(run=run_id, repo=r).model_dump_json(exclude_none=True)) for r in repos]
    options = [
        {"text": {"type": "plain_text", "text": one_line(repo, 75)}, "value": value}
        for repo, value in values
        if len(value) <= 150  # Slack's limit on an option's value
    ]
    return {
        "type": "static_select",
        "action_id": ACTION_IDS["drop"],
        "placeholder": {"type": "plain_text", "text": "Drop a repo from the plan"},
        "options": options[:DROP_OPTIONS],
    }


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
            f"{_pr_link(c, review)} · {c.state.value} · checks {checks_icon(c.checks)} {c.checks.value}"
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


PLAN_TEXT_CHARS = 2500
"""Of a discovered plan's evidence, what its thread reply carries (a Slack message's text stays short)."""
PR_LINKS_SHOWN = 20
"""How many PRs a grouped thread reply names before "and N more" (the card lists them all)."""


def milestone_text(view: RunView, event: RunEvent, approvers: str, review_url: str = "") -> str | None:
    """The thread reply an event deserves, or None (most events only edit the card).

    Replies are grouped per phase of the run, so the thread reads the same at 7 repos and at 500:
    the plan; the PRs once they are all open, with the call for approval; the ending. A PR opening
    only edits the card."""
    data = event.data
    if event.kind == "plan_ready":
        order = " → ".join(esc(str(r)) for r in data.get("order", [])[:PR_LINKS_SHOWN])
        more = len(data.get("order", [])) - PR_LINKS_SHOWN
        order += f" → … {more} more" if more > 0 else ""
        summary = esc(one_line(str(data.get("summary") or ""), 1000))
        text = f"Plan ready{f' ({order})' if order else ''}: {summary}" if summary else f"Plan ready: {order}"
        if data.get("evidence"):  # discovered: why each repo is in it (repository text: escaped, in a code block)
            found = "\n".join(plan_lines(data)[1:])[:PLAN_TEXT_CHARS].replace("`", "'")
            text += f"\n```{esc(found)}```"
        if view.run.waiting_for == "plan":
            text += "\nTo take a repo out before approving, reply `@baton drop <repo>`."
        return text
    if event.kind == "approval_requested":
        opened = [c for c in view.changes if c.state is not ChangeState.closed]
        if view.campaign and data.get("wave"):  # a campaign asks wave by wave: name this wave's PRs
            wave = {str(r) for r in data["wave"]}
            opened = [c for c in opened if c.repo in wave and c.state is ChangeState.open]
        what = "updated" if int(data.get("round") or 0) else "opened"
        ask = f"Approval needed from {approvers}. Use *Approve & merge* on the card."
        if review_url:
            ask += f"\n<{review_url}|Review changes>: every PR's diff on one page."
        return f"{_pr_list(opened, what, review_url)}\n{ask}" if opened else ask
    if event.kind == "state" and data.get("to") == RunState.merged.value:
        merged = [c for c in view.changes if c.state is ChangeState.merged]
        return f":white_check_mark: Merged {_links(merged) if merged else 'all PRs'}."
    if event.kind == "state" and data.get("to") == RunState.failed.value:
        error = esc(one_line(str(data.get("error") or "see the card"), 2000))
        open_prs = [c for c in view.changes if c.state is ChangeState.open]
        return f":x: Failed: {error}" + (f"\n{_pr_list(open_prs, 'left open')}" if open_prs else "")
    if event.kind == "state" and data.get("to") == RunState.expired.value:
        return f":alarm_clock: Expired: {esc(one_line(str(data.get('error') or 'see the card'), 2000))}"
    if event.kind == "approval_reminder":
        waited = fmt_duration(float(data.get("waited_hours") or 0) * 3600)
        return (
            f":bell: Reminder: this run has waited {waited} for approval from {approvers}. "
            "Use *Approve & merge* or *Reject* on the card."
        )
    return None


def _pr_list(changes: list[ChangeSet], what: str, review_url: str = "") -> str:
    """ "3 PRs opened: api #1, web #2, app #3" (in merge order, the first few linked)."""
    noun = "PR" if len(changes) == 1 else "PRs"
    return f"{len(changes)} {noun} {what}: {_links(changes, review_url)}"


def _links(changes: list[ChangeSet], review_url: str = "") -> str:
    ordered = sorted(changes, key=lambda c: c.order)
    shown = ", ".join(_pr_link(c, review_url) for c in ordered[:PR_LINKS_SHOWN])
    more = len(ordered) - PR_LINKS_SHOWN
    return shown + (f" and {more} more (see the card)" if more > 0 else "")


def is_urgent(event: RunEvent) -> bool:
    """Whether the card must be edited at once, not at the next second: a milestone, the wait for
    approval (the buttons people must see), a decision (the clicker sees it taken), an ending."""
    if event.kind in MILESTONE_KINDS or event.kind == "decision":
        return True
    if event.kind == "state":
        to = str(event.data.get("to", ""))
        return to == RunState.awaiting_approval.value or (to in RunState.__members__ and RunState(to).terminal)
    return False
