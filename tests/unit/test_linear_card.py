"""The Linear status card and the choice of workflow states, as pure functions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.domain.models import Actor, ChangeSet, ChangeState, ReplyTo, RunState, Source, utcnow
from bot.domain.records import RunView, Step, StepState
from bot.surfaces.linear.card import plain, render_card
from bot.surfaces.linear.states import WorkflowState, pick_state
from tests.views import run_view

PAGE = "https://baton.example/runs/r1"


def view(state: RunState, **parts: Any) -> RunView:
    """A run Alice asked for on a Linear issue, 75 seconds old; `parts` as `run_view`'s."""
    created = utcnow() - timedelta(seconds=75)
    actor = Actor(source=Source.linear, id="u1", display="Alice")
    reply_to = ReplyTo(source=Source.linear, issue_id="i1")
    return run_view(
        state,
        actor=actor,
        reply_to=reply_to,
        request="rename",
        created_at=created,
        updated_at=created + timedelta(seconds=75),
        **parts,
    )


def change(url: str, state: ChangeState = ChangeState.open) -> ChangeSet:
    return ChangeSet(
        run_id="r1", repo="api", branch="b", base="main", number=3, url=url, head_sha="b" * 40, state=state
    )


def test_the_card_names_the_run_its_state_requester_and_repos() -> None:
    text = render_card(view(RunState.working), PAGE)
    assert text.splitlines()[0] == f"🛠️ **Baton run [`r1`]({PAGE})** — working"
    assert "Requested by Alice (linear:u1) · repos: api, web" in text


def test_awaiting_approval_offers_approve_and_reject_commands() -> None:
    text = render_card(view(RunState.awaiting_approval), PAGE)
    assert "`/baton approve`" in text and "`/baton reject <reason>`" in text and "/baton cancel" not in text


def test_a_working_run_offers_cancel_and_no_clock() -> None:
    text = render_card(view(RunState.working), PAGE)
    assert "`/baton cancel`" in text and "took" not in text


def test_a_finished_run_says_how_long_it_took() -> None:
    assert "took 1m15s" in render_card(view(RunState.merged), PAGE)


def test_agent_text_in_a_step_cannot_break_the_table_mention_or_open_code() -> None:
    step = Step(run_id="r1", key="s", name="agent", repo="api", state=StepState.failed, detail="| @bob ```\nrm")
    row = next(line for line in render_card(view(RunState.failed, steps=[step]), PAGE).splitlines() if "agent" in line)
    assert "\\| \\@bob \\`\\`\\` rm" in row
    assert row.count("|") - row.count("\\|") == 8


def test_an_https_pr_links_to_the_forge_and_a_local_one_to_its_part_of_the_review_page() -> None:
    remote = render_card(view(RunState.working, changes=[change("https://github.com/a/api/pull/3")]), PAGE)
    local = render_card(view(RunState.working, changes=[change("local://api/pull/3")]), PAGE)
    assert "[api#3](https://github.com/a/api/pull/3)" in remote
    assert f"[api#3]({PAGE}/diff#api)" in local


def test_a_local_pr_without_a_public_address_stays_code() -> None:
    local = render_card(view(RunState.working, changes=[change("local://api/pull/3")]), "")
    assert "api#3 `local://api/pull/3`" in local


def test_plain_text_is_one_line_and_escaped() -> None:
    assert plain("a\n*b* [c](d)") == "a \\*b\\* \\[c\\](d)"


STATES = [
    WorkflowState(id="t", name="Todo", type="unstarted", position=1),
    WorkflowState(id="r", name="Code review", type="started", position=4),
    WorkflowState(id="p", name="In Progress", type="started", position=2),
    WorkflowState(id="d", name="Done", type="completed", position=5),
]


def test_work_begins_in_the_lowest_started_state() -> None:
    assert pick_state(STATES, "started", "In Review") == STATES[2]


def test_review_is_the_started_state_named_so() -> None:
    assert pick_state(STATES, "review", "code REVIEW") == STATES[1]


def test_review_falls_back_to_the_last_started_state() -> None:
    assert pick_state(STATES, "review", "In Review") == STATES[1]


def test_a_team_with_one_started_state_has_no_review_move() -> None:
    assert pick_state([s for s in STATES if s.id != "r"], "review", "In Review") is None


def test_completed_is_the_first_completed_state() -> None:
    assert pick_state(STATES, "completed", "In Review") == STATES[3]
