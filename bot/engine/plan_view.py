"""A plan as people see it (the `plan_ready` event every surface renders: order, waves, and for a
discovered plan the evidence per repo) and a plan with one repo taken out (`drop`)."""

from __future__ import annotations

from typing import Any

from bot.engine.patterns.manager import Plan, waves

HIT_TEXT = 120
"""Characters of a matching line an event keeps (a 500-repo plan stays a few hundred kB)."""


def plan_event(plan: Plan) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order": plan.order,
        "summary": plan.summary,
        "waves": [[t.repo for t in wave] for wave in waves(plan)],
    }
    if plan.discovered is not None:
        data["discovered"] = plan.discovered
        data["evidence"] = {
            repo: {
                "hits": [{"path": h.path, "line": h.line, "text": h.text[:HIT_TEXT]} for h in e.hits],
                "files": e.files,
                "truncated": e.truncated,
                "provider_of": e.provider_of,
                "explicit": e.explicit,
            }
            for repo, e in plan.evidence.items()
        }
    return data


def without_repo(plan: Plan, repo: str) -> Plan:
    """`plan` minus `repo`: its consumers keep their other providers; the summary says what is left."""
    subtasks = [
        t.model_copy(update={"depends_on": [d for d in t.depends_on if d != repo]})
        for t in plan.subtasks
        if t.repo != repo
    ]
    names = [t.repo for t in subtasks]
    evidence = {r: e for r, e in plan.evidence.items() if r != repo}
    summary = f"{len(names)} repo(s): " + ", ".join(names)
    return plan.model_copy(update={"subtasks": subtasks, "evidence": evidence, "summary": summary})
