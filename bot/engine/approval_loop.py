"""What a run does once its PRs are open: ask for approval, run follow-up and repair rounds on the
same branches between decisions, and merge the train once the gate holds.

Plain functions over `RunSteps` (like the patterns): every effect goes through a checkpointed step,
so a replayed workflow takes the same path, and the fast tier runs them over an in-memory fake.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from bot.domain.checks import missing_report
from bot.domain.models import ChangeSet, ChangeState, ChecksState, Decision, RunSpec, RunState
from bot.engine.approvals import GateVerdict
from bot.engine.budget import BudgetExceeded
from bot.engine.integration_gate import merge_report
from bot.engine.messages import (
    CLOSE,
    DECISION_TOPIC,
    DROP,
    EXPIRE,
    FOLLOW_UP,
    PARKED,
    RECHECK,
    RETRY_FAILED,
    SKIP,
    TERMINAL_VERDICTS,
    DecisionMessage,
    LoopState,
    RepoOutcome,
)
from bot.engine.patterns.concurrent import fan_out
from bot.engine.patterns.manager import Plan
from bot.engine.plan_view import plan_event, without_repo
from bot.engine.repo_context import RepoContext
from bot.engine.steps import RunCancelled, RunSteps

BLOCKING_RECHECK_S = 300.0
REBASE_ROUNDS = 1
"""Rebase rounds an attempt runs by itself when pre-flight finds a PR conflicting with its moved
base; after that, pre-flight failing fails the run (and `retry` starts another)."""


def await_decision(
    steps: RunSteps, run_id: str, attempt: int, waiting_for: str, loop: LoopState, *, enter: bool = True
) -> DecisionMessage | None:
    """The next message for the run (a decision, a follow-up, a nudge to re-check the gate); None
    when the run parked instead (no message yet; a message will start a continuation).

    `enter`: record the wait (a continuation resumes inside a wait the run already shows)."""
    if enter:
        steps.state_step(run_id, RunState.awaiting_approval, waiting_for=waiting_for)
    while True:
        taken = steps.take_step(run_id, attempt, loop)
        if taken.message is not None:
            return interpret(steps, run_id, taken.message)
        if taken.parked:
            return None
        # A blocking wait (`baton run`, `baton demo`: no scheduler): a message wakes it, the
        # deadline expires it. It looks again every BLOCKING_RECHECK_S, so a blocking wait that a
        # parking process recovers (`serve` after `baton run`) parks there.
        remaining = steps.remaining_step(run_id)
        if remaining <= 0:
            return interpret(steps, run_id, {"decision": EXPIRE})
        woke = steps.recv(DECISION_TOPIC, min(remaining, BLOCKING_RECHECK_S))
        if woke and woke.get("decision") == Decision.cancel.value:  # sent by `cancel` directly
            return interpret(steps, run_id, woke)


def interpret(steps: RunSteps, run_id: str, message: dict[str, Any]) -> DecisionMessage:
    decision = message.get("decision")
    if decision is None or decision == EXPIRE:
        steps.expire_step(run_id)
        return DecisionMessage(verdict=RunState.expired.value)
    if decision == Decision.reject.value:
        steps.state_step(run_id, RunState.rejected, error=message.get("reason") or None)
        return DecisionMessage(verdict=RunState.rejected.value)
    if decision == Decision.cancel.value:
        steps.state_step(run_id, RunState.cancelled)
        return DecisionMessage(verdict=RunState.cancelled.value)
    if decision == DROP:
        return DecisionMessage(
            verdict=DROP, instruction=str(message.get("repo", "")), actor=str(message.get("actor", ""))
        )
    if decision in (FOLLOW_UP, RECHECK, RETRY_FAILED, SKIP, CLOSE):
        return DecisionMessage(
            verdict=decision,
            instruction=str(message.get("instruction", message.get("repo", ""))),
            actor=str(message.get("actor", "")),
            repair=bool(message.get("repair", False)),
        )
    return DecisionMessage(verdict=Decision.approve.value)


def await_plan_approval(steps: RunSteps, run_id: str, attempt: int, loop: LoopState, *, enter: bool = True) -> str:
    """approve | a terminal verdict | PARKED."""
    while True:
        message = await_decision(steps, run_id, attempt, "plan", loop, enter=enter)
        enter = True
        if message is None:
            return PARKED
        if message.verdict == FOLLOW_UP:
            steps.event_step(run_id, "follow_up_deferred", {"reason": "the plan is not approved yet"})
            continue
        if message.verdict == RECHECK:
            continue
        if message.verdict == DROP:
            if drop_from_plan(steps, run_id, loop, message.instruction, message.actor):
                continue
            steps.state_step(run_id, RunState.cancelled, error="every repo was dropped from the plan")
            return RunState.cancelled.value
        return message.verdict


def drop_from_plan(steps: RunSteps, run_id: str, loop: LoopState, repo: str, actor: str) -> bool:
    """Take `repo` out of the plan awaiting approval (announced with the plan as it now stands);
    False when no repo is left."""
    plan = Plan.model_validate(loop.plan)
    if repo not in plan.order:
        steps.event_step(run_id, "drop_ignored", {"repo": repo, "reason": "not in the plan"})
        return True
    plan = without_repo(plan, repo)
    loop.plan = plan.model_dump(mode="json")
    steps.event_step(run_id, "repo_dropped", {"repo": repo, "actor": actor})
    if not plan.subtasks:
        return False
    steps.event_step(run_id, "plan_ready", plan_event(plan))
    return True


def approve_and_merge(
    steps: RunSteps, spec: RunSpec, attempt: int, changes: list[ChangeSet], loop: LoopState | None = None
) -> str:
    """Ask for approval; between decisions run follow-up and repair rounds on the same branches;
    merge the train once the gate holds. With `loop`, a continuation: go on inside the wait the
    run parked in. Returns the run's end, or PARKED."""
    run_id = spec.run_id
    allowed_repairs = steps.config.approval.repair_on_failed_checks
    resumed = loop is not None
    loop = loop or LoopState()
    rebase = [] if resumed else steps.rebase_step(run_id, attempt)
    if rebase:  # pre-flight found conflicts last attempt: bring those branches up to date first
        loop.rounds += 1
        changes = steps.current_changes_step(run_id) or changes
        changes = run_round(
            steps, spec, attempt, loop.rounds, rebase_instruction(steps, rebase), False, changes, only=rebase
        )
    while True:
        if not resumed:
            changes = steps.current_changes_step(run_id) or changes
            red = [c for c in changes if c.state is ChangeState.open and c.checks is ChecksState.failed]
            missing = [c for c in red if c.checks_program_missing]
            if missing:  # configuration, not code: no repair round can fix it (bot/checks_exit.py)
                report = "; ".join(missing_report(c.checks_output, c.repo) for c in missing)
                steps.state_step(run_id, RunState.failed, error=report)
                return RunState.failed.value
            if red and loop.repairs < allowed_repairs:
                loop.repairs += 1
                loop.rounds += 1
                output = "\n\n".join(f"Checks failed in {c.repo}:\n{c.checks_output}" for c in red)
                changes = run_round(steps, spec, attempt, loop.rounds, output, True, changes)
                loop.ask = True
                continue
            if red and allowed_repairs and loop.repairs >= allowed_repairs and loop.ask:
                steps.event_step(run_id, "repair_exhausted", {"rounds": loop.repairs, "repos": [c.repo for c in red]})
            if loop.ask:
                # The whole set at these heads, before anyone is asked (red: no approval counts).
                steps.integration_step(run_id, "approval", f"a{attempt}-r{loop.rounds}")
                steps.event_step(run_id, "approval_requested", {"prs": [c.url for c in changes], "round": loop.rounds})
                loop.ask = False
        message = await_decision(steps, run_id, attempt, "approval", loop, enter=not resumed)
        resumed = False
        if message is None:
            return PARKED
        if message.verdict in TERMINAL_VERDICTS:
            return message.verdict
        if message.verdict == DROP:  # the plan was approved: its PRs are open, nothing to drop from
            steps.event_step(run_id, "drop_ignored", {"repo": message.instruction, "reason": "the plan is approved"})
            continue
        if message.verdict == FOLLOW_UP:
            if message.repair:
                continue  # red checks reported by the forge: the top of the loop repairs them
            loop.rounds += 1
            changes = run_round(steps, spec, attempt, loop.rounds, message.instruction, False, changes)
            loop.ask = True
            continue
        gate = steps.gate(run_id)
        if not gate.ok:
            if message.verdict != RECHECK:
                steps.event_step(run_id, "approval_not_enough", {"reason": gate.reason})
            continue
        merged = merge_train(steps, run_id, attempt, changes, gate, rebase=loop.rebases < REBASE_ROUNDS)
        if isinstance(merged, list):  # the base moved under these PRs: rebase them, then ask again
            loop.rebases += 1
            loop.rounds += 1
            instruction = rebase_instruction(steps, merged)
            changes = run_round(steps, spec, attempt, loop.rounds, instruction, False, changes, only=merged)
            loop.ask = True
            continue
        if merged is not None:
            return merged


def merge_train(
    steps: RunSteps, run_id: str, attempt: int, changes: list[ChangeSet], gate: GateVerdict, *, rebase: bool = False
) -> str | list[str] | None:
    """Pre-flight, integration checks at the approved heads, then merge in plan order; None when a
    head or base moved (back to waiting for a fresh approval); with `rebase`, the repos pre-flight
    found conflicting with their moved base (a rebase round next, never a force-push). Otherwise
    pre-flight or integration checks failing merge nothing and fail the run saying why."""
    steps.state_step(run_id, RunState.merging)
    preflight = steps.preflight(run_id, gate, attempt)
    if preflight.moved:
        return None
    if not preflight.ok and rebase and preflight.conflicts:
        steps.event_step(run_id, "base_drift", {"repos": preflight.conflicts})
        return list(preflight.conflicts)
    if not preflight.ok:
        steps.state_step(run_id, RunState.failed, error=preflight.report)
        return RunState.failed.value
    digest = "-".join(sha[:7] for _repo, sha in sorted(gate.head_shas.items()))
    integration = steps.integration_step(run_id, "merge", f"a{attempt}-merge-{digest}"[:120])
    if integration is not None and not integration.passed:
        steps.state_step(run_id, RunState.failed, error=merge_report(integration))
        return RunState.failed.value
    for change in sorted(changes, key=lambda c: c.order):
        result = steps.merge_change(run_id, change.repo, gate.head_shas[change.repo])
        if result.moved:
            return None
        if not result.ok:
            steps.state_step(run_id, RunState.failed, error=result.report)
            return RunState.failed.value
    steps.state_step(run_id, RunState.merged)
    return RunState.merged.value


def rebase_instruction(steps: RunSteps, repos: list[str]) -> str:
    bases = sorted({steps.config.repo(r).default_branch for r in repos})
    base = " / ".join(bases)
    return (
        f"{base} has moved on and this branch no longer merged cleanly into it. Baton merged origin/{base} into "
        "this branch; resolve every conflict (remove the <<<<<<< ======= >>>>>>> markers) so both sides' "
        "changes survive."
    )


def run_round(
    steps: RunSteps,
    spec: RunSpec,
    attempt: int,
    number: int,
    instruction: str,
    repair: bool,
    changes: list[ChangeSet],
    only: list[str] | None = None,
) -> list[ChangeSet]:
    """One more round of agent work on every open PR's branch (only the red ones for a repair, only
    `only` for a rebase); the PRs get the new commits, approvals bound to the old heads are void."""
    run_id = spec.run_id
    targets = [c for c in changes if c.state is ChangeState.open and (not repair or c.checks is ChecksState.failed)]
    targets = [c for c in targets if only is None or c.repo in only]
    kind = "repair" if repair else ("rebase" if only is not None else "follow_up")
    steps.event_step(
        run_id,
        "round_started",
        {"round": number, "kind": kind, "instruction": instruction[:500], "repos": [c.repo for c in targets]},
    )
    steps.invalidate_step(run_id, f"round {number} ({kind.replace('_', '-')}) changes the PRs")
    steps.state_step(run_id, RunState.working)
    outcomes = fan_out(
        targets,
        partial(steps.start_round_repo, run_id, attempt, number, instruction, repair, rebase=kind == "rebase"),
        steps.wait_first,
        steps.config.concurrency.per_run,
    )
    steps.event_step(
        run_id,
        "round_finished",
        {"round": number, "kind": kind, "results": {o.repo: o.status for o in outcomes}},
    )
    updated = {o.repo: o.change for o in outcomes if o.change is not None}
    return [updated.get(c.repo, c) for c in changes]


def round_work(
    steps: RunSteps,
    run_id: str,
    change: ChangeSet,
    number: int,
    instruction: str,
    repair: bool,
    rebase: bool = False,
) -> RepoOutcome:
    spec = steps.load_spec(run_id)
    _base, head = steps.prepare_step(run_id, change.repo, change.branch)
    conflicted: list[str] = []
    if rebase:  # Baton merges the base in (a merge commit on the PR's branch: nobody's work is rewritten)
        head, conflicted = steps.merge_base_step(run_id, change.repo, change.branch, head)
        if conflicted:
            instruction += "\n\nThe merge left conflict markers in: " + ", ".join(conflicted)
    what = "Fix the failing checks" if repair else "Follow-up request"
    task = f"{spec.trigger.request}\n\n{what} (round {number}):\n{instruction}"
    ctx = RepoContext(steps, spec, change.repo, change.branch, head, task, "", key_prefix=f"r{number}-")
    book = steps.config.playbook(spec.playbook)
    try:
        result = ctx.execute(book.per_repo, feedback=instruction if repair else "")
    except BudgetExceeded as spent:
        return RepoOutcome(repo=change.repo, status="budget", summary=str(spent), change=change)
    except RunCancelled:
        return RepoOutcome(repo=change.repo, status="cancelled", summary="cancelled", change=change)
    if not result.ok:
        return RepoOutcome(repo=change.repo, status="failed", summary=result.summary, change=change)
    left = steps.unresolved_step(run_id, change.repo, change.branch, ctx.head, conflicted) if conflicted else []
    if left:
        summary = f"conflict markers are left in {', '.join(left)}; nothing was pushed"
        return RepoOutcome(repo=change.repo, status="failed", summary=summary, change=change)
    if ctx.head == head and not rebase:
        return RepoOutcome(repo=change.repo, status="unchanged", summary=result.summary, change=change)
    steps.push_step(run_id, change.repo, change.branch, ctx.head)
    updated = steps.change_checks_step(change)
    return RepoOutcome(repo=change.repo, status="done", summary=result.summary, change=updated)
