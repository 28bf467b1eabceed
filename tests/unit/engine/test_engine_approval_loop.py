"""The approval loop over an in-memory RunSteps: a parked run goes on when a person decides, the gate
holds only for approvals bound to the current heads, and the merge train merges in plan order."""

from __future__ import annotations

from bot.domain.models import Decision, RunState
from bot.engine import workflow
from bot.engine.messages import EXPIRE, PARKED, RECHECK
from tests.fakes.run_steps import REQUESTER, FakeSteps, config_for, spec_for

API_AND_CLIENTS = {"api": [], "web": ["api"], "mobile": ["api"]}


def _waiting(**sections: object) -> FakeSteps:
    steps = FakeSteps(config_for(API_AND_CLIENTS, **sections), spec_for(["mobile", "web", "api"]))
    assert workflow.run(steps, "run1", 1) == PARKED
    return steps


def test_an_approval_merges_the_train_providers_first() -> None:
    steps = _waiting()
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.merged.value
    assert steps.merged[0] == "api"
    assert sorted(steps.merged[1:]) == ["mobile", "web"]
    assert [s for s, _, _ in steps.states][-2:] == [RunState.merging, RunState.merged]


def test_a_rejection_ends_the_run_without_merging() -> None:
    steps = _waiting()
    steps.say(Decision.reject.value, reason="wrong approach")
    assert workflow.resume(steps, "run1", 1) == RunState.rejected.value
    assert steps.merged == []
    assert steps.states[-1] == (RunState.rejected, "wrong approach", None)


def test_the_window_closing_expires_the_run() -> None:
    steps = _waiting()
    steps.say(EXPIRE)
    assert workflow.resume(steps, "run1", 1) == RunState.expired.value
    assert steps.merged == []


def test_a_recheck_without_an_approval_parks_the_run_again_quietly() -> None:
    steps = _waiting()
    steps.say(RECHECK)
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert "approval_not_enough" not in steps.event_kinds()


def test_an_approval_not_enough_for_the_policy_is_reported_and_the_run_waits() -> None:
    steps = _waiting(approval={"min_approvals": 2})
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert steps.merged == []
    assert ("approval_not_enough", {"reason": "needs 2 approval(s) bound to the current heads, has 1"}) in steps.events


def test_a_second_person_completes_a_two_person_approval() -> None:
    steps = _waiting(approval={"min_approvals": 2})
    steps.approve()
    workflow.resume(steps, "run1", 1)
    steps.approve(REQUESTER.model_copy(update={"id": "U-second"}))
    assert workflow.resume(steps, "run1", 1) == RunState.merged.value


def test_a_push_between_approval_and_merge_voids_the_approval_and_the_run_waits_again() -> None:
    steps = _waiting()
    steps.moves_before_merge = {"web"}
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert "approval_invalidated" in steps.event_kinds()
    assert "web" not in steps.merged
    steps.approve()  # the person looks again and approves the new head
    assert workflow.resume(steps, "run1", 1) == RunState.merged.value
    assert sorted(steps.merged) == ["api", "mobile", "web"]


def test_a_conflict_found_before_merging_starts_a_rebase_round_and_asks_for_approval_again() -> None:
    steps = _waiting()
    steps.conflicts = {"mobile"}
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert steps.merged == []
    assert steps.started[-1] == "mobile#1"
    assert [d["kind"] for k, d in steps.events if k == "round_started"] == ["rebase"]
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.merged.value


def test_a_conflict_after_the_attempts_rebase_round_merges_nothing_and_fails_the_run_saying_why() -> None:
    steps = _waiting()
    steps.conflicts = {"mobile"}
    steps.approve()
    workflow.resume(steps, "run1", 1)
    steps.conflicts = {"mobile"}  # the base moved again
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.failed.value
    assert steps.merged == []
    assert (steps.states[-1][1] or "").startswith("Nothing was merged: mobile")


def test_the_next_attempt_after_a_conflict_starts_with_a_rebase_round_on_that_repo_only() -> None:
    steps = _waiting()
    steps.conflicts = {"mobile"}
    steps.approve()
    workflow.resume(steps, "run1", 1)
    steps.conflicts = {"mobile"}
    steps.approve()
    workflow.resume(steps, "run1", 1)
    assert workflow.run(steps, "run1", 2) == PARKED  # `retry`: attempt 2 (finished repos are kept)
    assert steps.started[-1] == "mobile#1"  # rounds count per attempt
    assert [d["kind"] for k, d in steps.events if k == "round_started"] == ["rebase", "rebase"]
    steps.approve()
    assert workflow.resume(steps, "run1", 2) == RunState.merged.value


def test_a_merge_the_remote_refuses_mid_train_stops_it_and_fails_the_run_with_a_report() -> None:
    steps = _waiting()
    steps.refused_push = {"mobile"}
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.failed.value
    assert steps.merged[0] == "api" and "mobile" not in steps.merged
    assert (steps.states[-1][1] or "").startswith("merge train stopped at mobile")


def test_red_checks_keep_the_gate_shut_after_an_approval() -> None:
    steps = FakeSteps(config_for(API_AND_CLIENTS), spec_for(["api", "web", "mobile"]), red={"web"})
    assert workflow.run(steps, "run1", 1) == PARKED
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert steps.merged == []
    assert ("approval_not_enough", {"reason": "checks are not green on web"}) in steps.events


def test_a_plan_needing_approval_waits_before_any_repo_is_worked() -> None:
    steps = FakeSteps(config_for(API_AND_CLIENTS, approval={"approve_plan": True}), spec_for(["api", "web"]))
    assert workflow.run(steps, "run1", 1) == PARKED
    assert steps.started == []
    assert steps.states[-1] == (RunState.awaiting_approval, None, "plan")
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == PARKED  # now waiting for the PRs' approval
    assert steps.started[0] == "api"
    assert steps.states[-1] == (RunState.awaiting_approval, None, "approval")


def test_a_follow_up_before_the_plan_is_approved_is_deferred() -> None:
    steps = FakeSteps(config_for(API_AND_CLIENTS, approval={"approve_plan": True}), spec_for(["api"]))
    workflow.run(steps, "run1", 1)
    steps.follow_up("also update the docs")
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert "follow_up_deferred" in steps.event_kinds()
    assert steps.started == []


def test_a_blocking_wait_takes_the_decision_from_recv() -> None:
    steps = FakeSteps(config_for(API_AND_CLIENTS), spec_for(["api"]), park=False)
    # No message when the run first looks: it blocks, and the approval arrives while it waits.
    original_take = steps.take_step

    def take_then_approve(run_id: str, attempt: int, loop: object) -> object:
        taken = original_take(run_id, attempt, loop)  # type: ignore[arg-type]
        if taken.message is None and not steps.approvals:
            steps.approve()
        return taken

    steps.take_step = take_then_approve  # type: ignore[method-assign]
    assert workflow.run(steps, "run1", 1) == RunState.merged.value
