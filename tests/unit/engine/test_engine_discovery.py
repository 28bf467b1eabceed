"""A discovered plan's life in the workflow, over the in-memory RunSteps: a repo dropped from the
plan before approval is never worked, and consumers build on their providers' PRs (prompt context,
`Depends-On` lines)."""

from __future__ import annotations

from bot.agents.cli import task_prompt
from bot.domain.models import AgentResult, AgentStatus, AgentTask, RunState
from bot.engine import workflow
from bot.engine.messages import DROP, PARKED
from tests.fakes.run_steps import REVIEWER, FakeSteps, config_for, spec_for

API_AND_CLIENTS = {"api": [], "web": ["api"], "mobile": ["api"]}


def _plan_approval(repos: list[str]) -> FakeSteps:
    config = config_for(API_AND_CLIENTS, approval={"approve_plan": True})
    return FakeSteps(config, spec_for(repos))


def test_a_repo_dropped_from_the_plan_is_never_worked() -> None:
    steps = _plan_approval(["api", "web", "mobile"])
    assert workflow.run(steps, "run1", 1) == PARKED
    steps.say(DROP, repo="web", actor=REVIEWER.key)
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == PARKED  # now waiting for the PRs' approval
    assert steps.started == ["api", "mobile"]
    assert sorted(steps.changes) == ["api", "mobile"]


def test_the_plan_is_announced_again_without_the_dropped_repo() -> None:
    steps = _plan_approval(["api", "web", "mobile"])
    workflow.run(steps, "run1", 1)
    steps.say(DROP, repo="mobile", actor=REVIEWER.key)
    workflow.resume(steps, "run1", 1)
    plans = [data for kind, data in steps.events if kind == "plan_ready"]
    assert [p["order"] for p in plans] == [["api", "web", "mobile"], ["api", "web"]]
    assert ("repo_dropped", {"repo": "mobile", "actor": REVIEWER.key}) in steps.events


def test_dropping_a_repo_not_in_the_plan_changes_nothing() -> None:
    steps = _plan_approval(["api", "web"])
    workflow.run(steps, "run1", 1)
    steps.say(DROP, repo="mobile", actor=REVIEWER.key)
    steps.approve()
    workflow.resume(steps, "run1", 1)
    assert steps.started == ["api", "web"]
    assert ("drop_ignored", {"repo": "mobile", "reason": "not in the plan"}) in steps.events


def test_dropping_every_repo_cancels_the_run() -> None:
    steps = _plan_approval(["api"])
    workflow.run(steps, "run1", 1)
    steps.say(DROP, repo="api", actor=REVIEWER.key)
    assert workflow.resume(steps, "run1", 1) == RunState.cancelled.value
    assert steps.started == []
    assert steps.states[-1] == (RunState.cancelled, "every repo was dropped from the plan", None)


def test_a_consumer_pr_body_carries_a_depends_on_line_per_provider() -> None:
    config = config_for({"api": [], "auth": [], "web": ["api", "auth"]})
    steps = FakeSteps(config, spec_for(["api", "auth", "web"]))
    workflow.run(steps, "run1", 1)
    depends = [line for line in steps.bodies["web"].splitlines() if line.startswith("Depends-On:")]
    assert depends == ["Depends-On: local://api/pull/1", "Depends-On: local://auth/pull/1"]


def test_a_provider_pr_body_has_no_depends_on_line() -> None:
    steps = FakeSteps(config_for(API_AND_CLIENTS), spec_for(["api", "web"]))
    workflow.run(steps, "run1", 1)
    assert "Depends-On:" not in steps.bodies["api"]


def test_a_consumer_agent_prompt_carries_the_provider_change() -> None:
    prompts: dict[str, str] = {}

    def agent(task: AgentTask, name: str) -> AgentResult:
        prompts[task.repo] = task_prompt(task)  # what a CLI agent is told
        return AgentResult(status=AgentStatus.succeeded, summary=f"renamed the route in {task.repo}")

    steps = FakeSteps(config_for(API_AND_CLIENTS), spec_for(["api", "web"]), agent=agent)
    workflow.run(steps, "run1", 1)
    provider = steps.changes["api"]
    assert "renamed the route in api" in prompts["web"]
    assert f"PR {provider.url}" in prompts["web"]
    assert f"head {provider.head_sha}" in prompts["web"]
    assert "consumes changes" not in prompts["api"]
