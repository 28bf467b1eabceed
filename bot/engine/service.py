"""The run service: everything the edge (chat, trackers, the terminal), the clock and the CLI do with
runs — start one, decide on it, ask for more, cancel, retry, raise its budget — in one narrow place.

Handlers, the scheduler and the CLI see it as `commands.RunCommands`; none of them sees the
composition root.
Every command is recorded (events, audit) and reaches the run's workflow as a message (`Dispatch`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from bot.config.models import BatonFile
from bot.domain.models import Actor, Budget, Decision, RunSpec, RunState
from bot.engine.approvals import ApprovalService, DecisionResult
from bot.engine.dispatch import Dispatch
from bot.engine.ids import BUDGET_TOPIC, workflow_id
from bot.engine.merge_train import retargeted
from bot.engine.messages import CLOSE, DECISION_TOPIC, DROP, EXPIRE, FOLLOW_UP, RECHECK, RETRY_FAILED, SKIP
from bot.engine.revert_spec import REVERT_FACT, refusal, revert_spec
from bot.store.audit import AuditKind
from bot.store.store import Store

StopAgents = Callable[[str], int]
"""Kill every agent of a run still running on this host; returns how many were stopped."""


class RunService:
    def __init__(
        self,
        store: Store,
        config: BatonFile,
        approvals: ApprovalService,
        dispatch: Dispatch,
        stop_agents: StopAgents,
    ) -> None:
        self.store = store
        self.config = config
        self.approvals = approvals
        self.dispatch = dispatch
        self._stop_agents = stop_agents

    # -- starting ----------------------------------------------------------------------------------
    def submit(self, spec: RunSpec, before_start: Callable[[str], None] | None = None) -> str:
        """Record and start a run; a second submit of the same spec joins the first.

        `before_start(run_id)` runs after the run is recorded and before its workflow can start
        (a source's first reply: the status card is in the thread before any agent work)."""
        if self.store.create_run(spec):
            self.store.audit.triggered(spec)
        if before_start is not None:
            with structlog.contextvars.bound_contextvars(run_id=spec.run_id):  # its log lines are the run's
                before_start(spec.run_id)
        run = self.store.get_run(spec.run_id)
        self.dispatch.enqueue_run(spec.run_id, run.attempt if run else 1)
        return spec.run_id

    def resume_claimed(self) -> int:
        """Enqueue again the continuation of every claimed run (see `Dispatch.resume_claimed`)."""
        return self.dispatch.resume_claimed()

    def has_active_runs(self) -> bool:
        """Whether any run is doing work now (runs waiting for a person do not count)."""
        busy = {RunState.queued, RunState.planning, RunState.working, RunState.merging}
        return any(r.state in busy and r.waiting_for is None for r in self.store.list_runs(limit=1000))

    # -- people's decisions ------------------------------------------------------------------------
    def decide(
        self,
        run_id: str,
        actor: Actor,
        decision: Decision,
        reason: str = "",
        seen_shas: dict[str, str] | None = None,
        *,
        not_before: datetime | None = None,
        seen_digest: str | None = None,
    ) -> DecisionResult:
        """See `ApprovalService.decide`; `not_before` is when the person decided (a comment's time)."""
        return self.approvals.decide(
            run_id, actor, decision, reason, seen_shas=seen_shas, not_before=not_before, seen_digest=seen_digest
        )

    def follow_up(self, run_id: str, actor: Actor, instruction: str, *, repair: bool = False) -> DecisionResult:
        result = self._follow_up(run_id, actor, instruction, repair=repair)
        return self._audited(AuditKind.follow_up, actor, run_id, result)

    def _follow_up(self, run_id: str, actor: Actor, instruction: str, *, repair: bool = False) -> DecisionResult:
        """Another round of work on the run's own branches: the same PRs get new commits and any
        approval is void. Queued if the run is still working; refused once it has ended."""
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if run.state.terminal:
            return DecisionResult(
                accepted=False,
                message=f"run {run_id} is already {run.state.value}; ask for the change as a new request",
            )
        if not instruction.strip() and not repair:
            return DecisionResult(accepted=False, message="say what to change after the mention")
        kind = "repair" if repair else "follow_up"
        self.store.append_event(run_id, f"{kind}_requested", {"actor": actor.key, "instruction": instruction[:500]})
        message = {"decision": FOLLOW_UP, "instruction": instruction, "actor": actor.key, "repair": repair}
        self.dispatch.notify(run_id, message)
        when = "now" if run.state is RunState.awaiting_approval else "when the current work is done"
        return DecisionResult(accepted=True, message=f"follow-up queued for run {run_id}: the agent starts {when}")

    def base_changed(self, run_id: str, repo: str, base: str, by: str) -> str | None:
        return retargeted(self.store, run_id, repo, base, by)

    def recheck(self, run_id: str) -> None:
        """Something the approval gate reads changed (a PR's checks finished): evaluate it again."""
        run = self.store.get_run(run_id)
        if run is not None and run.state is RunState.awaiting_approval:
            self.dispatch.notify(run_id, {"decision": RECHECK})

    def expire(self, run_id: str) -> None:
        """The run's approval window closed (the scheduler's expiry job): it ends expired."""
        run = self.store.get_run(run_id)
        if run is not None and run.state is RunState.awaiting_approval:
            self.dispatch.notify(run_id, {"decision": EXPIRE})

    # -- stopping and going again --------------------------------------------------------------------
    def cancel(self, run_id: str, actor: Actor) -> DecisionResult:
        return self._audited(AuditKind.cancellation, actor, run_id, self._cancel(run_id, actor))

    def _cancel(self, run_id: str, actor: Actor) -> DecisionResult:
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if run.state.terminal:
            return DecisionResult(accepted=False, message=f"run {run_id} is already {run.state.value}")
        self.store.request_cancel(run_id)
        self.store.append_event(run_id, "cancel_requested", {"actor": actor.key})
        self.store.set_state(run_id, RunState.cancelled, error=f"cancelled by {actor.key}")
        # Wake whatever waits for a person (the run for a decision, a repo for budget), then stop
        # every workflow of the run; running agents see the request and are killed.
        message = {"decision": Decision.cancel.value, "actor": actor.key}
        own = workflow_id(run_id, run.attempt)
        statuses = self.dispatch.run_workflows(run_id, run.attempt)
        for status in statuses:
            if status.status == "PENDING":
                self.dispatch.send(
                    status.workflow_id, message, DECISION_TOPIC if status.workflow_id == own else BUDGET_TOPIC
                )
        for status in statuses:
            self.dispatch.cancel(status.workflow_id)
        self._stop_agents(run_id)
        return DecisionResult(accepted=True, message=f"run {run_id} cancelled")

    def retry(self, run_id: str, actor: Actor) -> DecisionResult:
        return self._audited(AuditKind.retry, actor, run_id, self._retry(run_id, actor))

    def _retry(self, run_id: str, actor: Actor) -> DecisionResult:
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if not run.state.terminal and self._campaign(run.spec.playbook):
            return self._tell_campaign(run_id, actor, {"decision": RETRY_FAILED}, "retrying its failed repos")
        if run.state not in (RunState.failed, RunState.expired, RunState.cancelled):
            return DecisionResult(accepted=False, message=f"run {run_id} is {run.state.value}; only failed runs retry")
        attempt = run.attempt + 1
        self.store.inbox.reset(run_id)  # no wait of an earlier attempt may be claimed
        self.store.set_attempt(run_id, attempt)
        self.store.clear_cancel(run_id)
        self.store.invalidate_approvals(run_id)
        self.store.append_event(run_id, "retry", {"actor": actor.key, "attempt": attempt})
        self.store.set_state(run_id, RunState.queued)
        self.dispatch.enqueue_run(run_id, attempt)
        return DecisionResult(accepted=True, message=f"run {run_id} retrying (attempt {attempt})")

    def revert(self, run_id: str, actor: Actor, before_start: Callable[[str], None] | None = None) -> DecisionResult:
        return self._audited(AuditKind.revert, actor, run_id, self._revert(run_id, actor, before_start))

    def _revert(self, run_id: str, actor: Actor, before_start: Callable[[str], None] | None) -> DecisionResult:
        """Start the revert run of a merged run (bot/engine/revert.py); asked again, it is the same run."""
        run = self.store.get_run(run_id)
        why = refusal(run, run_id)
        if why or run is None:
            return DecisionResult(accepted=False, message=why or f"no run {run_id}")
        spec = revert_spec(run, actor, delivery_id=f"revert:{run_id}")
        known = self.store.get_fact(run_id, REVERT_FACT)
        if not known:
            self.store.put_fact(run_id, REVERT_FACT, {"run_id": spec.run_id})
            self.store.append_event(run_id, "revert_requested", {"actor": actor.key, "revert_run": spec.run_id})
        self.submit(spec, before_start)
        return DecisionResult(
            accepted=True,
            message=(
                f"revert run {spec.run_id} opens revert PRs for {', '.join(spec.repos)} in reverse merge order; "
                "they merge only after an authorised approval"
            ),
        )

    def drop_repo(self, run_id: str, actor: Actor, repo: str) -> DecisionResult:
        return self._audited(AuditKind.plan_change, actor, run_id, self._drop_repo(run_id, actor, repo))

    def _drop_repo(self, run_id: str, actor: Actor, repo: str) -> DecisionResult:
        """Take `repo` out of the plan awaiting approval: the requester, or anyone who may approve
        the run, may narrow it (never widen it); the run's workflow drops it and shows the new plan."""
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if run.state is not RunState.awaiting_approval or run.waiting_for != "plan":
            return DecisionResult(
                accepted=False,
                message=f"run {run_id} is not waiting for its plan's approval; repos drop only from a plan",
            )
        planned = [e for e in self.store.events(run_id) if e.kind == "plan_ready"]
        order = [str(r) for r in planned[-1].data.get("order", [])] if planned else []
        if repo not in order:
            return DecisionResult(
                accepted=False, message=f"`{repo}` is not in the plan ({', '.join(order) or 'empty'})"
            )
        if actor.key != run.spec.trigger.actor.key:
            why = self.approvals.refusal(actor, run)
            if why:
                return DecisionResult(accepted=False, message=why)
        self.dispatch.notify(run_id, {"decision": DROP, "repo": repo, "actor": actor.key})
        return DecisionResult(accepted=True, message=f"dropping {repo} from run {run_id}'s plan")

    # -- campaigns --------------------------------------------------------------------------------------
    def skip(self, run_id: str, actor: Actor, repo: str) -> DecisionResult:
        """Drop one repo from a campaign (its open PR closed or left per `campaign.on_close`)."""
        run = self.store.get_run(run_id)
        if run is None or repo not in run.spec.repos:
            return self._audited(AuditKind.cancellation, actor, run_id, DecisionResult(
                accepted=False, message=f"no repo {repo} in run {run_id}"))  # fmt: skip
        result = self._tell_campaign(run_id, actor, {"decision": SKIP, "repo": repo}, f"skipping {repo}")
        return self._audited(AuditKind.cancellation, actor, run_id, result)

    def close(self, run_id: str, actor: Actor) -> DecisionResult:
        """End a campaign: nothing more starts or merges; its open PRs are closed or left per policy."""
        result = self._tell_campaign(run_id, actor, {"decision": CLOSE}, "closing it")
        return self._audited(AuditKind.cancellation, actor, run_id, result)

    def _campaign(self, playbook: str) -> bool:
        try:
            return self.config.playbook(playbook).campaign is not None
        except KeyError:
            return False

    def _tell_campaign(self, run_id: str, actor: Actor, message: dict[str, str], doing: str) -> DecisionResult:
        """A command for a campaign's workflow: taken at its next wait (now, if it waits)."""
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if not self._campaign(run.spec.playbook):
            return DecisionResult(accepted=False, message=f"run {run_id} is not a campaign")
        if run.state.terminal:
            return DecisionResult(accepted=False, message=f"run {run_id} is already {run.state.value}")
        self.store.append_event(run_id, f"campaign_{message['decision']}_requested", {"actor": actor.key, **message})
        self.dispatch.notify(run_id, {**message, "actor": actor.key})
        return DecisionResult(accepted=True, message=f"campaign {run_id}: {doing}")

    def extend_budget(self, run_id: str, actor: Actor, budget: Budget) -> DecisionResult:
        run = self.store.get_run(run_id)
        if run is None or run.waiting_for != "budget":
            return DecisionResult(accepted=False, message=f"run {run_id} is not waiting for budget")
        self.store.update_budget(run_id, run.spec.budget.merged_with(budget))
        self.store.append_event(run_id, "budget_extended", {"actor": actor.key, **budget.model_dump()})
        message = {"decision": Decision.extend_budget.value, "actor": actor.key}
        own = workflow_id(run_id, run.attempt)
        for status in self.dispatch.run_workflows(run_id, run.attempt, pending_only=True):
            if status.workflow_id != own:  # each repo waiting for budget; the run's own waits for people
                self.dispatch.send(status.workflow_id, message, BUDGET_TOPIC)
        return DecisionResult(accepted=True, message="budget extended")

    def _audited(self, kind: AuditKind, actor: Actor, run_id: str, result: DecisionResult) -> DecisionResult:
        """Record a command on a run in the audit trail (accepted, or refused and why) with its PRs' heads."""
        heads = {c.repo: c.head_sha for c in self.store.changes(run_id)}
        self.store.audit.command(kind, actor, run_id, result.message, accepted=result.accepted, shas=heads)
        return result
