"""The run's flow, as plain functions over `RunSteps`: plan → (plan approval) → repos wave by wave →
linked PRs → approval loop → merge train.

`runs.RunEngine` runs these inside DBOS workflows; the fast test tier runs them over an in-memory
`RunSteps`. Every effect goes through a step, so a replayed workflow takes the same path.
"""

from __future__ import annotations

from functools import partial

from bot.domain.models import Decision, RunSpec, RunState
from bot.domain.naming import branch_name
from bot.engine import approval_loop, campaign, patterns, revert
from bot.engine.budget import BudgetExceeded
from bot.engine.changes import pr_body
from bot.engine.consumers import provider_context
from bot.engine.messages import LoopState, RepoOutcome
from bot.engine.patterns.concurrent import fan_out
from bot.engine.patterns.manager import Plan, SubTask, waves
from bot.engine.plan_view import plan_event
from bot.engine.repo_context import RepoContext
from bot.engine.steps import RunCancelled, RunSteps


def run(steps: RunSteps, run_id: str, attempt: int) -> str:
    """A run from its start: plan it, let a person approve the plan when the playbook asks, work."""
    spec = steps.load_spec(run_id)
    if spec.reverts:  # a revert run: Baton's revert commits, no agent (bot/engine/revert.py)
        return revert.run_revert(steps, spec, attempt)
    steps.state_step(run_id, RunState.planning)
    plan = steps.plan_step(spec, attempt)
    if isinstance(plan, str):
        steps.state_step(run_id, RunState.failed, error=plan)
        return RunState.failed.value
    book = steps.config.playbook(spec.playbook)
    steps.event_step(run_id, "plan_ready", plan_event(plan))
    if book.approve_plan or (book.approve_plan is None and steps.config.approval.approve_plan):
        loop = LoopState(stage="plan", plan=plan.model_dump(mode="json"))
        verdict = approval_loop.await_plan_approval(steps, run_id, attempt, loop)
        if verdict != Decision.approve.value:
            return verdict
        plan = Plan.model_validate(loop.plan)  # as approved: repos may have been dropped
    return work(steps, spec, attempt, plan)


def resume(steps: RunSteps, run_id: str, attempt: int) -> str:
    """A parked run going on from the wait it parked in (a message claimed it)."""
    spec = steps.load_spec(run_id)
    loop = steps.loop_step(run_id, attempt)
    if loop.stage == "campaign":
        return campaign.roll_out(steps, spec, attempt, Plan.model_validate(loop.plan), loop)
    if loop.stage == "plan":
        verdict = approval_loop.await_plan_approval(steps, run_id, attempt, loop, enter=False)
        if verdict != Decision.approve.value:
            return verdict
        return work(steps, spec, attempt, Plan.model_validate(loop.plan))
    changes = steps.current_changes_step(run_id)
    return approval_loop.approve_and_merge(steps, spec, attempt, changes, loop)


def work(steps: RunSteps, spec: RunSpec, attempt: int, plan: Plan) -> str:
    steps.state_step(spec.run_id, RunState.working)
    if campaign.is_campaign(steps, spec):
        return campaign.roll_out(steps, spec, attempt, plan)
    outcomes = fan_out_repos(steps, spec, attempt, plan)
    if isinstance(outcomes, str):
        return outcomes
    changes = [o.change for o in outcomes if o.change is not None]
    return approval_loop.approve_and_merge(steps, spec, attempt, changes)


def fan_out_repos(steps: RunSteps, spec: RunSpec, attempt: int, plan: Plan) -> list[RepoOutcome] | str:
    """Every repo's sub-task, wave by wave (providers first); the first failing wave stops the run
    before its consumers start."""
    run_id = spec.run_id
    order = plan.order
    done: dict[str, RepoOutcome] = {}
    for wave in waves(plan):
        results = fan_out(
            wave,
            partial(steps.start_repo, run_id, attempt, order, plan),
            steps.wait_first,
            steps.config.concurrency.per_run,
        )
        done.update({o.repo: o for o in results})
        failed = [o for o in results if o.status != "done"]
        if failed:
            error = "; ".join(f"{o.repo}: {o.summary}" for o in failed)
            steps.state_step(run_id, RunState.failed, error=error)
            return RunState.failed.value
    return [done[r] for r in order]


def repo_work(steps: RunSteps, run_id: str, task: SubTask, order: int, plan: str) -> RepoOutcome:
    """One repo of the run: its playbook's pattern in the workspace, then push, PR and checks.
    A repo that finished before a restart is not worked again."""
    spec = steps.load_spec(run_id)
    finished = steps.finished_repo_step(run_id, task.repo)
    if finished is not None:
        return finished
    branch = branch_name(run_id, spec.trigger.request)
    base, head = steps.prepare_step(run_id, task.repo, branch)
    providers = provider_context(steps, run_id, task)  # their PRs are open: earlier waves
    ctx = RepoContext(steps, spec, task.repo, branch, head, task.task, plan + providers.prompt)
    book = steps.config.playbook(spec.playbook)
    try:
        result = patterns.execute(book.per_repo, ctx)
    except BudgetExceeded as spent:
        return RepoOutcome(repo=task.repo, status="budget", summary=str(spent))
    except RunCancelled:
        return RepoOutcome(repo=task.repo, status="cancelled", summary="cancelled")
    if not result.ok:
        return RepoOutcome(repo=task.repo, status="failed", summary=result.summary)
    if ctx.head == base:
        return RepoOutcome(repo=task.repo, status="failed", summary="the agent produced no diff; no PR opened")
    steps.push_step(run_id, task.repo, branch, ctx.head)
    title = f"[baton] {spec.trigger.request.splitlines()[0][:60]}"
    body = pr_body(spec, plan, result.summary, depends_on=providers.urls)
    change = steps.open_change_step(run_id, task.repo, branch, title, body, order)
    change = steps.change_checks_step(change)
    outcome = RepoOutcome(repo=task.repo, status="done", summary=result.summary, change=change)
    steps.remember_repo_step(run_id, outcome)
    return outcome
