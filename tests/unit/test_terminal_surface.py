"""The terminal surface: the rich view, the milestone log for non-terminals, the text timeline."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from bot.domain.models import Actor, ChangeSet, ChangeState, ChecksState, Decision, ReplyTo, RunState, Source, Usage
from bot.domain.ports import Surface
from bot.domain.records import Approval, RunEvent, RunView, Step, StepState
from bot.surfaces.terminal import LiveTerminal, TerminalSurface, render_view, timeline_text
from tests.views import run_view

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
SHA = "abcdef0123456789abcdef0123456789abcdef01"


def console(*, terminal: bool = False) -> Console:
    return Console(record=True, width=120, file=io.StringIO(), force_terminal=terminal)


def make_view(
    state: RunState = RunState.working, *, request: str = "rename the config flag in api and web", **parts: Any
) -> RunView:
    """Run r-42, asked for by Alice in Slack; `parts` as `run_view`'s."""
    actor = Actor(source=Source.slack, id="U1", display="Alice")
    reply_to = ReplyTo(source=Source.slack, channel="C1", thread_ts="1.0")
    return run_view(
        state,
        actor=actor,
        reply_to=reply_to,
        request=request,
        run_id="r-42",
        received_at=T0,
        created_at=T0,
        **parts,
    )


def make_step(key: str, state: StepState = StepState.succeeded, detail: str = "", seconds: float = 1.2) -> Step:
    finished = None if state is StepState.running else T0 + timedelta(seconds=seconds)
    return Step(
        run_id="r-42",
        key=key,
        name=key,
        repo="api",
        agent="script",
        state=state,
        started_at=T0,
        finished_at=finished,
        usage=Usage(tokens_in=1000, tokens_out=234, cost_usd=0.0123),
        detail=detail,
    )


def make_change(
    repo: str = "api",
    number: int = 7,
    state: ChangeState = ChangeState.open,
    checks: ChecksState = ChecksState.passed,
    merge_error: str | None = None,
) -> ChangeSet:
    return ChangeSet(
        run_id="r-42",
        repo=repo,
        branch="baton/r-42/rename",
        base="main",
        number=number,
        url=f"http://forge.local/{repo}/pull/{number}",
        head_sha=SHA,
        state=state,
        checks=checks,
        merge_sha="9999999aaaa" if state is ChangeState.merged else None,
        merge_error=merge_error,
    )


def rendered(view: RunView) -> str:
    out = console()
    out.print(render_view(view, now=T0 + timedelta(seconds=5)))
    return out.export_text()


def event(seq: int, kind: str = "state_changed", **data: object) -> RunEvent:
    return RunEvent(run_id="r-42", seq=seq, kind=kind, at=T0 + timedelta(seconds=seq), data=data)


def test_header_shows_run_id_requester_repos_and_state() -> None:
    text = rendered(make_view(RunState.awaiting_approval))
    assert "Run r-42" in text
    assert "Alice (slack:U1)" in text
    assert "api, web" in text
    assert "awaiting approval" in text


def test_long_request_is_trimmed_to_one_line() -> None:
    text = rendered(make_view(request="fix\nthe " + "x" * 300))
    assert "request: fix the " in text
    assert "x" * 120 not in text
    assert "…" in text


def test_failed_step_shows_its_detail() -> None:
    view = make_view(steps=[make_step("edit", StepState.failed, detail="agent timed out after 600s")])
    text = rendered(view)
    assert "✗" in text
    assert "agent timed out after 600s" in text


def test_step_row_shows_agent_duration_tokens_and_cost() -> None:
    text = rendered(make_view(steps=[make_step("edit", seconds=184)]))
    row = next(line for line in text.splitlines() if "edit" in line)
    for cell in ("api", "script", "3m04s", "1.2k", "$0.0123"):
        assert cell in row


def test_running_step_duration_counts_up_to_now() -> None:
    text = rendered(make_view(steps=[make_step("edit", StepState.running)]))
    row = next(line for line in text.splitlines() if "edit" in line)
    assert "5.0s" in row


def test_pr_row_shows_number_short_sha_and_checks_state() -> None:
    text = rendered(make_view(changes=[make_change(checks=ChecksState.failed)]))
    row = next(line for line in text.splitlines() if "#7" in line)
    assert "abcdef0" in row
    assert SHA[:8] not in row
    assert "failed" in row
    assert "http://forge.local/api/pull/7" in text


def test_merge_error_is_shown_with_the_pr() -> None:
    view = make_view(RunState.failed, changes=[make_change(merge_error="head moved")])
    text = rendered(view)
    assert "merge failed for api#7: head moved" in text


def test_awaiting_approval_shows_approve_and_reject_actions() -> None:
    text = rendered(make_view(RunState.awaiting_approval))
    assert "actions: approve · reject" in text


def test_a_merged_run_shows_only_revert() -> None:
    assert "actions: revert" in rendered(make_view(RunState.merged))


def test_a_cancelled_run_shows_no_actions() -> None:
    assert "actions: none" in rendered(make_view(RunState.cancelled))


def test_invalidated_approval_says_so() -> None:
    approval = Approval(
        run_id="r-42",
        actor=Actor(source=Source.slack, id="U2", display="Bob"),
        decision=Decision.approve,
        head_shas={"api": SHA},
        at=T0,
        valid=False,
    )
    text = rendered(make_view(RunState.awaiting_approval, approvals=[approval]))
    assert "approve by Bob" in text
    assert "api@abcdef0" in text
    assert "invalidated" in text


def test_totals_line_summarises_the_run() -> None:
    text = rendered(make_view(steps=[make_step("a"), make_step("b", StepState.running)]))
    assert "totals: working · api, web · steps 1/2 · PRs 0/0 merged" in text


def test_surface_satisfies_the_surface_port() -> None:
    surface: Surface = TerminalSurface(console())
    surface.publish(make_view(), event(1))


def test_non_terminal_prints_one_line_per_state_change_only() -> None:
    out = console()
    surface = TerminalSurface(out)
    surface.publish(make_view(RunState.planning), event(1))
    surface.publish(make_view(RunState.planning), event(2, "step_started"))
    surface.publish(make_view(RunState.working), event(3))
    lines = out.export_text().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[r-42] planning")
    assert lines[1].startswith("[r-42] working")


def test_non_terminal_prints_pr_opened_once() -> None:
    out = console()
    surface = TerminalSurface(out)
    view = make_view(changes=[make_change()])
    surface.publish(view, event(1, "pr_opened"))
    surface.publish(view, event(2, "checks"))
    text = out.export_text()
    assert text.count("PR opened: api#7") == 1
    assert "(head abcdef0)" in text


def test_non_terminal_prints_merged_and_merge_failed() -> None:
    out = console()
    surface = TerminalSurface(out)
    surface.publish(make_view(RunState.merging, changes=[make_change()]), event(1))
    merged = make_change(state=ChangeState.merged)
    stuck = make_change("web", 8, merge_error="checks failed")
    surface.publish(make_view(RunState.failed, changes=[merged, stuck]), event(2))
    text = out.export_text()
    assert "PR merged: api#7 (9999999)" in text
    assert "merge failed: web#8: checks failed" in text
    assert "[r-42] failed" in text
    assert "actions: retry" in text


def test_non_terminal_state_line_lists_awaiting_approval_actions() -> None:
    out = console()
    TerminalSurface(out).publish(make_view(RunState.awaiting_approval), event(1))
    assert "actions: approve, reject" in out.export_text()


def test_live_terminal_on_non_terminal_console_prints_lines_not_the_view() -> None:
    out = console()
    with LiveTerminal(out) as surface:
        surface.publish(make_view(RunState.working, steps=[make_step("edit")]), event(1))
    text = out.export_text()
    assert text.startswith("[r-42] working")
    assert "Steps" not in text


def test_live_terminal_on_terminal_draws_the_view_in_place() -> None:
    out = console(terminal=True)
    with LiveTerminal(out, refresh_per_second=8) as surface:
        surface.publish(make_view(RunState.awaiting_approval, steps=[make_step("edit")]), event(1))
    text = out.export_text()
    assert "Run r-42" in text
    assert "actions: approve · reject" in text
    assert "[r-42]" not in text


def test_timeline_numbers_events_in_sequence_order_with_short_data() -> None:
    events = [event(2, "state_changed", to="working"), event(1, "run_created", repos=["api"])]
    text = timeline_text(make_view(), events, now=T0)
    assert "Events (2)" in text
    first = text.index("1.  12:00:01  run_created")
    second = text.index("2.  12:00:02  state_changed  to=working")
    assert first < second
    assert 'repos=["api"]' in text


def test_timeline_lists_steps_prs_approvals_and_totals() -> None:
    approval = Approval(
        run_id="r-42",
        actor=Actor(source=Source.github, id="bob"),
        decision=Decision.approve,
        at=T0,
    )
    view = make_view(
        RunState.merged,
        steps=[make_step("edit", StepState.failed, detail="boom")],
        changes=[make_change(state=ChangeState.merged)],
        approvals=[approval],
    )
    text = timeline_text(view, [])
    assert "✗  edit  api  script  1.2s  1.2k  $0.0123  boom" in text
    assert "api#7  abcdef0  checks passed  merged  http://forge.local/api/pull/7" in text
    assert "approve by github:bob" in text
    assert "totals: merged · api, web" in text
    assert "actions: revert" in text


def test_timeline_says_none_for_empty_sections() -> None:
    text = timeline_text(make_view(RunState.queued), [])
    assert "Events (0)\n  none" in text
    assert "Pull requests (0)\n  none" in text


def test_timeline_dates_events_from_a_later_day() -> None:
    late = RunEvent(run_id="r-42", seq=1, kind="approval", at=T0 + timedelta(days=1))
    assert "2025-03-02 12:00:00  approval" in timeline_text(make_view(), [late])
