"""Shared surface wording: labels, number formats, the summary line and the allowed actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.models import Actor, ChangeSet, ChangeState, RunState, Source, Usage
from bot.domain.records import RunView, Step, StepState
from bot.surfaces.render import (
    event_data_text,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    next_actions,
    one_line,
    short_sha,
    state_label,
    step_icon,
    summary_line,
    total_usage,
)
from tests.views import run_view

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def make_view(state: RunState = RunState.working, **parts: Any) -> RunView:
    """A run Alice asked for from the CLI; `parts` as `run_view`'s."""
    actor = Actor(source=Source.cli, id="alice", display="Alice")
    return run_view(state, actor=actor, received_at=T0, created_at=T0, **parts)


def step(key: str, state: StepState, usage: Usage | None = None) -> Step:
    return Step(run_id="r1", key=key, name=key, state=state, started_at=T0, usage=usage or Usage())


def change(repo: str, number: int, state: ChangeState) -> ChangeSet:
    return ChangeSet(
        run_id="r1",
        repo=repo,
        branch="baton/r1/x",
        base="main",
        number=number,
        url=f"http://forge/{repo}/pull/{number}",
        head_sha="0123456789abcdef",
        state=state,
    )


def test_state_label_replaces_underscores_with_spaces() -> None:
    assert state_label(RunState.awaiting_approval) == "awaiting approval"
    assert state_label(RunState.merged) == "merged"


def test_step_icon_differs_for_every_step_state() -> None:
    icons = {step_icon(s) for s in StepState}
    assert len(icons) == len(StepState)
    assert step_icon(StepState.succeeded) == "✓"
    assert step_icon(StepState.failed) == "✗"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0.0s"),
        (1.23, "1.2s"),
        (59.9, "59.9s"),
        (184, "3m04s"),
        (3720, "1h02m"),
        (183_600, "2d03h"),
    ],
)
def test_fmt_duration_scales_units_with_magnitude(seconds: float | None, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_fmt_duration_clamps_negative_clock_skew_to_zero() -> None:
    assert fmt_duration(-2.0) == "0.0s"


@pytest.mark.parametrize(("usd", "text"), [(0.0123, "$0.0123"), (0, "$0.0000"), (12.345, "$12.35")])
def test_fmt_cost_shows_four_decimals_under_a_dollar(usd: float, text: str) -> None:
    assert fmt_cost(usd) == text


@pytest.mark.parametrize(("n", "text"), [(950, "950"), (12_345, "12.3k"), (1_234_567, "1.2M")])
def test_fmt_tokens_abbreviates_thousands_and_millions(n: int, text: str) -> None:
    assert fmt_tokens(n) == text


def test_short_sha_keeps_seven_characters() -> None:
    assert short_sha("0123456789abcdef") == "0123456"
    assert short_sha(None) == "-"


def test_one_line_flattens_newlines_and_trims_with_ellipsis() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("x" * 20, 10) == "x" * 9 + "…"


def test_summary_line_counts_steps_prs_tokens_cost_and_elapsed() -> None:
    view = make_view(
        steps=[
            step("plan", StepState.succeeded, Usage(tokens_in=10_000, tokens_out=2_300)),
            step("api", StepState.succeeded, Usage(cost_usd=0.0123)),
            step("web", StepState.running),
        ],
        changes=[change("api", 1, ChangeState.merged), change("web", 2, ChangeState.open)],
    )
    line = summary_line(view, now=T0 + timedelta(seconds=184))
    assert line == "working · api, web · steps 2/3 · PRs 1/2 merged · 12.3k tokens · $0.0123 · 3m04s"


def test_summary_line_mentions_failed_steps() -> None:
    view = make_view(RunState.failed, steps=[step("a", StepState.succeeded), step("b", StepState.failed)])
    assert "steps 1/2 (1 failed)" in summary_line(view)


def test_summary_line_elapsed_stops_at_last_update_once_terminal() -> None:
    view = make_view(RunState.merged, updated_at=T0 + timedelta(seconds=90))
    line = summary_line(view, now=T0 + timedelta(hours=5))
    assert line.endswith("1m30s")


def test_total_usage_prefers_the_runs_rollup_over_step_sum() -> None:
    steps = [step("a", StepState.succeeded, Usage(tokens_in=5))]
    assert total_usage(make_view(steps=steps)).tokens == 5
    rolled = make_view(steps=steps, usage=Usage(tokens_in=40))
    assert total_usage(rolled).tokens == 40


@pytest.mark.parametrize("state", [RunState.queued, RunState.planning, RunState.working])
def test_next_actions_offers_cancel_while_run_is_active(state: RunState) -> None:
    assert next_actions(make_view(state)) == ["cancel"]


def test_next_actions_offers_approve_and_reject_while_awaiting_approval() -> None:
    assert next_actions(make_view(RunState.awaiting_approval)) == ["approve", "reject"]


def test_next_actions_offers_retry_when_failed() -> None:
    assert next_actions(make_view(RunState.failed)) == ["retry"]


@pytest.mark.parametrize(
    "state",
    [RunState.merging, RunState.cancelled, RunState.rejected, RunState.expired],
)
def test_next_actions_offers_nothing_while_merging_or_when_finished_unmerged(state: RunState) -> None:
    assert next_actions(make_view(state)) == []


def test_next_actions_offers_only_revert_on_a_merged_run() -> None:
    assert next_actions(make_view(RunState.merged)) == ["revert"]


def test_event_data_text_renders_key_values_and_compacts_structures() -> None:
    text = event_data_text({"from": "planning", "to": "working", "repos": ["api", "web"]})
    assert text == 'from=planning to=working repos=["api","web"]'
