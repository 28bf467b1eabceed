"""What a run's events say in a Linear agent session, as agent activities (pure functions).

Linear's agent sessions show a run as a stream of semantic activities: `thought` for what Baton
noticed or decided, `action` for work done (an agent step, a PR opened, a merge), `elicitation`
when it needs a person (the approval), and one closing `response` (merged, stopped) or `error`
(failed, rejected, expired). The session's state in Linear follows the last activity.
"""

from __future__ import annotations

from typing import Any

from bot.domain.models import RunState
from bot.domain.records import RunEvent, RunView
from bot.surfaces.links import diffstat_text, pr_href
from bot.surfaces.render import one_line, plan_lines, state_label

Content = dict[str, Any]

_ENDINGS: dict[str, str] = {
    RunState.merged.value: "response",
    RunState.cancelled.value: "response",
    RunState.failed.value: "error",
    RunState.rejected.value: "error",
    RunState.expired.value: "error",
}


def acknowledgement(run_id: str, repos: list[str]) -> Content:
    """The first thought, posted from the webhook path before the run can start."""
    where = ", ".join(repos) or "no repos yet"
    return {"type": "thought", "body": f"On it: run `{run_id}` is queued for {where}."}


def activity_for(view: RunView, event: RunEvent, review_url: str = "") -> Content | None:
    """The activity one event deserves in the session, or None (most events are only card edits);
    `review_url` is the run's review page, which the call for approval links to."""
    data = event.data
    kind = event.kind
    if kind == "plan_ready" and data.get("evidence"):  # discovered: why each repo is in the plan
        found = "\n".join(plan_lines(data)).replace("`", "'")[:3000]
        waiting = view.run.waiting_for == "plan"
        drop = "\n\nTo take a repo out before approving: `/baton drop <repo>`." if waiting else ""
        return {"type": "thought", "body": f"```\n{found}\n```{drop}"}
    if kind == "plan_ready" and data.get("summary"):
        return {"type": "thought", "body": f"Plan: {one_line(str(data['summary']), 400)}"}
    if kind == "step_started":
        where = data.get("repo") or "the request"
        return {"type": "action", "action": f"Running {data.get('agent') or 'an agent'}", "parameter": str(where)}
    if kind == "step_finished":
        step = next((s for s in view.steps if s.key == data.get("step")), None)
        where = (step.repo if step else None) or "the request"
        summary = one_line(str(data.get("summary") or ""), 300)
        content: Content = {"type": "action", "action": f"Agent step {data.get('state', 'finished')}"}
        content["parameter"] = str(where)
        if summary:
            content["result"] = summary
        return content
    if kind == "pr_opened":
        return {"type": "action", "action": "Opened pull request", "parameter": str(data.get("url") or "")}
    if kind == "merged":
        return {"type": "action", "action": "Merged", "parameter": f"{data.get('repo')}#{data.get('number')}"}
    if kind == "round_started":
        instruction = one_line(str(data.get("instruction") or ""), 300)
        return {"type": "thought", "body": f"Round {data.get('round')}: {instruction or data.get('kind')}"}
    if kind == "decision":
        return {"type": "thought", "body": f"{data.get('decision')} recorded from {data.get('actor')}"}
    if kind == "approval_requested":
        return {"type": "elicitation", "body": _approval_request(view, review_url)}
    if kind == "state" and data.get("to") in _ENDINGS:
        return {"type": _ENDINGS[str(data["to"])], "body": _ending(view, str(data["to"]), data.get("error"))}
    return None


def _approval_request(view: RunView, review_url: str) -> str:
    prs = "\n".join(
        f"- {c.repo}#{c.number}: {pr_href(c, review_url) or c.url} (checks {c.checks.value})"
        + (f" · {diffstat_text(c)}" if c.diffstat else "")
        for c in view.changes
    )
    review = f"Review every diff on one page: {review_url}\n\n" if review_url else ""
    return (
        f"The pull requests are ready for review:\n{prs}\n\n{review}"
        "Reply `/baton approve` to merge them all, or `/baton reject <reason>`. "
        "Any other reply is taken as a follow-up instruction."
    )


def _ending(view: RunView, state: str, error: object) -> str:
    if state == RunState.merged.value:
        merged = ", ".join(f"{c.repo}#{c.number}" for c in view.changes) or "nothing to merge"
        return f"Merged: {merged}."
    label = state_label(RunState(state))
    return f"Run `{view.run.run_id}` {label}" + (f": {one_line(str(error), 400)}" if error else ".")
