"""Integration checks in the approval loop, over an in-memory RunSteps: they run on the change set
before approval is asked for and again at the approved heads before the first merge; red there
merges nothing. A base that moved under a PR brings a rebase round (Baton merges the base in),
then the run asks for approval again."""

from __future__ import annotations

from bot.domain.models import RunState
from bot.engine import workflow
from bot.engine.messages import PARKED
from tests.fakes.run_steps import FakeSteps, config_for, spec_for

SET = {"api": [], "web": ["api"]}


def _waiting(**fields: object) -> FakeSteps:
    steps = FakeSteps(config_for(SET), spec_for(["api", "web"]), **fields)  # type: ignore[arg-type]
    assert workflow.run(steps, "run1", 1) == PARKED
    return steps


def test_integration_checks_run_before_approval_is_asked_for_and_again_before_the_merge() -> None:
    steps = _waiting(integration=True)
    heads = {c.repo: c.head_sha for c in steps.changes.values()}
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.merged.value
    assert steps.integration_runs == [("approval", heads), ("merge", heads)]
    order = [k for k in steps.event_kinds() if k in ("integration_checks", "approval_requested")]
    assert order == ["integration_checks", "approval_requested", "integration_checks"]
    assert [s for s, _, _ in steps.states][-2:] == [RunState.merging, RunState.merged]


def test_integration_checks_red_at_the_approved_heads_merge_nothing_and_fail_the_run() -> None:
    steps = _waiting(integration=True, integration_red={"merge"})
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.failed.value
    assert steps.merged == []
    assert (steps.states[-1][1] or "").startswith("Nothing was merged: the integration checks failed")


def test_without_integration_checks_configured_nothing_extra_runs() -> None:
    steps = _waiting()
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.merged.value
    assert steps.integration_runs == []


def test_a_follow_up_round_runs_the_integration_checks_again_on_the_new_heads() -> None:
    steps = _waiting(integration=True)
    first = steps.integration_runs[0][1]
    steps.follow_up("also rename the docs")
    assert workflow.resume(steps, "run1", 1) == PARKED
    assert [stage for stage, _ in steps.integration_runs] == ["approval", "approval"]
    assert steps.integration_runs[1][1] != first


def test_a_moved_base_brings_a_rebase_round_that_merges_the_base_in_before_approval_is_asked_again() -> None:
    steps = _waiting()
    steps.conflicts = {"web"}
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == PARKED
    kinds = steps.event_kinds()
    tail = kinds[kinds.index("base_drift") :]
    assert [k for k in tail if k in ("base_drift", "round_started", "base_merged", "approval_requested")] == [
        "base_drift",
        "round_started",
        "base_merged",
        "approval_requested",
    ]
    assert steps.started[-1] == "web#1"
    assert steps.merged == []
