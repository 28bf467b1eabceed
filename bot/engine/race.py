"""Concurrent best-of-N candidates: the same sub-task given to several agents at once, each in its
own git worktree of the repo's workspace, each followed by the repo's checks in that worktree.

The whole race is one durable step (`race_step`): it either finished and its candidates are
recorded, or it runs again from the same head. Each candidate is an ordinary agent step (a Step
row with its agent, state, usage and cost, so the card shows every candidate) plus a checks step;
its commit is kept under `refs/baton/candidates/...` so the judge's pick stays reachable after the
worktree is removed. Choosing the winner is the pattern's business (patterns/best_of.py).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dbos import DBOS

from bot.domain.models import AgentTask
from bot.engine import activities, changes
from bot.engine.deps import EngineDeps
from bot.engine.patterns.base import Candidate


@DBOS.step()
def race_step(
    deps: EngineDeps, tasks: list[AgentTask], agents: list[str], names: list[str], branch: str, head: str, checks: bool
) -> list[Candidate]:
    return run_candidates(deps, tasks, agents, names, branch, head, checks)


def run_candidates(
    deps: EngineDeps, tasks: list[AgentTask], agents: list[str], names: list[str], branch: str, head: str, checks: bool
) -> list[Candidate]:
    """Run every (task, agent) pair at once from `head`, each in a fresh worktree; results in order."""
    first = tasks[0]
    main = deps.workspace.locate(first.run_id, first.repo, branch)
    root = deps.settings.home.resolve() / "worktrees" / _safe(first.run_id) / _safe(first.repo)
    trees = [deps.workspace.add_worktree(main, root / f"candidate-{i + 1}", head) for i in range(len(tasks))]
    try:
        with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="best-of") as pool:
            # Each candidate in a copy of this context: its log lines carry the run's `run_id` too.
            futures = [
                pool.submit(
                    contextvars.copy_context().run, _candidate, deps, task, agent, name, branch, head, tree, checks
                )
                for task, agent, name, tree in zip(tasks, agents, names, trees, strict=True)
            ]
            results = [future.result() for future in futures]
    finally:
        for tree in trees:
            deps.workspace.remove_worktree(main, tree)
    for i, result in enumerate(results):
        if result.head != head:
            ref = f"candidates/{_safe(first.run_id)}/{_safe(first.repo)}/{_safe(result.step_key)}-{i}"
            deps.workspace.keep(main, ref, result.head)
    return results


def _candidate(
    deps: EngineDeps, task: AgentTask, agent: str, name: str, branch: str, head: str, tree: Path, checks: bool
) -> Candidate:
    outcome = activities.invoke_agent(deps, task, agent, branch, head, name, path=tree)
    result = outcome.result
    candidate = Candidate(
        agent=agent,
        step_key=task.step_key,
        status=result.status,
        summary=result.summary or outcome.run_budget_exceeded or "",
        head=result.commit_sha if result.ok and result.commit_sha else head,
        diff_lines=result.diff_stats.lines,
        cost_usd=result.usage.cost_usd,
    )
    if checks and candidate.ok and candidate.head != head:
        key = f"{task.step_key}-checks"
        outcome_checks = changes.workspace_checks(deps, task.run_id, task.repo, branch, candidate.head, key, path=tree)
        candidate.checks_passed = outcome_checks.passed
    return candidate


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "_"
