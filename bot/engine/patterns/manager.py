"""Manager: a plan of sub-tasks per repo with dependencies (providers before consumers).

A planner agent may write the plan (a line `BATON_PLAN {json}` or a fenced ```json block in its
output); without a planner, the plan is one sub-task per requested repo, ordered by the
`depends_on` of each repo in config. The engine then delegates wave by wave and assembles.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, Field, ValidationError

from bot.config.models import BatonFile
from bot.domain.discovery import Evidence


class PlanError(Exception):
    """A plan that cannot be executed; the message says why."""


class SubTask(BaseModel):
    repo: str
    task: str
    depends_on: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    subtasks: list[SubTask]
    summary: str = ""
    discovered: str | None = None
    """The pattern the repos were found by (`--discover`), when they were."""
    evidence: dict[str, Evidence] = Field(default_factory=dict)
    """Per repo of a discovered plan: the matches that put it there, or the consumers it provides for."""

    @property
    def order(self) -> list[str]:
        """Repos in merge order: every provider before its consumers."""
        return [t.repo for wave in waves(self) for t in wave]


def default_plan(request: str, repos: list[str], config: BatonFile) -> Plan:
    chosen = set(repos)
    subtasks = [
        SubTask(
            repo=name,
            task=request,
            depends_on=[d for d in config.repo(name).depends_on if d in chosen],
        )
        for name in repos
    ]
    return Plan(subtasks=subtasks, summary=f"{len(subtasks)} repo(s): " + ", ".join(repos))


_PLAN_LINE = re.compile(r"^BATON_PLAN\s+(\{.*\})\s*$", re.MULTILINE)
_FENCED = re.compile(r"```json\s*(\{.*?\})\s*```", re.DOTALL)


def parse_plan(output: str, request: str, repos: list[str]) -> Plan:
    """The planner's plan, checked against the repos the run may touch."""
    found = _PLAN_LINE.findall(output) or _FENCED.findall(output)
    if not found:
        raise PlanError("the planner returned no plan (expected a BATON_PLAN {...} line)")
    try:
        raw = json.loads(found[-1])
        for item in raw.get("subtasks", []):
            item.setdefault("task", request)
        plan = Plan.model_validate(raw)
    except (json.JSONDecodeError, ValidationError, AttributeError) as err:
        raise PlanError(f"the planner's plan is not valid: {str(err)[:300]}") from None
    unknown = sorted({t.repo for t in plan.subtasks} - set(repos))
    if unknown:
        raise PlanError(f"the plan names repos outside this run: {', '.join(unknown)}; allowed: {', '.join(repos)}")
    if not plan.subtasks:
        raise PlanError("the plan has no sub-tasks")
    waves(plan)
    return plan


def waves(plan: Plan) -> list[list[SubTask]]:
    """Sub-tasks grouped so each wave depends only on earlier ones; a cycle is a PlanError."""
    in_plan = {t.repo for t in plan.subtasks}
    remaining = {t.repo: t for t in plan.subtasks}
    done: set[str] = set()
    result: list[list[SubTask]] = []
    while remaining:
        ready = [t for t in remaining.values() if all(d in done for d in t.depends_on if d in in_plan)]
        if not ready:
            raise PlanError("the plan's dependencies form a cycle: " + ", ".join(sorted(remaining)))
        result.append(ready)
        for t in ready:
            done.add(t.repo)
            del remaining[t.repo]
    return result
