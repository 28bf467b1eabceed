"""The machine-readable shape of a run for `baton runs list --json` / `runs show --json`
(design §2): keep these keys stable, scripts rely on them."""

from __future__ import annotations

from typing import Any

from bot.domain.records import RunEvent, RunView


def run_json(view: RunView, events: list[RunEvent] | None = None) -> dict[str, Any]:
    run = view.run
    data: dict[str, Any] = {
        "run_id": run.run_id,
        "state": run.state.value,
        "source": run.spec.trigger.source.value,
        "requester": run.spec.trigger.actor.key,
        "request": run.spec.trigger.request,
        "repos": run.spec.repos,
        "playbook": run.spec.playbook,
        "attempt": run.attempt,
        "error": run.error,
        "waiting_for": run.waiting_for,
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "tokens": run.usage.tokens,
        "cost_usd": run.usage.cost_usd,
        "steps": [
            {
                "key": s.key,
                "name": s.name,
                "repo": s.repo,
                "agent": s.agent,
                "state": s.state.value,
                "duration_s": s.duration_s,
                "tokens": s.usage.tokens,
                "cost_usd": s.usage.cost_usd,
                "detail": s.detail,
            }
            for s in view.steps
        ],
        "prs": [
            {
                "repo": c.repo,
                "number": c.number,
                "url": c.url,
                "branch": c.branch,
                "head_sha": c.head_sha,
                "state": c.state.value,
                "checks": c.checks.value,
                "order": c.order,
                "merge_sha": c.merge_sha,
                "merge_error": c.merge_error,
            }
            for c in view.changes
        ],
        "approvals": [
            {
                "actor": a.actor.key,
                "decision": a.decision.value,
                "head_shas": a.head_shas,
                "valid": a.valid,
                "at": a.at.isoformat(),
                "reason": a.reason,
            }
            for a in view.approvals
        ],
        "merge_results": [
            {"repo": c.repo, "merged": c.state.value == "merged", "error": c.merge_error} for c in view.changes
        ],
    }
    if events is not None:
        data["events"] = [{"seq": e.seq, "kind": e.kind, "at": e.at.isoformat(), "data": e.data} for e in events]
    return data
