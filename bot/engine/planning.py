"""Turning a RunSpec into a Plan: find the repos when the run discovers them (discovery.py),
validate what the request names, then plan (a planner agent for the manager pattern, or one
sub-task per repo ordered by config dependencies).
"""

from __future__ import annotations

import json

from bot.config.playbooks import ROUTED_AGENT, agents_in
from bot.domain.discovery import Evidence
from bot.domain.models import AgentTask, RunSpec
from bot.domain.ports import UnknownAgent
from bot.engine import activities
from bot.engine.deps import EngineDeps
from bot.engine.discovery import discover, pattern_for
from bot.engine.patterns.manager import Plan, PlanError, default_plan, parse_plan, waves


def validation_error(deps: EngineDeps, spec: RunSpec) -> str | None:
    """Why this request cannot run (unknown repo, agent or playbook), naming the known ones."""
    config = deps.config
    known_repos = [r.name for r in config.repos]
    if not known_repos:
        return "no repos are configured: add some under `repos:` in baton.yml (see `baton doctor`)"
    unknown = [r for r in spec.repos if r not in known_repos]
    if unknown:
        return f"unknown repo {', '.join(unknown)}; known repos: {', '.join(known_repos)}"
    if not spec.repos:
        return f"no repo given; known repos: {', '.join(known_repos)}"
    try:
        book = config.playbook(spec.playbook)
    except KeyError:
        known = sorted({"default", *config.playbooks})
        return f"unknown playbook {spec.playbook}; known playbooks: {', '.join(known)}"
    try:
        if spec.agent is not None:
            deps.agents.get(spec.agent)
        if ROUTED_AGENT in agents_in(book.per_repo):
            for repo in spec.repos:
                trigger = spec.trigger
                deps.agents.route(repo, trigger.labels, trigger.reply_to.channel, spec.agent)
    except UnknownAgent as err:
        return str(err)
    return None


def make_plan(deps: EngineDeps, spec: RunSpec, attempt: int) -> Plan | str:
    """The run's plan, or the message that explains why there is none."""
    pattern = pattern_for(deps.config, spec) if deps.config.repos else None
    evidence: dict[str, Evidence] = {}
    if pattern:
        found = discover(deps, spec, pattern)
        if isinstance(found, str):
            return found
        spec = spec.model_copy(update={"repos": found.repos})
        evidence = found.evidence
    plan = _plan(deps, spec, attempt, evidence)
    if isinstance(plan, Plan) and pattern:
        kept = set(plan.order)  # a planner may have narrowed the list
        plan.discovered = pattern
        plan.evidence = {r: e for r, e in evidence.items() if r in kept}
        deps.store.update_repos(spec.run_id, plan.order)
    return plan


def _plan(deps: EngineDeps, spec: RunSpec, attempt: int, evidence: dict[str, Evidence]) -> Plan | str:
    problem = validation_error(deps, spec)
    if problem:
        return problem
    book = deps.config.playbook(spec.playbook)
    try:
        if not book.planner:
            plan = default_plan(spec.trigger.request, spec.repos, deps.config)
            waves(plan)
            return plan
        repos = {r: deps.config.repo(r).depends_on for r in spec.repos}
        context: dict[str, object] = {"repos": repos}
        if evidence:  # what the search found: the planner may narrow the list, never widen it
            context["hits"] = {r: [h.model_dump() for h in e.hits] for r, e in evidence.items()}
        task = AgentTask(
            run_id=spec.run_id,
            repo="",
            step_key=f"plan-a{attempt}",
            prompt=spec.trigger.request,
            plan=json.dumps(context),
            role="planner",
        )
        result = activities.invoke_planner(deps, task, book.planner)
        if not result.ok:
            return f"the planner {book.planner} failed: {result.summary or result.output_tail[-300:]}"
        return parse_plan(result.output_tail, spec.trigger.request, spec.repos)
    except PlanError as err:
        return str(err)
