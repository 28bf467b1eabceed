"""Where people are asked to approve, they see how big each PR is and where to review it: the Slack
card and its call for approval, the GitHub status comment and PR bodies, the Linear card and the
dashboard's run page show each PR's diffstat and a "Review changes" link to the review page; a
local-forge PR (`local://…`, which no browser opens) links to its repo's part of that page."""

from __future__ import annotations

import json

from bot.domain.diffs import DiffStat
from bot.domain.models import Actor, ChangeSet, ChecksState, ReplyTo, RunState, Source
from bot.domain.records import RunEvent, RunView
from bot.surfaces.dashboard.pages import render_run_page
from bot.surfaces.github.render import siblings_section, status_body
from bot.surfaces.linear.card import render_card
from bot.surfaces.linear.session import activity_for
from bot.surfaces.slack.card import card_blocks
from bot.surfaces.slack.thread import milestone_text
from tests.fakes.slack_api_checks import validate_blocks
from tests.views import run_view

PAGE = "https://baton.example/runs/r1"
REVIEW = f"{PAGE}/diff"
ALICE = Actor(source=Source.slack, id="U0ALICE", display="alice")
GITHUB_PR = "https://github.com/acme/web/pull/7"


def _change(repo: str, order: int, url: str, stat: DiffStat | None) -> ChangeSet:
    return ChangeSet(
        run_id="r1",
        repo=repo,
        branch="baton/r1/x",
        base="main",
        number=order + 3,
        url=url,
        head_sha=f"{order + 1}" * 40,
        order=order,
        checks=ChecksState.passed,
        diffstat=stat,
    )


API = _change("api", 0, "local://api/pull/3", DiffStat(sha="1" * 40, files=3, additions=12, deletions=4))
WEB = _change("web", 1, GITHUB_PR, DiffStat(sha="2" * 40, files=1, additions=1, deletions=1))


def _view(*changes: ChangeSet) -> RunView:
    reply = ReplyTo(source=Source.slack, channel="C1", thread_ts="1.1")
    return run_view(RunState.awaiting_approval, actor=ALICE, reply_to=reply, changes=list(changes))


def _slack_prs(page_url: str) -> str:
    blocks = card_blocks(_view(API, WEB), "anyone", page_url=page_url)
    validate_blocks(blocks)  # still valid Block Kit with the links
    return next(b["text"]["text"] for b in blocks if "Pull requests" in json.dumps(b))


def test_the_slack_card_shows_each_prs_diffstat_and_a_review_link() -> None:
    text = _slack_prs(PAGE)

    assert text.splitlines() == [
        f"*Pull requests* · <{REVIEW}|Review changes>",
        f"<{REVIEW}#api|api #3> · open · checks ✓ passed · `1111111` · 3 files +12 \u22124",
        f"<{GITHUB_PR}|web #4> · open · checks ✓ passed · `2222222` · 1 file +1 \u22121",
    ]


def test_without_a_public_address_the_slack_card_has_no_review_link_and_a_local_pr_no_link() -> None:
    text = _slack_prs("")

    assert "Review changes" not in text
    assert "api #3 · open" in text
    assert "<local://" not in text


def test_the_slack_call_for_approval_links_to_the_review_page() -> None:
    event = RunEvent(run_id="r1", seq=9, kind="approval_requested", data={})
    text = milestone_text(_view(API, WEB), event, "anyone", REVIEW)

    assert text is not None
    assert text.splitlines() == [
        f"2 PRs opened: <{REVIEW}#api|api #3>, <{GITHUB_PR}|web #4>",
        "Approval needed from anyone. Use *Approve & merge* on the card.",
        f"<{REVIEW}|Review changes>: every PR's diff on one page.",
    ]


def test_the_github_status_comment_shows_each_prs_diffstat_and_a_review_link() -> None:
    body = status_body(_view(API, WEB), [], {"web": "acme/web"}, "write", REVIEW)

    table = [line for line in body.splitlines() if line.startswith("| ")]
    assert table == [
        "| Repo | Pull request | Head | Checks | Changes |",
        "| --- | --- | --- | --- | --- |",
        f"| api | [api#3]({REVIEW}#api) | `1111111` | ✅ passed | 3 files +12 \u22124 |",
        "| web | acme/web#4 | `2222222` | ✅ passed | 1 file +1 \u22121 |",
    ]
    assert f"[Review changes]({REVIEW}) (every PR of the run on one page)" in body.splitlines()


def test_a_github_pr_body_links_the_run_review_page_among_its_siblings() -> None:
    section = siblings_section(_view(API, WEB), WEB, {"web": "acme/web"}, None, REVIEW)

    assert f"1. [api#3]({REVIEW}#api)" in section.splitlines()
    assert f"[Review every PR of the run together]({REVIEW})" in section.splitlines()


def test_the_linear_card_shows_each_prs_diffstat_and_a_review_link() -> None:
    card = render_card(_view(API, WEB), PAGE)

    lines = card.splitlines()
    start = lines.index(f"**Pull requests** · [Review changes]({REVIEW})")
    assert lines[start + 1 : start + 3] == [
        f"- [api#3]({REVIEW}#api) · head `1111111` · checks ✓ · open · 3 files +12 \u22124",
        f"- [web#4]({GITHUB_PR}) · head `2222222` · checks ✓ · open · 1 file +1 \u22121",
    ]


def test_a_linear_sessions_call_for_approval_lists_sizes_and_links_the_review_page() -> None:
    event = RunEvent(run_id="r1", seq=9, kind="approval_requested", data={})
    content = activity_for(_view(API, WEB), event, REVIEW)

    assert content is not None and content["type"] == "elicitation"
    assert content["body"].splitlines()[:5] == [
        "The pull requests are ready for review:",
        f"- api#3: {REVIEW}#api (checks passed) · 3 files +12 \u22124",
        f"- web#4: {GITHUB_PR} (checks passed) · 1 file +1 \u22121",
        "",
        f"Review every diff on one page: {REVIEW}",
    ]


def test_the_dashboards_run_page_links_local_prs_and_the_review_page() -> None:
    page = render_run_page(_view(API, WEB), [])

    assert '<a id="review-link" href="r1/diff">Review changes</a>' in page
    assert '<a href="r1/diff#api">#3</a>' in page
    assert f'<a href="{GITHUB_PR}">#4</a>' in page
    assert '<td class="diffstat">3 files +12 \u22124</td>' in page


def test_a_pr_measured_before_its_checks_ran_shows_no_diffstat() -> None:
    bare = API.model_copy(update={"diffstat": None})
    body = status_body(_view(bare), [], {}, "write", REVIEW)

    assert f"| api | [api#3]({REVIEW}#api) | `1111111` | ✅ passed | - |" in body.splitlines()
