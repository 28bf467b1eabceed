"""What a run looks like on GitHub, as Markdown: the issue's status comment and the linked-PRs
section of every PR body. Pure functions of the run's view and events; no I/O."""

from __future__ import annotations

from bot.domain.models import ChangeSet, ChangeState, ChecksState, RunState
from bot.domain.records import RunEvent, RunView
from bot.domain.untrusted import headline, inert
from bot.surfaces import campaign
from bot.surfaces.links import diffstat_text, pr_href
from bot.surfaces.render import fmt_duration, integration_red, one_line, plan_lines, short_sha, state_label

SIBLINGS_START = "<!-- baton:linked-prs -->"
SIBLINGS_END = "<!-- /baton:linked-prs -->"

_STATE_ICON = {
    RunState.queued: "⏳",
    RunState.planning: "🧭",
    RunState.working: "🛠️",
    RunState.awaiting_approval: "✋",
    RunState.merging: "🚂",
    RunState.merged: "✅",
    RunState.failed: "❌",
    RunState.cancelled: "🚫",
    RunState.rejected: "🚫",
    RunState.expired: "⌛",
}
_CHECKS = {
    ChecksState.unknown: "not reported yet",
    ChecksState.pending: "⏳ pending",
    ChecksState.passed: "✅ passed",
    ChecksState.failed: "❌ failed",
}
COMMANDS = "`/baton approve` · `/baton reject <reason>` · `/baton cancel` · `/baton retry` · `/baton status`"


PLAN_TEXT_CHARS = 6000
"""Of a discovered plan's evidence, what the status comment carries."""


def pr_ref(change: ChangeSet, full_names: dict[str, str], review_url: str = "") -> str:
    """`owner/name#N` (GitHub links it); for a repo not on GitHub a link to the PR's own page, or
    (local forge) to its part of the review page, else its URL."""
    full = full_names.get(change.repo)
    if full:
        return f"{full}#{change.number}"
    href = pr_href(change, review_url)
    return f"[{change.repo}#{change.number}]({href})" if href else change.url


def _pr_state(change: ChangeSet) -> str:
    if change.state is ChangeState.merged:
        return f"merged as {short_sha(change.merge_sha)}"
    if change.state is ChangeState.closed:
        return "closed"
    return _CHECKS[change.checks]


def _latest(events: list[RunEvent], *kinds: str) -> RunEvent | None:
    found = [e for e in events if e.kind in kinds]
    return found[-1] if found else None


def status_body(
    view: RunView, events: list[RunEvent], full_names: dict[str, str], approve_needs: str, review_url: str = ""
) -> str:
    """The issue's one status comment, rewritten in full on every change; with `review_url`, each
    PR's diffstat links to its part of the review page."""
    run = view.run
    actor = run.spec.trigger.actor
    who = f"@{actor.id}" if actor.source.value == "github" else (actor.display or actor.key)
    lines = [
        f"{_STATE_ICON[run.state]} **Baton** · run `{run.run_id}` · **{state_label(run.state)}**",
        "",
        f"Requested by {who}: {inert(one_line(headline(run.spec.trigger.request), 200))}",
    ]
    rollout = campaign.summary(view)
    repos = run.spec.repos if rollout is None else [*run.spec.repos[:5], f"… {len(run.spec.repos)} in all"]
    lines.append(f"Repos: {', '.join(repos) or '-'}")
    if rollout is not None:  # a burndown, not a row per repo: the comment stays small at 500 repos
        lines += ["", f"**Campaign** · {campaign.count_line(rollout)}"]
        lines += [f"- failing: {inert(line)}" for line in campaign.failing_lines(rollout)]
    elif view.changes:
        lines += ["", "| Repo | Pull request | Head | Checks | Changes |", "| --- | --- | --- | --- | --- |"]
        for change in sorted(view.changes, key=lambda c: c.order):
            ref = pr_ref(change, full_names, review_url)
            stat = diffstat_text(change) or "-"
            lines.append(f"| {change.repo} | {ref} | `{short_sha(change.head_sha)}` | {_pr_state(change)} | {stat} |")
        if review_url:
            lines += ["", f"[Review changes]({review_url}) (every PR of the run on one page)"]
    lines += _plan_lines(view, events)
    lines += _round_lines(events)
    lines += _warning_lines(view, events)
    red = integration_red(view)
    if red is not None and run.state in (RunState.awaiting_approval, RunState.failed):
        tail = inert(red[-1200:]).replace("`", "'")
        lines += ["", "❌ **Integration checks failed** on the change set; approval is blocked."]
        lines += ["", f"```\n{tail}\n```"]
    lines += _approval_lines(view, events, approve_needs)
    if run.error:
        lines += ["", f"**What went wrong:** {one_line(run.error, 600)}"]
    for outside in (e.data for e in events if e.kind == "merged_elsewhere"):
        by = f" by @{outside['by']}" if outside.get("by") else ""
        lines += ["", f"**Merged outside Baton:** {outside.get('repo')} as `{short_sha(str(outside.get('sha')))}`{by}."]
    abandoned = _latest(events, "abandoned")
    if abandoned is not None:
        lines += ["", f"**Abandoned:** {abandoned.data.get('reason', '')}"]
    if not run.state.terminal or run.state is RunState.failed:
        extra = " · `/baton skip <repo>` · `/baton close` (campaigns)" if rollout is not None else ""
        lines += ["", f"<sub>Commands (alone on a line): {COMMANDS}{extra}</sub>"]
    elif run.state is RunState.merged:
        lines += [
            "",
            "<sub>`/baton revert` opens revert PRs for the whole set (reverse merge order, after approval)</sub>",
        ]
    return "\n".join(lines)


def _plan_lines(view: RunView, events: list[RunEvent]) -> list[str]:
    """A discovered plan's evidence (repository text, so in a code block: no mention, no markup)
    until its PRs are open; with the drop command while it waits for approval."""
    plan = _latest(events, "plan_ready")
    if plan is None or not plan.data.get("evidence") or view.changes:
        return []
    found = "\n".join(plan_lines(plan.data)).replace("`", "'")[:PLAN_TEXT_CHARS]
    lines = ["", "```", found, "```"]
    if view.run.waiting_for == "plan":
        lines += ["", "To take a repo out of the plan before approving it: `/baton drop <repo>`."]
    return lines


def _round_lines(events: list[RunEvent]) -> list[str]:
    started = _latest(events, "round_started")
    if started is None:
        return []
    data = started.data
    finished = any(e.kind == "round_finished" and e.data.get("round") == data.get("round") for e in events)
    kinds = {"repair": "repair of failing checks", "rebase": "rebase onto the base branch"}
    kind = kinds.get(str(data.get("kind")), "follow-up")
    status = "done" if finished else "in progress"
    text = one_line(str(data.get("instruction", "")), 160)
    return ["", f"**Round {data.get('round')}** ({kind}, {status}): {text}"]


def _warning_lines(view: RunView, events: list[RunEvent]) -> list[str]:
    """What went wrong beside the checks (a draft GitHub would not mark ready), while the PR it is
    about is still open at the head it was raised for."""
    open_heads = {(c.repo, c.head_sha) for c in view.changes if c.state is ChangeState.open}
    found = [
        str(e.data.get("message", ""))
        for e in events
        if e.kind == "forge_warning" and (e.data.get("repo"), e.data.get("sha")) in open_heads
    ]
    return ["", *(f"⚠️ **Warning:** {inert(one_line(text, 600))}" for text in found)] if found else []


def _approval_lines(view: RunView, events: list[RunEvent], approve_needs: str) -> list[str]:
    lines: list[str] = []
    valid = [a for a in view.approvals if a.valid and a.decision.value == "approve"]
    for approval in valid:
        bound = ", ".join(f"{repo}@`{short_sha(sha)}`" for repo, sha in approval.head_shas.items())
        lines.append(f"Approved by @{approval.actor.id} for {bound}.")
    invalidated = _latest(events, "approval_invalidated")
    decided = _latest(events, "decision")
    if invalidated is not None and (decided is None or invalidated.seq > decided.seq):
        reason = invalidated.data.get("reason") or "a PR changed after the approval"
        lines.append(f"⚠️ **The approval no longer counts:** {reason}. Review the new commits and approve again.")
    not_enough = _latest(events, "approval_not_enough")
    if not_enough is not None and view.run.state is RunState.awaiting_approval and valid:
        lines.append(f"Waiting before merging: {not_enough.data.get('reason', '')}.")
    if view.run.state is RunState.awaiting_approval and not valid:
        lines.append(f"Waiting for `/baton approve` from someone with {approve_needs} access to every repo.")
    failed = _latest(events, "merge_failed")
    if failed is not None and view.run.state is RunState.failed:
        lines.append(f"**Merge train stopped:** {failed.data.get('report', '')}")
    return ["", *lines] if lines else []


def approver_logins(patterns: list[str]) -> list[str]:
    """The GitHub logins an approval policy names outright (`github:octocat`; wildcards name no one)."""
    logins = []
    for pattern in patterns:
        source, _, login = pattern.partition(":")
        if source == "github" and login and not any(c in login for c in "*?["):
            logins.append(login)
    return logins


def reminder_body(view: RunView, event: RunEvent, logins: list[str], approve_needs: str) -> str:
    """The comment that nudges approvers: it mentions them, so GitHub notifies them."""
    waited = fmt_duration(float(event.data.get("waited_hours") or 0) * 3600)
    who = " ".join(f"@{login}" for login in logins) or f"Anyone with {approve_needs} access to every repo"
    return (
        f"⏰ Reminder: Baton run `{view.run.run_id}` has waited {waited} for approval. "
        f"{who}: reply `/baton approve` to merge its PRs, or `/baton reject <reason>`."
    )


def siblings_section(
    view: RunView, this: ChangeSet, full_names: dict[str, str], issue: str | None, review_url: str = ""
) -> str:
    """The PR body's section naming the issue and every PR of the run (merge order)."""
    full = full_names.get(this.repo)
    lines = [SIBLINGS_START, "", f"**Baton run `{view.run.run_id}`**"]
    if issue:
        own_repo = issue.split("#", 1)[0] == full
        lines.append(f"{'Fixes' if own_repo else 'Part of'} {issue}")
    lines += ["", "Linked pull requests (merge order):"]
    for change in sorted(view.changes, key=lambda c: c.order):
        mark = " (this PR)" if change.repo == this.repo else ""
        lines.append(f"{change.order + 1}. {pr_ref(change, full_names, review_url)}{mark}")
    if review_url:
        lines += ["", f"[Review every PR of the run together]({review_url})"]
    lines += ["", SIBLINGS_END]
    return "\n".join(lines)


def with_siblings(body: str, section: str) -> str:
    """`body` with its linked-PRs section replaced (or appended the first time)."""
    start, end = body.find(SIBLINGS_START), body.find(SIBLINGS_END)
    if start != -1 and end > start:
        return body[:start] + section + body[end + len(SIBLINGS_END) :]
    return f"{body.rstrip()}\n\n{section}"
