"""The side-effecting work of a run: agents in workspaces, checks, pushes, PRs, merges, events.

Each function here is the body of one durable DBOS step (see runs.py), so it must be safe to
run again after a crash: it resets the workspace to the SHA the workflow recorded, looks PRs up
before opening them, and dedupes the events it writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from dbos import DBOS

from bot.domain.models import AgentResult, AgentStatus, AgentTask, DiffStats, RunState, utcnow
from bot.domain.ports import ChangeTooLarge, UnknownAgent
from bot.domain.records import Step, StepState
from bot.engine import budget as budgets
from bot.engine import step_refs, traced
from bot.engine.commit_message import commit_message
from bot.engine.deps import EngineDeps
from bot.engine.messages import StepOutcome
from bot.engine.repo_lease import RepoLease, homes_may_differ

log = structlog.get_logger(__name__)


def _loggable(data: dict[str, Any]) -> dict[str, Any]:
    """Event data fit for a log line: short values, no clash with the logger's own keys."""
    return {
        f"data_{k}" if k in ("event", "level", "timestamp") else k: (v[:200] if isinstance(v, str) else v)
        for k, v in data.items()
    }


class Emitter:
    """Writes a step's events with keys derived from the DBOS step, so a re-run step dedupes."""

    def __init__(self, deps: EngineDeps, run_id: str) -> None:
        self.deps = deps
        self.run_id = run_id
        self._n = 0
        wf, sid = DBOS.workflow_id, DBOS.step_id
        self._prefix = f"{wf}:{sid}" if wf is not None else None

    def done_key(self, step_key: str, agent: str) -> str | None:
        """Where this DBOS step records an agent's finished outcome (None outside a workflow); one
        DBOS step can run several agents at once (concurrent best-of), each under its own key."""
        return f"agent-done:{self._prefix}:{step_key}:{agent}" if self._prefix else None

    def next_key(self) -> str | None:
        """The dedupe key the next event will carry."""
        return f"{self._prefix}:{self._n + 1}" if self._prefix else None

    def __call__(self, kind: str, data: dict[str, Any], step: Step | None = None) -> None:
        """Append the event; with `step`, save the step's new state in the same transaction."""
        self._n += 1
        key = f"{self._prefix}:{self._n}" if self._prefix else None
        store = self.deps.store
        if step is None:
            event = store.append_event(self.run_id, kind, data, dedupe_key=key)
        else:
            event = store.save_step_with_event(step, kind, data, dedupe_key=key)
        if event is not None and kind != "agent_progress":
            log.info(kind, run_id=self.run_id, seq=event.seq, **_loggable(data))


def set_state(
    deps: EngineDeps,
    run_id: str,
    state: RunState,
    error: str | None = None,
    waiting_for: str | None = None,
) -> None:
    wf, sid = DBOS.workflow_id, DBOS.step_id
    key = f"{wf}:{sid}:state" if wf is not None else None
    if state.terminal and homes_may_differ(deps.settings):
        # Before the state: whoever sees the run ended sees its hidden refs gone too.
        step_refs.drop(deps, run_id)
    deps.store.set_state(run_id, state, error=error, waiting_for=waiting_for, dedupe_key=key)
    log.info("state", run_id=run_id, state=state.value, error=error, waiting_for=waiting_for)


def _stop_check(deps: EngineDeps, run_id: str, lease: RepoLease | None = None) -> Callable[[], bool]:
    """The agent's watch loop asks this: stop on a cancel, or once the repo's lease is lost."""
    last = [0.0, False]

    def should_stop() -> bool:
        if lease is not None and not lease.held():
            return True
        now = time.monotonic()
        if now - last[0] >= 0.25:
            last[0] = now
            last[1] = deps.store.cancel_requested(run_id)
        return bool(last[1])

    return should_stop


class _Progress:
    """Coalesce an agent's stream into at most two progress events a second; `flush` sends the
    last one held back, so the final token count of a short step is seen live too."""

    def __init__(self, emit: Emitter, step_key: str, on_start: Callable[[int], None] | None = None) -> None:
        self.emit, self.step_key, self.on_start = emit, step_key, on_start
        self.at = 0.0
        self.lines = 0
        self.held: dict[str, object] | None = None

    def __call__(self, kind: str, data: dict[str, object]) -> None:
        if kind == "process_started" and self.on_start is not None:
            self.on_start(int(str(data["pgid"])))  # which process group to kill if the step is abandoned
            return
        self.lines += 1
        event = {"step": self.step_key, "kind": kind, "lines": self.lines, **data}
        now = time.monotonic()
        if now - self.at >= 0.5:
            self.at = now
            self.held = None
            self.emit("agent_progress", event)
        else:
            self.held = event

    def flush(self) -> None:
        if self.held is not None:
            self.emit("agent_progress", self.held)
            self.held = None


def invoke_agent(
    deps: EngineDeps,
    task: AgentTask,
    agent_name: str,
    branch: str,
    expected_head: str,
    name: str,
    *,
    path: Path | None = None,
) -> StepOutcome:
    """Run one agent in the repo's workspace (or the worktree `path`) from `expected_head`, then
    commit what it changed."""
    emit = Emitter(deps, task.run_id)
    done_key = emit.done_key(task.step_key, agent_name)
    finished = _finished_before(deps, task.run_id, done_key)
    if finished is not None:
        return finished
    run = deps.store.get_run(task.run_id)
    assert run is not None
    if deps.store.cancel_requested(task.run_id):
        return StepOutcome(result=AgentResult(status=AgentStatus.cancelled, summary="cancelled"))
    elapsed = (utcnow() - run.created_at).total_seconds()
    reason = budgets.exceeded(run.spec.budget, run.usage, elapsed)
    if reason:
        result = AgentResult(status=AgentStatus.failed, summary=f"budget exceeded: {reason}")
        return StepOutcome(result=result, run_budget_exceeded=reason)

    try:
        agent = deps.agents.get(agent_name)
    except UnknownAgent as err:
        return StepOutcome(result=AgentResult(status=AgentStatus.failed, summary=str(err)))
    path = path or deps.workspace.locate(task.run_id, task.repo, branch)
    deps.workspace.reset_to(path, expected_head)
    step = Step(run_id=task.run_id, key=task.step_key, name=name, repo=task.repo, agent=agent_name)
    emit("step_started", {"step": task.step_key, "name": name, "repo": task.repo, "agent": agent_name}, step)

    deps.processes.stop_leftover(task.run_id, task.step_key)
    elsewhere = homes_may_differ(deps.settings)
    lease = RepoLease(deps.store, task.run_id, task.repo, DBOS.executor_id) if elsewhere else None
    if lease is not None:
        lease.claim()  # fences an agent an earlier holder of this repo may still be running elsewhere
    progress = _Progress(emit, task.step_key, partial(deps.processes.started, task.run_id, task.step_key))
    with traced.step(deps, name, agent=agent_name, repo=task.repo, step=task.step_key) as span:
        result = agent.run(task, path, _stop_check(deps, task.run_id, lease), progress)
        traced.record(span, result)
    progress.flush()
    deps.processes.finished(task.run_id, task.step_key)
    if lease is not None:
        lease.check()  # taken over while the agent ran: its work is not ours to record
    over = budgets.step_exceeded(deps.config.agent(agent_name).budget, result.usage)
    if over and result.ok:
        result = result.model_copy(update={"status": AgentStatus.failed, "summary": over})
    if result.ok:
        result = _commit(
            deps, path, expected_head, commit_message(task.prompt, name, result.summary, task.run_id), result
        )
    if not result.ok:
        deps.workspace.reset_to(path, expected_head)
    elif elsewhere and result.commit_sha and result.commit_sha != expected_head:
        step_refs.save(deps, path, task, result.commit_sha)
    total = deps.store.add_usage(task.run_id, result.usage)

    step.state = StepState.succeeded if result.ok else StepState.failed
    step.finished_at = utcnow()
    step.usage = result.usage
    step.detail = result.summary if result.ok else (result.summary or result.output_tail[-300:])
    data = {
        "step": task.step_key,
        "state": step.state.value,
        "agent": agent_name,
        "files": len(result.files_changed),
        "commit": result.commit_sha if result.ok else None,
        "summary": step.detail[:300],
        "cost_usd": total.cost_usd,
    }
    outcome = StepOutcome(result=result)
    if done_key:
        # Recorded before the step's end is announced: a process killed after this point (before
        # DBOS checkpoints the step) replays the outcome instead of running the agent again.
        record = {"outcome": outcome.model_dump(mode="json"), "step": step.model_dump(mode="json"), "event": data}
        deps.store.put_fact(task.run_id, done_key, {**record, "key": emit.next_key()})
    emit("step_finished", data, step)
    return outcome


def _commit(deps: EngineDeps, path: Path, base: str, message: str, result: AgentResult) -> AgentResult:
    """Commit what the agent changed and measure it from git (never from the agent's own words):
    stats and the commit SHA only — the diff stays in git. A change over `limits` fails the step."""
    try:
        sha = deps.workspace.commit_all(path, message)
        stats, files = deps.workspace.diff_stats(path, base, sha) if sha else (DiffStats(), [])
    except ChangeTooLarge as err:
        return result.model_copy(update={"status": AgentStatus.failed, "summary": str(err)})
    return result.model_copy(update={"commit_sha": sha or base, "diff_stats": stats, "files_changed": files})


def _finished_before(deps: EngineDeps, run_id: str, done_key: str | None) -> StepOutcome | None:
    """This DBOS step's outcome if its agent already finished in a process that then died (its
    `step_finished` event is written again if that death came before it; the key dedupes it)."""
    done = deps.store.get_fact(run_id, done_key) if done_key else None
    if done is None:
        return None
    step = Step.model_validate(done["step"])
    deps.store.save_step_with_event(step, "step_finished", done["event"], dedupe_key=done["key"])
    log.info("step_replayed", run_id=run_id, step=step.key, reason="its agent finished before a restart")
    return StepOutcome.model_validate(done["outcome"])


def invoke_planner(deps: EngineDeps, task: AgentTask, agent_name: str) -> AgentResult:
    """Run a planning agent in a scratch directory (it reads the request, not a repo)."""
    emit = Emitter(deps, task.run_id)
    workdir = deps.scratch / task.run_id
    workdir.mkdir(parents=True, exist_ok=True)
    step = Step(run_id=task.run_id, key=task.step_key, name="plan", agent=agent_name)
    deps.store.save_step(step)
    agent = deps.agents.get(agent_name)
    progress = _Progress(emit, "plan")
    with traced.step(deps, "plan", agent=agent_name, step=task.step_key) as span:
        result = agent.run(task, workdir, _stop_check(deps, task.run_id), progress)
        traced.record(span, result)
    progress.flush()
    deps.store.add_usage(task.run_id, result.usage)
    step.state = StepState.succeeded if result.ok else StepState.failed
    step.finished_at = utcnow()
    step.usage = result.usage
    step.detail = result.summary[:300]
    deps.store.save_step(step)
    return result


def approval_seconds_left(deps: EngineDeps, run_id: str) -> float:
    run = deps.store.get_run(run_id)
    assert run is not None
    deadline = run.created_at.timestamp() + deps.config.approval.expiry_hours * 3600
    return max(0.0, deadline - time.time())
