"""A campaign on the surfaces: the Slack card's burndown stays a fixed handful of valid blocks
whatever the number of repos, names the failing repos with their reason, and offers retry/close."""

from __future__ import annotations

from bot.domain.models import Actor, ChangeSet, ChangeState, ChecksState, RunState, Source
from bot.domain.records import RunView
from bot.engine.campaign_plan import CampaignState
from bot.surfaces import campaign
from bot.surfaces.github.render import status_body
from bot.surfaces.linear.card import render_card
from bot.surfaces.slack.card import card_blocks
from tests.fakes.slack_api_checks import validate_blocks
from tests.views import run_view

ALICE = Actor(source=Source.slack, id="U0ALICE", display="alice")


def campaign_view(repos: int, state: RunState = RunState.awaiting_approval) -> RunView:
    """A campaign over `repos` repos: a tenth merged, a tenth with open green PRs, one in fifty failed."""
    names = [f"svc{i:04d}" for i in range(repos)]
    status: dict[str, str] = {}
    reasons: dict[str, str] = {}
    changes = []
    for i, name in enumerate(names):
        if i % 50 == 7:
            status[name], reasons[name] = "failed", f"{name}: compile error in main.go"
        elif i % 10 in (0, 1):
            status[name] = "done"
            merged = i % 10 == 0
            changes.append(
                ChangeSet(
                    run_id="r1",
                    repo=name,
                    branch="baton/x",
                    base="main",
                    number=1,
                    url=f"local://{name}/pull/1",
                    head_sha="a" * 40,
                    order=i,
                    checks=ChecksState.passed,
                    state=ChangeState.merged if merged else ChangeState.open,
                )
            )
        else:
            status[name] = "queued"
    state_model = CampaignState(
        order=names, canary=names[:3], deps={n: [] for n in names}, status=status, reasons=reasons
    )
    view = run_view(state, actor=ALICE, changes=changes)
    spec = view.run.spec.model_copy(update={"repos": names})
    run = view.run.model_copy(update={"spec": spec, "waiting_for": "approval"})
    return view.model_copy(update={"run": run, "campaign": state_model.model_dump(mode="json")})


def test_the_card_of_a_500_repo_campaign_is_valid_and_within_50_blocks() -> None:
    blocks = card_blocks(campaign_view(500), "ops", page_url="https://baton.example/runs/r1")
    validate_blocks(blocks)
    assert len(blocks) <= 50


def test_the_card_has_as_many_blocks_for_500_repos_as_for_20() -> None:
    assert len(card_blocks(campaign_view(500), "ops")) == len(card_blocks(campaign_view(20), "ops"))


def test_the_burndown_counts_every_state_and_the_merge_rate() -> None:
    data = campaign.summary(campaign_view(500))
    assert data is not None
    assert data["counts"] == {
        "queued": 390, "working": 0, "checks": 0, "pr_open": 50, "approved": 0,
        "merged": 50, "failed": 10, "skipped": 0,
    }  # fmt: skip
    assert data["merge_rate"] == 0.1


def test_the_card_names_the_failing_repos_with_their_reason() -> None:
    text = str(card_blocks(campaign_view(100), "ops"))
    assert "svc0007: compile error in main.go" in text
    assert "svc0057: compile error in main.go" in text


def test_a_campaign_with_failed_repos_offers_retry_failed_and_close() -> None:
    blocks = card_blocks(campaign_view(100), "ops")
    buttons = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["Approve & merge", "Reject", "Retry failed", "Close campaign", "Cancel"]


def test_the_github_status_comment_of_a_500_repo_campaign_has_no_row_per_repo() -> None:
    body = status_body(campaign_view(500), [], {}, "an approver")
    assert "500 repos: queued 390" in body
    assert "svc0011" not in body  # an open PR is counted, not listed
    assert "500 in all" in body


def test_the_linear_comment_of_a_500_repo_campaign_is_a_burndown_and_a_link() -> None:
    text = render_card(campaign_view(500), "https://baton.example/runs/r1")
    assert "500 repos: queued 390" in text
    assert "(https://baton.example/runs/r1/repos)" in text
    assert "svc0011" not in text  # an open PR is counted, not listed
    assert len(text.splitlines()) < 30
    assert "`/baton close` ends the campaign" in text
