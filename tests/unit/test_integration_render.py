"""How red integration checks of a change set show on the GitHub status comment (and the dashboard): their output's
tail in a code block, made inert (no mention, no closing keyword), and the approval blocked; a
merged run's comment offers `/baton revert`."""

from __future__ import annotations

from bot.domain.models import Actor, RunState, Source
from bot.domain.records import Step, StepState
from bot.surfaces.dashboard.pages import render_run_page
from bot.surfaces.github.render import status_body
from tests.views import run_view

ALICE = Actor(source=Source.github, id="alice", display="alice")


def _red(detail: str) -> Step:
    return Step(run_id="r1", key="integration/a1-r0", name="integration checks", state=StepState.failed, detail=detail)


def test_red_integration_checks_show_their_output_inert_on_the_status_comment() -> None:
    view = run_view(RunState.awaiting_approval, actor=ALICE, steps=[_red("contract test failed, ping @maya")])
    body = status_body(view, [], {}, "write")
    assert "❌ **Integration checks failed** on the change set; approval is blocked." in body
    assert "contract test failed, ping" in body
    assert "@maya" not in body


def test_a_merged_runs_status_comment_offers_revert() -> None:
    body = status_body(run_view(RunState.merged, actor=ALICE), [], {}, "write")
    assert "`/baton revert` opens revert PRs for the whole set" in body
    assert "Integration checks failed" not in body


def test_the_dashboards_run_page_shows_the_red_integration_output() -> None:
    view = run_view(RunState.awaiting_approval, actor=ALICE, steps=[_red("contract test failed <script>")])
    page = render_run_page(view, [])
    assert "integration checks" in page
    assert "contract test failed &lt;script&gt;" in page
