"""The replies Baton posts in a run's Slack thread, grouped per phase (the plan; the PRs with the
call for approval; the ending; reminders), and which events must edit the card at once. Pure
functions over a RunView and an event; the card itself is card.py.
"""

from __future__ import annotations

from bot.domain.models import ChangeSet, ChangeState, RunState
from bot.domain.records import RunEvent, RunView
from bot.surfaces.render import fmt_duration, one_line, plan_lines
from bot.surfaces.slack.card import esc, pr_link

MILESTONE_KINDS = frozenset({"plan_ready", "pr_opened", "approval_requested"})
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
    shown = ", ".join(pr_link(c, review_url) for c in ordered[:PR_LINKS_SHOWN])
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
