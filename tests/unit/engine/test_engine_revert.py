"""A revert run over an in-memory RunSteps: its revert PRs open in reverse merge order with no agent,
nothing merges before an approval, and the train then merges them in that order."""

from __future__ import annotations

from bot.domain.models import RunState
from bot.engine import workflow
from bot.engine.messages import PARKED
from tests.fakes.run_steps import FakeSteps, config_for, spec_for

CHAIN = {"api": [], "web": ["api"], "mobile": ["web"]}
MERGED = [("api", "m-api"), ("web", "m-web"), ("mobile", "m-mobile")]


def _revert_run(merged: list[tuple[str, str]]) -> FakeSteps:
    spec = spec_for(["api", "web", "mobile"], "Revert run r0", reverts="r0")
    return FakeSteps(config_for(CHAIN), spec, merged_before=merged)


def test_a_revert_run_opens_its_revert_prs_in_reverse_merge_order_without_an_agent() -> None:
    steps = _revert_run(MERGED)
    assert workflow.run(steps, "run1", 1) == PARKED
    assert steps.started == ["revert mobile", "revert web", "revert api"]
    assert [(c.repo, c.order) for c in sorted(steps.changes.values(), key=lambda c: c.order)] == [
        ("mobile", 0),
        ("web", 1),
        ("api", 2),
    ]
    assert steps.agent_calls == []
    assert steps.merged == []
    assert steps.states[-1] == (RunState.awaiting_approval, None, "approval")


def test_an_approved_revert_run_merges_consumers_first_and_the_provider_last() -> None:
    steps = _revert_run(MERGED)
    workflow.run(steps, "run1", 1)
    steps.approve()
    assert workflow.resume(steps, "run1", 1) == RunState.merged.value
    assert steps.merged == ["mobile", "web", "api"]


def test_a_revert_run_with_nothing_merged_to_revert_fails_saying_so() -> None:
    steps = _revert_run([])
    assert workflow.run(steps, "run1", 1) == RunState.failed.value
    assert steps.states[-1][1] == "run r0 recorded no merged PR to revert"
    assert steps.changes == {}
