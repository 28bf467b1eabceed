"""The run workflow: plan → fan out per repo → linked PRs → approval (durable wait) → merge train.

`RunEngine` is the durable shell: workflows and steps are DBOS functions whose bodies live in
`activities.py` and `patterns/`. A run's workflow id derives from its run id (itself derived
from the trigger's delivery id), so a second start joins the first.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import structlog
from dbos import DBOS, DBOSConfiguredInstance, SetWorkflowID
from dbos._error import DBOSAwaitedWorkflowCancelledError
from pydantic import BaseModel

from bot.approvals import GateVerdict, MergeOutcome, gate_step, merge_step
from bot.domain import AgentTask, ChangeSet, ChangeState, CheckOutcome, ChecksState, Decision, RunSpec, RunState
from bot.engine import activities, patterns
from bot.engine.budget import BudgetExceeded
from bot.engine.deps import EngineDeps
from bot.engine.patterns.concurrent import fan_out
from bot.engine.patterns.manager import Plan, SubTask, waves
from bot.engine.planning import make_plan
from bot.engine.repo_context import RepoContext, RunCancelled
from bot.scm.workspace import branch_name

log = structlog.get_logger(__name__)

REPO_QUEUE = "baton-repos"
DECISION_TOPIC = "decision"
BUDGET_TOPIC = "budget"
FOLLOW_UP = "follow_up"
"""A message on the decision topic: another round of work on the run's branches."""
RECHECK = "recheck"
"""A message on the decision topic: something the gate depends on changed (e.g. checks finished)."""
TERMINAL_VERDICTS = frozenset({RunState.expired.value, RunState.rejected.value, RunState.cancelled.value})


def workflow_id(run_id: str, attempt: int) -> str:
    return f"run-{run_id}-a{attempt}"


def repo_workflow_id(run_id: str, attempt: int, repo: str) -> str:
    return f"{workflow_id(run_id, attempt)}-{repo}"


def _describe(err: Exception) -> str:
    """An unexpected error as one line for people: its kind and message, no stack trace."""
    text = " ".join(str(err).split())[:400]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _wait_first(handles: list[Any]) -> Any:
    return DBOS.wait_first(handles, polling_interval_sec=0.02)


class DecisionMessage(BaseModel):
    verdict: str  # approve | follow_up | recheck | expired | rejected | cancelled
    instruction: str = ""
    actor: str = ""
    repair: bool = False


class RepoOutcome(BaseModel):
    repo: str
    status: str  # done | unchanged | failed | budget | cancelled
    summary: str = ""
    change: ChangeSet | None = None


@DBOS.dbos_class()
class RunEngine(DBOSConfiguredInstance):
    def __init__(self, deps: EngineDeps) -> None:
        self.deps = deps
        super().__init__("baton-engine")

    # -- the run -------------------------------------------------------------------------------
    @DBOS.workflow()
    def run_workflow(self, run_id: str, attempt: int) -> str:
        try:
            return self._run(run_id, attempt)
        except DBOSAwaitedWorkflowCancelledError:
            return RunState.cancelled.value  # a repo's work was cancelled with the run
        except Exception as err:  # the run fails with a reason people can read, never silently
            log.exception("run.failed", run_id=run_id)
            self.state_step(run_id, RunState.failed, error=_describe(err))
            return RunState.failed.value

    def _run(self, run_id: str, attempt: int) -> str:
        spec = self.load_spec(run_id)
        self.state_step(run_id, RunState.planning)
        plan_or_error = self.plan_step(spec, attempt)
        if isinstance(plan_or_error, str):
            self.state_step(run_id, RunState.failed, error=plan_or_error)
            return RunState.failed.value
        plan = plan_or_error
        book = self.deps.config.playbook(spec.playbook)
        self.event_step(run_id, "plan_ready", {"order": plan.order, "summary": plan.summary})
        if book.approve_plan or (book.approve_plan is None and self.deps.config.approval.approve_plan):
            verdict = self.await_plan_approval(run_id)
            if verdict != Decision.approve.value:
                return verdict
        self.state_step(run_id, RunState.working)
        outcomes = self.fan_out_repos(spec, attempt, plan)
        if isinstance(outcomes, str):
            return outcomes
        changes = [o.change for o in outcomes if o.change is not None]
        return self.approve_and_merge(spec, attempt, changes)

    def fan_out_repos(self, spec: RunSpec, attempt: int, plan: Plan) -> list[RepoOutcome] | str:
        """Every repo's sub-task, wave by wave (providers first); the first failing wave stops."""
        run_id = spec.run_id
        order = plan.order
        done: dict[str, RepoOutcome] = {}
        for wave in waves(plan):
            results = fan_out(
                wave,
                partial(self._start_repo, run_id, attempt, order, plan),
                _wait_first,
                self.deps.config.concurrency.per_run,
            )
            done.update({o.repo: o for o in results})
            failed = [o for o in results if o.status != "done"]
            if failed:
                error = "; ".join(f"{o.repo}: {o.summary}" for o in failed)
                self.state_step(run_id, RunState.failed, error=error)
                return RunState.failed.value
        return [done[r] for r in order]

    def _start_repo(self, run_id: str, attempt: int, order: list[str], plan: Plan, task: SubTask) -> Any:
        queue = DBOS.retrieve_queue(REPO_QUEUE)
        assert queue is not None
        with SetWorkflowID(repo_workflow_id(run_id, attempt, task.repo)):
            return queue.enqueue(self.repo_workflow, run_id, task, order.index(task.repo), plan.summary)

    @DBOS.workflow()
    def repo_workflow(self, run_id: str, task: SubTask, order: int, plan: str) -> RepoOutcome:
        try:
            return self._repo_work(run_id, task, order, plan)
        except Exception as err:  # a fault in one repo fails that repo, never the whole engine
            log.exception("repo.failed", run_id=run_id, repo=task.repo)
            return RepoOutcome(repo=task.repo, status="failed", summary=_describe(err))

    def _repo_work(self, run_id: str, task: SubTask, order: int, plan: str) -> RepoOutcome:
        spec = self.load_spec(run_id)
        finished = self.finished_repo_step(run_id, task.repo)
        if finished is not None:
            return finished
        branch = branch_name(run_id, spec.trigger.request)
        base, head = self.prepare_step(run_id, task.repo, branch)
        ctx = RepoContext(self, spec, task.repo, branch, head, task.task, plan)
        book = self.deps.config.playbook(spec.playbook)
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
        self.push_step(run_id, task.repo, branch, ctx.head)
        title = f"[baton] {spec.trigger.request.splitlines()[0][:60]}"
        body = activities.pr_body(spec, plan, result.summary)
        change = self.open_change_step(run_id, task.repo, branch, title, body, order)
        change = self.change_checks_step(change)
        outcome = RepoOutcome(repo=task.repo, status="done", summary=result.summary, change=change)
        self.remember_repo_step(run_id, outcome)
        return outcome

    def await_budget(self, run_id: str, repo: str, reason: str) -> bool:
        """The run's budget is spent: pause this repo's work and ask; True when it was raised."""
        self.event_step(run_id, "budget_exceeded", {"repo": repo, "reason": reason})
        self.state_step(run_id, RunState.working, waiting_for="budget")
        message = DBOS.recv(BUDGET_TOPIC, timeout_seconds=self.remaining_step(run_id))
        if not message or message.get("decision") != Decision.extend_budget.value:
            return False
        self.state_step(run_id, RunState.working)
        return True

    # -- approval and merge ---------------------------------------------------------------------
    def await_decision(self, run_id: str, waiting_for: str) -> DecisionMessage:
        """A durable wait for a person's decision (or a follow-up, or a nudge to re-check the gate)."""
        self.state_step(run_id, RunState.awaiting_approval, waiting_for=waiting_for)
        message = DBOS.recv(DECISION_TOPIC, timeout_seconds=self.remaining_step(run_id)) or {}
        decision = message.get("decision")
        if decision is None:
            self.state_step(run_id, RunState.expired, error="approval expired")
            return DecisionMessage(verdict=RunState.expired.value)
        if decision == Decision.reject.value:
            self.state_step(run_id, RunState.rejected, error=message.get("reason") or None)
            return DecisionMessage(verdict=RunState.rejected.value)
        if decision == Decision.cancel.value:
            self.state_step(run_id, RunState.cancelled)
            return DecisionMessage(verdict=RunState.cancelled.value)
        if decision in (FOLLOW_UP, RECHECK):
            return DecisionMessage(
                verdict=decision,
                instruction=str(message.get("instruction", "")),
                actor=str(message.get("actor", "")),
                repair=bool(message.get("repair", False)),
            )
        return DecisionMessage(verdict=Decision.approve.value)

    def await_plan_approval(self, run_id: str) -> str:
        while True:
            message = self.await_decision(run_id, "plan")
            if message.verdict == FOLLOW_UP:
                self.event_step(run_id, "follow_up_deferred", {"reason": "the plan is not approved yet"})
                continue
            if message.verdict == RECHECK:
                continue
            return message.verdict

    def approve_and_merge(self, spec: RunSpec, attempt: int, changes: list[ChangeSet]) -> str:
        """Ask for approval; between decisions run follow-up and repair rounds on the same branches;
        merge the train once the gate holds."""
        run_id = spec.run_id
        allowed_repairs = self.deps.config.approval.repair_on_failed_checks
        rounds = repairs = 0
        ask = True
        while True:
            changes = self.current_changes_step(run_id) or changes
            red = [c for c in changes if c.state is ChangeState.open and c.checks is ChecksState.failed]
            if red and repairs < allowed_repairs:
                repairs += 1
                rounds += 1
                output = "\n\n".join(f"Checks failed in {c.repo}:\n{c.checks_output}" for c in red)
                changes = self.run_round(spec, attempt, rounds, output, True, changes)
                ask = True
                continue
            if red and allowed_repairs and repairs >= allowed_repairs and ask:
                self.event_step(run_id, "repair_exhausted", {"rounds": repairs, "repos": [c.repo for c in red]})
            if ask:
                self.event_step(run_id, "approval_requested", {"prs": [c.url for c in changes], "round": rounds})
                ask = False
            message = self.await_decision(run_id, "approval")
            if message.verdict in TERMINAL_VERDICTS:
                return message.verdict
            if message.verdict == FOLLOW_UP:
                if message.repair:
                    continue  # red checks reported by the forge: the top of the loop repairs them
                rounds += 1
                changes = self.run_round(spec, attempt, rounds, message.instruction, False, changes)
                ask = True
                continue
            gate = self.gate(run_id)
            if not gate.ok:
                if message.verdict != RECHECK:
                    self.event_step(run_id, "approval_not_enough", {"reason": gate.reason})
                continue
            merged = self.merge_train(run_id, changes, gate)
            if merged is not None:
                return merged

    def merge_train(self, run_id: str, changes: list[ChangeSet], gate: GateVerdict) -> str | None:
        """Merge in plan order; None when a head moved (back to waiting for a fresh approval)."""
        self.state_step(run_id, RunState.merging)
        for change in sorted(changes, key=lambda c: c.order):
            result = self.merge_change(run_id, change.repo, gate.head_shas[change.repo])
            if result.moved:
                return None
            if not result.ok:
                self.state_step(run_id, RunState.failed, error=result.report)
                return RunState.failed.value
        self.state_step(run_id, RunState.merged)
        return RunState.merged.value

    # -- rounds: follow-ups and repairs on the run's existing branches ----------------------------
    def run_round(
        self, spec: RunSpec, attempt: int, number: int, instruction: str, repair: bool, changes: list[ChangeSet]
    ) -> list[ChangeSet]:
        """One more round of agent work on every open PR's branch (only the red ones for a repair);
        the PRs get the new commits, approvals bound to the old heads are void."""
        run_id = spec.run_id
        targets = [c for c in changes if c.state is ChangeState.open and (not repair or c.checks is ChecksState.failed)]
        kind = "repair" if repair else "follow_up"
        self.event_step(
            run_id,
            "round_started",
            {"round": number, "kind": kind, "instruction": instruction[:500], "repos": [c.repo for c in targets]},
        )
        self.invalidate_step(run_id, f"round {number} ({kind.replace('_', '-')}) changes the PRs")
        self.state_step(run_id, RunState.working)
        outcomes = fan_out(
            targets,
            partial(self._start_round_repo, run_id, attempt, number, instruction, repair),
            _wait_first,
            self.deps.config.concurrency.per_run,
        )
        self.event_step(
            run_id,
            "round_finished",
            {"round": number, "kind": kind, "results": {o.repo: o.status for o in outcomes}},
        )
        updated = {o.repo: o.change for o in outcomes if o.change is not None}
        return [updated.get(c.repo, c) for c in changes]

    def _start_round_repo(
        self, run_id: str, attempt: int, number: int, instruction: str, repair: bool, change: ChangeSet
    ) -> Any:
        queue = DBOS.retrieve_queue(REPO_QUEUE)
        assert queue is not None
        with SetWorkflowID(f"{repo_workflow_id(run_id, attempt, change.repo)}-r{number}"):
            return queue.enqueue(self.round_workflow, run_id, change, number, instruction, repair)

    @DBOS.workflow()
    def round_workflow(
        self, run_id: str, change: ChangeSet, number: int, instruction: str, repair: bool
    ) -> RepoOutcome:
        try:
            return self._round_work(run_id, change, number, instruction, repair)
        except Exception as err:  # one repo's fault leaves its PR as it was
            log.exception("round.failed", run_id=run_id, repo=change.repo, round=number)
            return RepoOutcome(repo=change.repo, status="failed", summary=_describe(err), change=change)

    def _round_work(self, run_id: str, change: ChangeSet, number: int, instruction: str, repair: bool) -> RepoOutcome:
        spec = self.load_spec(run_id)
        _base, head = self.prepare_step(run_id, change.repo, change.branch)
        what = "Fix the failing checks" if repair else "Follow-up request"
        task = f"{spec.trigger.request}\n\n{what} (round {number}):\n{instruction}"
        ctx = RepoContext(self, spec, change.repo, change.branch, head, task, "", key_prefix=f"r{number}-")
        book = self.deps.config.playbook(spec.playbook)
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
        self.push_step(run_id, change.repo, change.branch, ctx.head)
        updated = self.change_checks_step(change)
        return RepoOutcome(repo=change.repo, status="done", summary=result.summary, change=updated)

    # -- steps: thin durable shells over activities -------------------------------------------------
    @DBOS.step()
    def load_spec(self, run_id: str) -> RunSpec:
        run = self.deps.store.get_run(run_id)
        assert run is not None, run_id
        return run.spec

    @DBOS.step()
    def state_step(
        self, run_id: str, state: RunState, error: str | None = None, waiting_for: str | None = None
    ) -> None:
        activities.set_state(self.deps, run_id, state, error, waiting_for)

    @DBOS.step()
    def event_step(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        activities.Emitter(self.deps, run_id)(kind, data)

    @DBOS.step()
    def plan_step(self, spec: RunSpec, attempt: int) -> Plan | str:
        return make_plan(self.deps, spec, attempt)

    @DBOS.step()
    def remaining_step(self, run_id: str) -> float:
        return activities.approval_seconds_left(self.deps, run_id)

    @DBOS.step()
    def finished_repo_step(self, run_id: str, repo: str) -> RepoOutcome | None:
        fact = self.deps.store.get_fact(run_id, f"repo:{repo}")
        return RepoOutcome.model_validate(fact) if fact else None

    @DBOS.step()
    def remember_repo_step(self, run_id: str, outcome: RepoOutcome) -> None:
        self.deps.store.put_fact(run_id, f"repo:{outcome.repo}", outcome.model_dump(mode="json"))

    @DBOS.step()
    def prepare_step(self, run_id: str, repo: str, branch: str) -> tuple[str, str]:
        path = self.deps.workspace.prepare(run_id, repo, branch)
        return self.deps.workspace.base_sha(path), self.deps.workspace.head(path)

    @DBOS.step()
    def agent_step(self, task: AgentTask, agent: str, branch: str, head: str, name: str) -> activities.StepOutcome:
        return activities.invoke_agent(self.deps, task, agent, branch, head, name)

    @DBOS.step()
    def checks_step(self, run_id: str, repo: str, branch: str, head: str, key: str) -> CheckOutcome:
        return activities.workspace_checks(self.deps, run_id, repo, branch, head, key)

    @DBOS.step()
    def push_step(self, run_id: str, repo: str, branch: str, head: str) -> str:
        return activities.push_branch(self.deps, run_id, repo, branch, head)

    @DBOS.step()
    def open_change_step(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        return activities.open_change(self.deps, run_id, repo, branch, title, body, order)

    @DBOS.step()
    def change_checks_step(self, change: ChangeSet) -> ChangeSet:
        return activities.change_checks(self.deps, change)

    @DBOS.step()
    def current_changes_step(self, run_id: str) -> list[ChangeSet]:
        return self.deps.store.changes(run_id)

    @DBOS.step()
    def invalidate_step(self, run_id: str, reason: str) -> None:
        if self.deps.store.invalidate_approvals(run_id):
            activities.Emitter(self.deps, run_id)("approval_invalidated", {"reason": reason})

    @DBOS.step()
    def gate(self, run_id: str) -> GateVerdict:
        return gate_step(self.deps, run_id)

    @DBOS.step()
    def merge_change(self, run_id: str, repo: str, expected_sha: str) -> MergeOutcome:
        return merge_step(self.deps, run_id, repo, expected_sha)
