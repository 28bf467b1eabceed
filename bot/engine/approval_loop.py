"""What a run does once its PRs are open: ask for approval, run follow-up and repair rounds on the
same branches between decisions, and merge the train once the gate holds.

Plain functions over the engine's durable steps (like the patterns): every effect goes through a
checkpointed step, so a replayed workflow takes the same path.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from dbos import DBOS

from bot.approvals import GateVerdict
from bot.domain import ChangeSet, ChangeState, ChecksState, Decision, RunSpec, RunState
from bot.engine.budget import BudgetExceeded
from bot.engine.messages import (
    DECISION_TOPIC,
    EXPIRE,
    FOLLOW_UP,
    RECHECK,
    TERMINAL_VERDICTS,
    DecisionMessage,
    RepoOutcome,
)
from bot.engine.patterns.concurrent import fan_out
from bot.engine.repo_context import RepoContext, RunCancelled

if TYPE_CHECKING:
    from bot.engine.runs import RunEngine


def wait_first(handles: list[Any]) -> Any:
    """The first of `handles` to finish, polled tightly: a repo's end shows at once."""
    return DBOS.wait_first(handles, polling_interval_sec=0.02)


def await_decision(engine: RunEngine, run_id: str, waiting_for: str) -> DecisionMessage:
    """A durable wait for a person's decision (or a follow-up, or a nudge to re-check the gate)."""
    engine.state_step(run_id, RunState.awaiting_approval, waiting_for=waiting_for)
    # The scheduler's expiry job ends the wait at the deadline; the timeout is the fallback for
    # processes that run no scheduler (`baton run`, `baton demo`).
    message = DBOS.recv(DECISION_TOPIC, timeout_seconds=engine.remaining_step(run_id)) or {}
    decision = message.get("decision")
    if decision is None or decision == EXPIRE:
        engine.expire_step(run_id)
        return DecisionMessage(verdict=RunState.expired.value)
    if decision == Decision.reject.value:
        engine.state_step(run_id, RunState.rejected, error=message.get("reason") or None)
        return DecisionMessage(verdict=RunState.rejected.value)
    if decision == Decision.cancel.value:
        engine.state_step(run_id, RunState.cancelled)
        return DecisionMessage(verdict=RunState.cancelled.value)
    if decision in (FOLLOW_UP, RECHECK):
        return DecisionMessage(
            verdict=decision,
            instruction=str(message.get("instruction", "")),
            actor=str(message.get("actor", "")),
            repair=bool(message.get("repair", False)),
        )
    return DecisionMessage(verdict=Decision.approve.value)


def await_plan_approval(engine: RunEngine, run_id: str) -> str:
    while True:
        message = await_decision(engine, run_id, "plan")
        if message.verdict == FOLLOW_UP:
            engine.event_step(run_id, "follow_up_deferred", {"reason": "the plan is not approved yet"})
            continue
        if message.verdict == RECHECK:
            continue
        return message.verdict


def approve_and_merge(engine: RunEngine, spec: RunSpec, attempt: int, changes: list[ChangeSet]) -> str:
    """Ask for approval; between decisions run follow-up and repair rounds on the same branches;
    merge the train once the gate holds."""
    run_id = spec.run_id
    allowed_repairs = engine.deps.config.approval.repair_on_failed_checks
    rounds = repairs = 0
    ask = True
    while True:
        changes = engine.current_changes_step(run_id) or changes
        red = [c for c in changes if c.state is ChangeState.open and c.checks is ChecksState.failed]
        if red and repairs < allowed_repairs:
            repairs += 1
            rounds += 1
            output = "\n\n".join(f"Checks failed in {c.repo}:\n{c.checks_output}" for c in red)
            changes = run_round(engine, spec, attempt, rounds, output, True, changes)
            ask = True
            continue
        if red and allowed_repairs and repairs >= allowed_repairs and ask:
            engine.event_step(run_id, "repair_exhausted", {"rounds": repairs, "repos": [c.repo for c in red]})
        if ask:
            engine.event_step(run_id, "approval_requested", {"prs": [c.url for c in changes], "round": rounds})
            ask = False
        message = await_decision(engine, run_id, "approval")
        if message.verdict in TERMINAL_VERDICTS:
            return message.verdict
        if message.verdict == FOLLOW_UP:
            if message.repair:
                continue  # red checks reported by the forge: the top of the loop repairs them
            rounds += 1
            changes = run_round(engine, spec, attempt, rounds, message.instruction, False, changes)
            ask = True
            continue
        gate = engine.gate(run_id)
        if not gate.ok:
            if message.verdict != RECHECK:
                engine.event_step(run_id, "approval_not_enough", {"reason": gate.reason})
            continue
        merged = merge_train(engine, run_id, changes, gate)
        if merged is not None:
            return merged


def merge_train(engine: RunEngine, run_id: str, changes: list[ChangeSet], gate: GateVerdict) -> str | None:
    """Merge in plan order; None when a head moved (back to waiting for a fresh approval)."""
    engine.state_step(run_id, RunState.merging)
    for change in sorted(changes, key=lambda c: c.order):
        result = engine.merge_change(run_id, change.repo, gate.head_shas[change.repo])
        if result.moved:
            return None
        if not result.ok:
            engine.state_step(run_id, RunState.failed, error=result.report)
            return RunState.failed.value
    engine.state_step(run_id, RunState.merged)
    return RunState.merged.value


def run_round(
    engine: RunEngine,
    spec: RunSpec,
    attempt: int,
    number: int,
    instruction: str,
    repair: bool,
    changes: list[ChangeSet],
) -> list[ChangeSet]:
    """One more round of agent work on every open PR's branch (only the red ones for a repair);
    the PRs get the new commits, approvals bound to the old heads are void."""
    run_id = spec.run_id
    targets = [c for c in changes if c.state is ChangeState.open and (not repair or c.checks is ChecksState.failed)]
    kind = "repair" if repair else "follow_up"
    engine.event_step(
        run_id,
        "round_started",
        {"round": number, "kind": kind, "instruction": instruction[:500], "repos": [c.repo for c in targets]},
    )
    engine.invalidate_step(run_id, f"round {number} ({kind.replace('_', '-')}) changes the PRs")
    engine.state_step(run_id, RunState.working)
    outcomes = fan_out(
        targets,
        partial(engine.start_round_repo, run_id, attempt, number, instruction, repair),
        wait_first,
        engine.deps.config.concurrency.per_run,
    )
    engine.event_step(
        run_id,
        "round_finished",
        {"round": number, "kind": kind, "results": {o.repo: o.status for o in outcomes}},
    )
    updated = {o.repo: o.change for o in outcomes if o.change is not None}
    return [updated.get(c.repo, c) for c in changes]


def round_work(
    engine: RunEngine, run_id: str, change: ChangeSet, number: int, instruction: str, repair: bool
) -> RepoOutcome:
    spec = engine.load_spec(run_id)
    _base, head = engine.prepare_step(run_id, change.repo, change.branch)
    what = "Fix the failing checks" if repair else "Follow-up request"
    task = f"{spec.trigger.request}\n\n{what} (round {number}):\n{instruction}"
    ctx = RepoContext(engine, spec, change.repo, change.branch, head, task, "", key_prefix=f"r{number}-")
    book = engine.deps.config.playbook(spec.playbook)
    try:
        result = ctx.execute(book.per_repo, feedback=instruction if repair else "")
    except BudgetExceeded as spent:
        return RepoOutcome(repo=change.repo, status="budget", summary=str(spent), change=change)
    except RunCancelled:
        return RepoOutcome(repo=change.repo, status="cancelled", summary="cancelled", change=change)
    if not result.ok:
        return RepoOutcome(repo=change.repo, status="failed", summary=result.summary, change=change)
    if ctx.head == head:
        return RepoOutcome(repo=change.repo, status="unchanged", summary=result.summary, change=change)
    engine.push_step(run_id, change.repo, change.branch, ctx.head)
    updated = engine.change_checks_step(change)
    return RepoOutcome(repo=change.repo, status="done", summary=result.summary, change=updated)
