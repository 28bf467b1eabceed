"""The run's fan-out over an in-memory RunSteps: providers before consumers, wave by wave, within the
per-run concurrency, and a failing wave stops the run before anything downstream starts."""

from __future__ import annotations

from bot.domain.models import AgentResult, AgentStatus, AgentTask, RunState
from bot.engine import workflow
from bot.engine.messages import PARKED
from tests.fakes.run_steps import FakeSteps, config_for, spec_for

SIX_CLIENTS = {"api": [], **{f"client{i}": ["api"] for i in range(1, 7)}}


def test_the_provider_is_worked_before_any_of_its_consumers() -> None:
    steps = FakeSteps(config_for(SIX_CLIENTS), spec_for(list(SIX_CLIENTS)))
    workflow.run(steps, "run1", 1)
    assert steps.started[0] == "api"
    assert sorted(steps.started[1:]) == [f"client{i}" for i in range(1, 7)]


def test_consumers_run_at_most_per_run_at_once() -> None:
    config = config_for(SIX_CLIENTS, concurrency={"per_run": 2})
    steps = FakeSteps(config, spec_for(list(SIX_CLIENTS)))
    workflow.run(steps, "run1", 1)
    assert len(steps.started) == 7
    assert steps.most_in_flight == 2


def test_a_failed_provider_stops_the_run_before_its_consumers_start() -> None:
    def broken_api(task: AgentTask, agent: str) -> AgentResult:
        if task.repo == "api":
            return AgentResult(status=AgentStatus.failed, summary="compile error")
        return AgentResult(status=AgentStatus.succeeded, summary="ok")

    steps = FakeSteps(config_for(SIX_CLIENTS), spec_for(list(SIX_CLIENTS)), agent=broken_api)
    assert workflow.run(steps, "run1", 1) == RunState.failed.value
    assert steps.started == ["api"]
    assert steps.state is RunState.failed
    assert "api" in (steps.states[-1][1] or "")


def test_every_repo_gets_one_pr_in_plan_order_then_the_run_waits_for_approval() -> None:
    steps = FakeSteps(config_for({"api": [], "web": ["api"]}), spec_for(["web", "api"]))
    assert workflow.run(steps, "run1", 1) == PARKED
    assert [c.repo for c in steps.current_changes_step("run1")] == ["api", "web"]
    assert steps.states[-1] == (RunState.awaiting_approval, None, "approval")
    assert steps.event_kinds().count("approval_requested") == 1


def test_a_repo_whose_agent_changes_nothing_fails_with_no_pr() -> None:
    steps = FakeSteps(config_for({"api": []}), spec_for(["api"]))
    steps.agent = lambda task, agent: AgentResult(status=AgentStatus.succeeded, commit_sha="api-base")
    assert workflow.run(steps, "run1", 1) == RunState.failed.value
    assert steps.changes == {}
    assert "no diff" in (steps.states[-1][1] or "")


def test_a_repo_finished_before_a_restart_is_not_worked_again() -> None:
    steps = FakeSteps(config_for({"api": []}), spec_for(["api"]))
    workflow.run(steps, "run1", 1)
    calls = len(steps.agent_calls)
    workflow.run(steps, "run1", 1)  # the workflow replayed from the start, as after a crash
    assert len(steps.agent_calls) == calls
