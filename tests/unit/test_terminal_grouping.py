"""The terminal view as issue 17 asks: steps grouped by repo in merge order, the merge train
counted from 1, a PR's checks not "unknown" while a live run runs them, a line per checks result
when there is no terminal, and `runs show` with the summary first and events last or hidden."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.models import ChangeSet, ChangeState, ChecksState, RunState
from bot.domain.records import RunEvent, Step, StepState
from bot.surfaces.terminal import TerminalSurface, timeline_text
from tests.unit.test_terminal_surface import T0, console, event, make_change, make_step, make_view, rendered


def _step(key: str, repo: str, state: StepState = StepState.succeeded, detail: str = "") -> Step:
    return make_step(key, state, detail=detail).model_copy(update={"repo": repo})


def _train() -> list[ChangeSet]:
    """api merges first, then web."""
    return [
        make_change("api", 1).model_copy(update={"order": 0}),
        make_change("web", 2).model_copy(update={"order": 1}),
    ]


def test_steps_are_grouped_by_repo_in_merge_order() -> None:
    steps = [_step("w1", "web"), _step("a1", "api"), _step("w2", "web"), _step("a2", "api")]
    changes = [
        make_change("api", 1).model_copy(update={"order": 0}),
        make_change("web", 2).model_copy(update={"order": 1}),
    ]
    text = rendered(make_view(steps=steps, changes=changes))
    order = [key for line in text.splitlines() for key in ("a1", "a2", "w1", "w2") if f" {key} " in line]
    assert order == ["a1", "a2", "w1", "w2"]


def test_the_merge_train_is_numbered_from_one() -> None:
    changes = [
        make_change("api", 1).model_copy(update={"order": 0}),
        make_change("web", 2).model_copy(update={"order": 1}),
    ]
    text = rendered(make_view(changes=changes))
    rows = [line.split() for line in text.splitlines() if "#1" in line or "#2" in line]
    assert [(row[0], row[1]) for row in rows] == [("1", "api"), ("2", "web")]


def test_an_open_prs_checks_show_pending_not_unknown_while_the_run_goes_on() -> None:
    live = rendered(make_view(RunState.working, changes=[make_change(checks=ChecksState.unknown)]))
    ended = rendered(make_view(RunState.failed, changes=[make_change(checks=ChecksState.unknown)]))
    assert "… pending" in live and "unknown" not in live
    assert "? unknown" in ended


def test_without_a_terminal_each_checks_result_is_one_line_per_head() -> None:
    out = console()
    surface = TerminalSurface(out)
    surface.publish(make_view(changes=[make_change(checks=ChecksState.pending)]), event(1))
    surface.publish(make_view(changes=[make_change(checks=ChecksState.passed)]), event(2))
    surface.publish(make_view(changes=[make_change(checks=ChecksState.passed)]), event(3))
    moved = make_change(checks=ChecksState.failed).model_copy(update={"head_sha": "f" * 40})
    surface.publish(make_view(changes=[moved]), event(4))
    lines = [line for line in out.export_text().splitlines() if "] checks " in line]
    assert lines == ["[r-42] checks passed: api#7 (head abcdef0)", "[r-42] checks failed: api#7 (head fffffff)"]


def test_runs_show_leads_with_how_the_run_stands_and_hides_events_unless_asked() -> None:
    view = make_view(RunState.awaiting_approval, changes=[make_change(state=ChangeState.open)])
    events = [RunEvent(run_id="r-42", seq=1, kind="run_created", at=T0 + timedelta(seconds=1))]
    short = timeline_text(view, events, with_events=False)
    full = timeline_text(view, events)
    assert short.index("totals:") < short.index("Steps (")
    assert "  approve: baton approve r-42" in short
    assert short.rstrip().endswith("Events: 1 (`baton runs show r-42 --events` lists them)")
    assert full.index("Approvals (") < full.index("Events (1)") < full.index("1.  12:00:01  run_created")


def test_runs_show_of_a_failed_run_says_where_it_failed() -> None:
    view = make_view(
        RunState.failed, steps=[_step("edit", "web", StepState.failed).model_copy(update={"detail": "boom"})]
    )
    text = timeline_text(view, [], with_events=False)
    assert "failed at: edit in web (script): boom" in text
