"""A campaign over an in-memory RunSteps: the canary before the rest, at most `max_open_prs` PRs
open, approvals per wave, failures marked per repo, `retry` re-working only the failed repos,
`skip`, `close`."""

from __future__ import annotations

from typing import Any

from bot.domain.models import AgentResult, AgentStatus, AgentTask, ChangeState, RunState
from bot.engine import workflow
from bot.engine.messages import CLOSE, PARKED, RETRY_FAILED, SKIP
from tests.fakes.run_steps import FakeSteps, config_for, spec_for

CLIENTS = [f"client{i:02d}" for i in range(1, 13)]
SET = {"api": [], **{c: ["api"] for c in CLIENTS}}


def campaign(steps_kw: dict[str, Any] | None = None, **policy: Any) -> FakeSteps:
    config = config_for(SET, playbooks={"default": {"campaign": {"canary": 3, "max_open_prs": 4, **policy}}})
    return FakeSteps(config, spec_for(list(SET)), **(steps_kw or {}))


def failing(*repos: str, once: bool = False) -> Any:
    failed: set[str] = set()

    def run(task: AgentTask, agent: str) -> AgentResult:
        if task.repo in repos and not (once and task.repo in failed):
            failed.add(task.repo)
            return AgentResult(status=AgentStatus.failed, summary=f"{task.repo}: compile error")
        return AgentResult(status=AgentStatus.succeeded, summary="ok", files_changed=["x"])

    return run


def approve_until_parked_or_done(steps: FakeSteps, verdict: str, limit: int = 40) -> str:
    """Approve every wave as it asks, until the campaign ends or waits for something else."""
    for _ in range(limit):
        if verdict != PARKED or steps.states[-1][2] != "approval":
            return verdict
        steps.approve()
        verdict = workflow.resume(steps, "run1", 1)
    return verdict


def test_the_rest_start_only_after_the_canary_is_green() -> None:
    steps = campaign({"red": {"client01"}, "fixed_by_round": False})
    assert workflow.run(steps, "run1", 1) == PARKED
    assert steps.started == ["api", "client01", "client02"]


def test_the_canary_is_the_first_repos_worked_providers_first() -> None:
    steps = campaign()
    workflow.run(steps, "run1", 1)
    assert steps.started[:3] == ["api", "client01", "client02"]
    assert len(steps.started) == 4  # then one more: four PRs open at most


def test_never_more_than_max_open_prs_are_open_and_all_merge_provider_first() -> None:
    steps = campaign()
    verdict = approve_until_parked_or_done(steps, workflow.run(steps, "run1", 1))
    assert verdict == RunState.merged.value
    assert steps.most_open == 4
    assert steps.merged[0] == "api"
    assert sorted(steps.merged) == sorted(SET)


def test_agents_within_a_campaign_run_at_most_max_concurrent_agents_at_once() -> None:
    steps = campaign(max_open_prs=None, max_concurrent_agents=2)
    workflow.run(steps, "run1", 1)
    assert len(steps.started) == len(SET)
    assert steps.most_in_flight == 2


def test_an_approval_covers_only_the_prs_open_when_it_was_given() -> None:
    steps = campaign()
    workflow.run(steps, "run1", 1)
    first_wave = sorted(steps.changes)
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert sorted(steps.merged) == first_wave
    assert steps.states[-1][2] == "approval"  # the next wave waits for its own approval
    waiting = [r for r, c in steps.changes.items() if c.state is ChangeState.open]
    assert len(waiting) == 4 and not set(waiting) & set(first_wave)


def test_a_failed_repo_is_marked_and_the_others_merge() -> None:
    steps = campaign({"agent": failing("client07")})
    verdict = approve_until_parked_or_done(steps, workflow.run(steps, "run1", 1))
    assert verdict == PARKED and steps.states[-1][2] == "campaign"
    assert sorted(steps.merged) == sorted(r for r in SET if r != "client07")
    progress = [data for kind, data in steps.events if kind == "campaign_progress"][-1]
    assert progress["counts"]["failed"] == 1
    assert [f["repo"] for f in progress["failing"]] == ["client07"]
    assert "client07: compile error" in progress["failing"][0]["reason"]


def test_retry_works_only_the_failed_repos_again() -> None:
    steps = campaign({"agent": failing("client07", once=True)})
    approve_until_parked_or_done(steps, workflow.run(steps, "run1", 1))
    before = list(steps.started)
    steps.say(RETRY_FAILED)
    verdict = approve_until_parked_or_done(steps, workflow.resume(steps, "run1", 1))
    assert verdict == RunState.merged.value
    assert steps.started[len(before) :] == ["client07"]
    assert "client07" in steps.merged


def test_retry_repairs_a_pr_whose_checks_are_red_on_its_own_branch() -> None:
    steps = campaign({"red": {"client05"}})
    approve_until_parked_or_done(steps, workflow.run(steps, "run1", 1))
    steps.say(RETRY_FAILED)
    verdict = approve_until_parked_or_done(steps, workflow.resume(steps, "run1", 1))
    assert verdict == RunState.merged.value
    assert [s for s in steps.started if s.startswith("client05")] == ["client05", "client05#1"]


def test_skip_drops_a_failed_repo_and_the_campaign_ends_merged() -> None:
    steps = campaign({"agent": failing("client07")})
    approve_until_parked_or_done(steps, workflow.run(steps, "run1", 1))
    steps.say(SKIP, repo="client07")
    verdict = approve_until_parked_or_done(steps, workflow.resume(steps, "run1", 1))
    assert verdict == RunState.merged.value
    assert "client07" not in steps.merged
    assert len(steps.merged) == len(SET) - 1


def test_skip_closes_the_repos_open_pr_when_the_policy_says_close() -> None:
    steps = campaign({"red": {"client05"}, "fixed_by_round": False}, on_close="close")
    approve_until_parked_or_done(steps, workflow.run(steps, "run1", 1))
    steps.say(SKIP, repo="client05")
    approve_until_parked_or_done(steps, workflow.resume(steps, "run1", 1))
    assert steps.closed == ["client05"]
    assert steps.changes["client05"].state is ChangeState.closed


def test_close_ends_the_campaign_closing_its_open_prs_per_policy() -> None:
    steps = campaign(on_close="close")
    workflow.run(steps, "run1", 1)
    open_prs = sorted(steps.changes)
    steps.say(CLOSE, actor="ops")
    assert workflow.resume(steps, "run1", 1) == RunState.cancelled.value
    assert sorted(steps.closed) == open_prs
    assert steps.merged == []
    assert len(steps.started) == 4  # nothing queued started after the close


def test_close_leaves_the_open_prs_open_when_the_policy_says_leave() -> None:
    steps = campaign()
    workflow.run(steps, "run1", 1)
    steps.say(CLOSE, actor="ops")
    assert workflow.resume(steps, "run1", 1) == RunState.cancelled.value
    assert steps.closed == []
    assert all(c.state is ChangeState.open for c in steps.changes.values())


def test_with_canary_approval_the_rest_start_only_after_the_canary_merged() -> None:
    steps = campaign(canary_approval=True)
    workflow.run(steps, "run1", 1)
    assert steps.started == ["api", "client01", "client02"]
    steps.approve()
    workflow.resume(steps, "run1", 1)
    assert sorted(steps.merged) == ["api", "client01", "client02"]
    assert steps.started[3:] == ["client03", "client04", "client05", "client06"]


def test_a_conflict_before_merging_fails_only_the_conflicting_repo() -> None:
    steps = campaign({"conflicts": {"client02"}})
    workflow.run(steps, "run1", 1)
    steps.approve()
    workflow.resume(steps, "run1", 1)
    progress = [data for kind, data in steps.events if kind == "campaign_progress"][-1]
    assert [f["repo"] for f in progress["failing"]] == ["client02"]


def test_retry_merges_a_green_pr_whose_merge_was_refused_without_working_it_again() -> None:
    steps = campaign({"refused_push": {"client05"}})
    approve_until_parked_or_done(steps, workflow.run(steps, "run1", 1))
    assert "client05" not in steps.merged
    steps.refused_push.clear()  # the remote takes pushes again
    started = list(steps.started)
    steps.say(RETRY_FAILED)
    assert approve_until_parked_or_done(steps, workflow.resume(steps, "run1", 1)) == RunState.merged.value
    assert steps.started == started
    assert "client05" in steps.merged


def test_approved_prs_with_no_dependency_between_them_merge_together_after_their_provider() -> None:
    steps = campaign()
    workflow.run(steps, "run1", 1)
    steps.approve()
    workflow.resume(steps, "run1", 1)
    assert steps.merge_layers == [["api"], ["client01", "client02", "client03"]]
