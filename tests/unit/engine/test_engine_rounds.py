"""Follow-up and repair rounds over an in-memory RunSteps: more work on the run's own branches,
approvals of the old heads void, and repairs only where the checks are red."""

from __future__ import annotations

from bot.domain.models import AgentResult, AgentStatus, AgentTask, Decision, RunState
from bot.engine import workflow
from bot.engine.messages import PARKED
from tests.fakes.run_steps import FakeSteps, config_for, spec_for

API_AND_WEB = {"api": [], "web": ["api"]}


def test_a_follow_up_works_every_open_pr_again_and_asks_for_approval_again() -> None:
    steps = FakeSteps(config_for(API_AND_WEB), spec_for(["api", "web"]))
    workflow.run(steps, "run1", 1)
    heads = {c.repo: c.head_sha for c in steps.current_changes_step("run1")}
    steps.follow_up("also rename the docs")
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert sorted(steps.started[2:]) == ["api#1", "web#1"]
    new_heads = {c.repo: c.head_sha for c in steps.current_changes_step("run1")}
    assert all(new_heads[r] != heads[r] for r in heads)
    assert steps.event_kinds().count("approval_requested") == 2


def test_a_follow_up_voids_an_approval_given_before_it() -> None:
    steps = FakeSteps(config_for(API_AND_WEB, approval={"min_approvals": 2}), spec_for(["api", "web"]))
    workflow.run(steps, "run1", 1)
    steps.approve()
    workflow.resume(steps, "run1", 1)  # one of two approvals: still waiting
    steps.follow_up("one more thing")
    workflow.resume(steps, "run1", 1)
    assert "approval_invalidated" in steps.event_kinds()
    assert not any(a.valid for a in steps.approvals)


def test_the_follow_up_instruction_reaches_the_agent_with_the_request() -> None:
    prompts: list[str] = []

    def record(task: AgentTask, agent: str) -> AgentResult:
        prompts.append(task.prompt)
        return AgentResult(status=AgentStatus.succeeded, summary="done")

    steps = FakeSteps(config_for({"api": []}), spec_for(["api"]), agent=record)
    workflow.run(steps, "run1", 1)
    steps.follow_up("keep the old path as an alias")
    workflow.resume(steps, "run1", 1)
    assert prompts[-1].startswith("Rename /v1/items to /v1/products")
    assert "Follow-up request (round 1):\nkeep the old path as an alias" in prompts[-1]


def test_red_pr_checks_start_a_repair_round_on_that_repo_only() -> None:
    config = config_for(API_AND_WEB, approval={"repair_on_failed_checks": 1})
    steps = FakeSteps(config, spec_for(["api", "web"]), red={"web"})
    assert workflow.run(steps, "run1", 1) == PARKED
    assert steps.started == ["api", "web", "web#1"]
    assert [c.checks.value for c in steps.current_changes_step("run1")] == ["passed", "passed"]
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.merged.value


def test_repairs_stop_at_the_policy_limit_and_say_so() -> None:
    config = config_for(API_AND_WEB, approval={"repair_on_failed_checks": 2})
    steps = FakeSteps(config, spec_for(["api", "web"]), red={"web"}, fixed_by_round=False)
    assert workflow.run(steps, "run1", 1) == PARKED
    assert steps.started == ["api", "web", "web#1", "web#2"]
    assert ("repair_exhausted", {"rounds": 2, "repos": ["web"]}) in steps.events


def test_a_round_that_changes_nothing_keeps_the_pr_as_it_was() -> None:
    steps = FakeSteps(config_for({"api": []}), spec_for(["api"]))
    workflow.run(steps, "run1", 1)
    head = steps.current_changes_step("run1")[0].head_sha
    steps.agent = lambda task, agent: AgentResult(status=AgentStatus.succeeded, commit_sha=head)
    steps.follow_up("nothing to do really")
    workflow.resume(steps, "run1", 1)
    assert ("round_finished", {"round": 1, "kind": "follow_up", "results": {"api": "unchanged"}}) in steps.events


def test_a_cancel_while_waiting_ends_the_run_cancelled() -> None:
    steps = FakeSteps(config_for({"api": []}), spec_for(["api"]))
    workflow.run(steps, "run1", 1)
    steps.say(Decision.cancel.value)
    assert workflow.resume(steps, "run1", 1) == RunState.cancelled.value
    assert steps.merged == []


def test_a_spent_budget_pauses_the_repo_until_it_is_raised() -> None:
    steps = FakeSteps(config_for({"api": []}), spec_for(["api"]))
    real = steps.agent_step
    asked: list[int] = []

    def over_budget_once(task, agent, branch, head, name):  # type: ignore[no-untyped-def]
        outcome = real(task, agent, branch, head, name)
        if not asked:
            asked.append(1)
            return outcome.model_copy(update={"run_budget_exceeded": "spent $5.00 of $5.00"})
        return outcome

    steps.agent_step = over_budget_once  # type: ignore[method-assign]
    steps.budget_messages.append({"decision": Decision.extend_budget.value})
    assert workflow.run(steps, "run1", 1) == PARKED
    assert ("budget_exceeded", {"repo": "api", "reason": "spent $5.00 of $5.00"}) in steps.events
    assert (RunState.working, None, "budget") in steps.states
    assert len(steps.changes) == 1


def test_a_budget_not_raised_fails_that_repo() -> None:
    steps = FakeSteps(config_for({"api": []}), spec_for(["api"]))
    real = steps.agent_step

    def always_over(task, agent, branch, head, name):  # type: ignore[no-untyped-def]
        return real(task, agent, branch, head, name).model_copy(update={"run_budget_exceeded": "spent"})

    steps.agent_step = always_over  # type: ignore[method-assign]
    assert workflow.run(steps, "run1", 1) == RunState.failed.value
    assert steps.changes == {}
