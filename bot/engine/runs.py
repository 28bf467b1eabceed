"""The run workflow: plan → fan out per repo → linked PRs → approval → merge train.

At a wait for a person the workflow parks (ends, holding nothing) or, under `baton run`/`demo`,
blocks in `recv`; a message for a parked run starts `continue_workflow`, which goes on from the
wait with the loop's state kept in the store (bot/store/inbox.py).

`RunEngine` is the durable shell: workflows and steps are DBOS functions whose bodies live in
`activities.py` and `patterns/`. A run's workflow id derives from its run id (itself derived
from the trigger's delivery id), so a second start joins the first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import structlog
from dbos import DBOS, DBOSConfiguredInstance, SetEnqueueOptions, SetWorkflowID
from dbos import error as dbos_errors

from bot.config.models import BatonFile
from bot.domain.models import AgentTask, ChangeSet, CheckOutcome, RunSpec, RunState
from bot.engine import activities, approval_loop, campaign_steps, changes, drift, revert, traced, workflow
from bot.engine.approvals import GateVerdict
from bot.engine.campaign_plan import CampaignState
from bot.engine.deps import EngineDeps
from bot.engine.expiry import expire_run, expiry_reason
from bot.engine.ids import (
    BUDGET_TOPIC,
    CONTINUE_WORKFLOW,
    ENGINE_CLASS,
    ENGINE_NAME,
    REPO_QUEUE,
    REPO_WORKFLOW,
    ROUND_WORKFLOW,
    RUN_QUEUE,
    RUN_WORKFLOW,
    describe,
    repo_workflow_id,
    workflow_id,
)
from bot.engine.integration import run_integration
from bot.engine.integration_gate import IntegrationOutcome
from bot.engine.merge_train import MergeOutcome, Preflight, gate_step, merge_step, preflight_step, rebase_repos
from bot.engine.messages import LoopState, RepoOutcome, StepOutcome, Taken
from bot.engine.patterns.base import Candidate
from bot.engine.patterns.manager import Plan, SubTask
from bot.engine.planning import make_plan
from bot.engine.race import race_step
from bot.observability.logging import binds_run_id
from bot.store.inbox import loop_key

log = structlog.get_logger(__name__)

__all__ = ["BUDGET_TOPIC", "REPO_QUEUE", "RUN_QUEUE", "RunEngine", "describe", "repo_workflow_id", "workflow_id"]

_CANCELLED = (dbos_errors.DBOSWorkflowCancelledError, dbos_errors.DBOSAwaitedWorkflowCancelledError)


@DBOS.dbos_class(class_name=ENGINE_CLASS)
class RunEngine(DBOSConfiguredInstance):
    """`RunSteps` on DBOS: the run's workflows, its repos' child workflows, and every step."""

    def __init__(self, deps: EngineDeps) -> None:
        self.deps = deps
        super().__init__(ENGINE_NAME)

    @property
    def config(self) -> BatonFile:
        return self.deps.config

    # -- waiting (RunSteps) ------------------------------------------------------------------------
    def recv(self, topic: str, timeout_s: float) -> dict[str, Any] | None:
        message: dict[str, Any] | None = DBOS.recv(topic, timeout_seconds=timeout_s)
        return message

    def wait_first(self, handles: list[Any]) -> Any:
        """The first of `handles` to finish, polled tightly: a repo's end shows at once."""
        return DBOS.wait_first(handles, polling_interval_sec=0.02)

    def race(
        self, tasks: list[AgentTask], agents: list[str], names: list[str], branch: str, head: str, checks: bool
    ) -> list[Candidate]:
        return race_step(self.deps, tasks, agents, names, branch, head, checks)

    def route(self, repo: str, spec: RunSpec) -> list[str]:
        registry = self.deps.agents
        trigger = spec.trigger
        return registry.chain(registry.route(repo, trigger.labels, trigger.reply_to.channel, spec.agent))

    # -- the run -------------------------------------------------------------------------------
    @DBOS.workflow(name=RUN_WORKFLOW)
    @traced.run_workflow
    @binds_run_id
    def run_workflow(self, run_id: str, attempt: int) -> str:
        return self._guarded(run_id, partial(workflow.run, self, run_id, attempt))

    @DBOS.workflow(name=CONTINUE_WORKFLOW)
    @traced.run_workflow
    @binds_run_id
    def continue_workflow(self, run_id: str, attempt: int, number: int) -> str:
        """The run goes on from the wait it parked in: a message claimed it (bot/store/inbox.py)."""
        return self._guarded(run_id, partial(workflow.resume, self, run_id, attempt))

    def _guarded(self, run_id: str, work: Callable[[], str]) -> str:
        try:
            return work()
        except dbos_errors.DBOSAwaitedWorkflowCancelledError:
            return RunState.cancelled.value  # a repo's work was cancelled with the run
        except Exception as err:  # the run fails with a reason people can read, never silently
            log.exception("run.failed", run_id=run_id)
            self.state_step(run_id, RunState.failed, error=describe(err))
            return RunState.failed.value

    def start_repo(self, run_id: str, attempt: int, order: list[str], plan: Plan, task: SubTask, retry: int = 0) -> Any:
        queue = DBOS.retrieve_queue(REPO_QUEUE)
        assert queue is not None
        wf_id = repo_workflow_id(run_id, attempt, task.repo) + (f"-t{retry}" if retry else "")
        with (
            SetWorkflowID(wf_id),
            SetEnqueueOptions(queue_partition_key=task.repo),
        ):
            return queue.enqueue(self.repo_workflow, run_id, task, order.index(task.repo), plan.summary)

    @DBOS.workflow(name=REPO_WORKFLOW)
    @traced.in_run
    @binds_run_id
    def repo_workflow(self, run_id: str, task: SubTask, order: int, plan: str) -> RepoOutcome:
        try:
            return workflow.repo_work(self, run_id, task, order, plan)
        except _CANCELLED:
            raise  # the run was cancelled: DBOS ends this workflow, nothing failed
        except Exception as err:  # a fault in one repo fails that repo, never the whole engine
            log.exception("repo.failed", run_id=run_id, repo=task.repo)
            return RepoOutcome(repo=task.repo, status="failed", summary=describe(err))

    # -- rounds: follow-ups and repairs on the run's existing branches ----------------------------
    def start_round_repo(
        self,
        run_id: str,
        attempt: int,
        number: int,
        instruction: str,
        repair: bool,
        change: ChangeSet,
        *,
        rebase: bool = False,
    ) -> Any:
        queue = DBOS.retrieve_queue(REPO_QUEUE)
        assert queue is not None
        round_id = f"{repo_workflow_id(run_id, attempt, change.repo)}-r{number}"
        with SetWorkflowID(round_id), SetEnqueueOptions(queue_partition_key=change.repo):
            return queue.enqueue(self.round_workflow, run_id, change, number, instruction, repair, rebase)

    @DBOS.workflow(name=ROUND_WORKFLOW)
    @traced.in_run
    @binds_run_id
    def round_workflow(
        self, run_id: str, change: ChangeSet, number: int, instruction: str, repair: bool, rebase: bool = False
    ) -> RepoOutcome:
        try:
            return approval_loop.round_work(self, run_id, change, number, instruction, repair, rebase)
        except _CANCELLED:
            raise  # the run was cancelled: DBOS ends this workflow, nothing failed
        except Exception as err:  # one repo's fault leaves its PR as it was
            log.exception("round.failed", run_id=run_id, repo=change.repo, round=number)
            return RepoOutcome(repo=change.repo, status="failed", summary=describe(err), change=change)

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
    def take_step(self, run_id: str, attempt: int, loop: LoopState) -> Taken:
        """The run's next message, or park the run (or, in a blocking wait, record that it waits)."""
        key = f"{DBOS.workflow_id}#{DBOS.step_id}"
        mode: Literal["parked", "waiting"] = "parked" if self.deps.settings.park_waits else "waiting"
        message = self.deps.store.inbox.take(run_id, attempt, key, loop.model_dump(mode="json"), mode)
        return Taken(message=message, parked=message is None and mode == "parked")

    @DBOS.step()
    def loop_step(self, run_id: str, attempt: int) -> LoopState:
        fact = self.deps.store.get_fact(run_id, loop_key(attempt))
        return LoopState.model_validate(fact or {})

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
    def agent_step(self, task: AgentTask, agent: str, branch: str, head: str, name: str) -> StepOutcome:
        return activities.invoke_agent(self.deps, task, agent, branch, head, name)

    @DBOS.step()
    def checks_step(self, run_id: str, repo: str, branch: str, head: str, key: str) -> CheckOutcome:
        return changes.workspace_checks(self.deps, run_id, repo, branch, head, key)

    @DBOS.step()
    def push_step(self, run_id: str, repo: str, branch: str, head: str) -> str:
        return changes.push_branch(self.deps, run_id, repo, branch, head)

    @DBOS.step()
    def open_change_step(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        return changes.open_change(self.deps, run_id, repo, branch, title, body, order)

    @DBOS.step()
    def change_checks_step(self, change: ChangeSet) -> ChangeSet:
        return changes.change_checks(self.deps, change)

    @DBOS.step()
    def current_changes_step(self, run_id: str) -> list[ChangeSet]:
        return self.deps.store.changes(run_id)

    @DBOS.step()
    def invalidate_step(self, run_id: str, reason: str) -> None:
        if self.deps.store.invalidate_approvals(run_id):
            activities.Emitter(self.deps, run_id)("approval_invalidated", {"reason": reason})

    @DBOS.step()
    def expire_step(self, run_id: str) -> str:
        return expire_run(self.deps, run_id, expiry_reason(self.deps.config.approval.expiry_hours))

    @DBOS.step()
    def gate(self, run_id: str) -> GateVerdict:
        return gate_step(self.deps, run_id)

    @DBOS.step()
    def preflight(self, run_id: str, gate: GateVerdict, attempt: int, repos: list[str] | None = None) -> Preflight:
        return preflight_step(self.deps, run_id, gate, attempt, repos)

    @DBOS.step()
    def wave_gate(self, run_id: str, repos: list[str]) -> GateVerdict:
        return campaign_steps.wave_gate_step(self.deps, run_id, repos)

    @DBOS.step()
    def merge_changes(self, run_id: str, heads: dict[str, str]) -> dict[str, MergeOutcome]:
        return campaign_steps.merge_changes(self.deps, run_id, heads)

    @DBOS.step()
    def close_change_step(self, run_id: str, repo: str) -> ChangeSet:
        return campaign_steps.close_change(self.deps, run_id, repo)

    @DBOS.step()
    def campaign_step(self, run_id: str, state: CampaignState, summary: dict[str, Any]) -> None:
        campaign_steps.save_campaign(self.deps, run_id, state, summary)

    @DBOS.step()
    def rebase_step(self, run_id: str, attempt: int) -> list[str]:
        return rebase_repos(self.deps.store, run_id, attempt)

    @DBOS.step()
    def merge_change(self, run_id: str, repo: str, expected_sha: str) -> MergeOutcome:
        return merge_step(self.deps, run_id, repo, expected_sha)

    @DBOS.step()
    def integration_step(self, run_id: str, stage: str, key: str) -> IntegrationOutcome | None:
        return run_integration(self.deps, run_id, stage, key)

    @DBOS.step()
    def merge_base_step(self, run_id: str, repo: str, branch: str, head: str) -> tuple[str, list[str]]:
        return drift.merge_base(self.deps, run_id, repo, branch, head)

    @DBOS.step()
    def unresolved_step(self, run_id: str, repo: str, branch: str, head: str, files: list[str]) -> list[str]:
        return drift.unresolved(self.deps, run_id, repo, branch, head, files)

    @DBOS.step()
    def revert_plan_step(self, spec: RunSpec) -> list[revert.RevertItem] | str:
        return revert.revert_plan(self.deps, spec)

    @DBOS.step()
    def revert_commit_step(self, run_id: str, repo: str, branch: str, sha: str) -> str:
        return revert.revert_commit(self.deps, run_id, repo, branch, sha)
