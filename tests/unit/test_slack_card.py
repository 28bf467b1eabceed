"""The Slack status card: what it says in each state, which buttons it offers, and that it stays
valid Block Kit (checked by the Slack stand-in's validator) however long the run gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config.models import ApprovalPolicy
from bot.config.slack import SlackConfig
from bot.domain.models import (
    Actor,
    Budget,
    ChangeSet,
    ChangeState,
    ChecksState,
    Decision,
    ReplyTo,
    RunState,
    Source,
    Usage,
)
from bot.domain.records import Approval, RunEvent, RunView, Step, StepState
from bot.store.store import shas_digest
from bot.surfaces.slack.card import approvers_mrkdwn, card_blocks
from bot.surfaces.slack.card_actions import button_value, parse_button_value
from bot.surfaces.slack.thread import is_urgent, milestone_text
from tests.fakes.slack_api_checks import validate_blocks
from tests.views import run_view

T0 = datetime(2026, 3, 1, 14, 3, 0, tzinfo=UTC)
ALICE = Actor(source=Source.slack, id="U0ALICE", display="alice")
BOB = Actor(source=Source.slack, id="U0BOB", display="bob")


def make_view(state: RunState, **parts: Any) -> RunView:
    """A run Alice asked for in a Slack thread, with its agent and budget named; `parts` as `run_view`'s."""
    reply_to = ReplyTo(source=Source.slack, channel="C1", thread_ts="1.1")
    return run_view(
        state,
        actor=ALICE,
        reply_to=reply_to,
        delivery_id="Ev1",
        agent="codemod",
        budget=Budget(max_usd=5),
        created_at=T0,
        updated_at=T0 + timedelta(seconds=30),
        **parts,
    )


def change(repo: str, number: int, state: ChangeState = ChangeState.open, **extra: object) -> ChangeSet:
    return ChangeSet.model_validate(
        {
            "run_id": "r1",
            "repo": repo,
            "branch": "baton/r1/x",
            "base": "main",
            "number": number,
            "url": f"https://github.example/o/{repo}/pull/{number}",
            "head_sha": f"{number:040d}",
            "checks": ChecksState.passed,
            "state": state,
            **extra,
        }
    )


def texts(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def action_ids(blocks: list[dict[str, object]]) -> list[str]:
    actions = [b for b in blocks if b["type"] == "actions"]
    return [e["action_id"] for b in actions for e in b["elements"]]  # type: ignore[attr-defined]


def test_a_working_card_echoes_what_was_understood() -> None:
    blocks = card_blocks(make_view(RunState.working), "anyone")
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == [
        "*Requester*\n<@U0ALICE>",
        "*Repos*\napi, web",
        "*Agent*\ncodemod",
        "*Pattern*\ndefault",
        "*Budget*\n$5.00",
    ]


def test_a_working_card_offers_only_cancel() -> None:
    assert action_ids(card_blocks(make_view(RunState.working), "anyone")) == ["baton_cancel"]


def test_a_card_awaiting_approval_offers_approve_with_a_confirm_dialog_and_reject() -> None:
    blocks = card_blocks(make_view(RunState.awaiting_approval, changes=[change("api", 1)]), "<@U0BOB>")
    [actions] = [b for b in blocks if b["type"] == "actions"]
    approve, reject = actions["elements"]
    assert (approve["action_id"], approve["style"], reject["action_id"]) == ("baton_approve", "primary", "baton_reject")
    assert approve["confirm"]["confirm"]["text"] == "Approve & merge"


def test_the_approve_button_carries_the_run_and_the_digest_of_the_heads_shown() -> None:
    view = make_view(RunState.awaiting_approval, changes=[change("api", 1), change("web", 2)])
    [actions] = [b for b in card_blocks(view, "x") if b["type"] == "actions"]
    value = parse_button_value(actions["elements"][0]["value"])
    assert value is not None
    assert (value.run, value.heads) == ("r1", shas_digest({"api": f"{1:040d}", "web": f"{2:040d}"}))


def test_a_card_awaiting_approval_names_who_may_approve() -> None:
    blocks = card_blocks(make_view(RunState.awaiting_approval, changes=[change("api", 1)]), "<@U0BOB>")
    assert "*Waiting for approval* from <@U0BOB>." in texts(blocks)


def test_a_failed_card_offers_retry_and_says_why() -> None:
    blocks = card_blocks(make_view(RunState.failed, error="api: the agent produced no diff"), "x")
    assert action_ids(blocks) == ["baton_retry"]
    assert "*Failed:* api: the agent produced no diff" in texts(blocks)


def test_a_merged_card_shows_who_approved_when_and_the_whole_train_with_only_revert() -> None:
    approval = Approval(run_id="r1", actor=BOB, decision=Decision.approve, at=T0, head_shas={"api": "1"})
    view = make_view(
        RunState.merged,
        changes=[change("api", 1, ChangeState.merged), change("web", 2, ChangeState.merged)],
        approvals=[approval],
    )
    blocks = card_blocks(view, "x")
    body = texts(blocks)
    assert f"Approved by <@U0BOB> at <!date^{int(T0.timestamp())}^{{time}}|14:03 UTC>" in body
    assert "*Merge train:* 2/2 merged" in body
    assert action_ids(blocks) == ["baton_revert"]


def test_a_train_stopped_half_way_says_what_merged_and_what_did_not() -> None:
    view = make_view(
        RunState.failed,
        changes=[change("api", 1, ChangeState.merged), change("web", 2, merge_error="conflict with main")],
        error="merge train stopped at web",
    )
    assert "*Merge train:* 1/2 merged — api ✓ merged, web ✗ conflict with main" in texts(card_blocks(view, "x"))


def test_an_invalidated_approval_is_struck_through() -> None:
    approval = Approval(run_id="r1", actor=BOB, decision=Decision.approve, at=T0, valid=False)
    body = texts(card_blocks(make_view(RunState.awaiting_approval, approvals=[approval]), "x"))
    assert "~Approved by <@U0BOB> at" in body
    assert "(a PR changed since)" in body


def test_words_people_wrote_cannot_ping_the_channel() -> None:
    body = texts(card_blocks(make_view(RunState.working, request="please <!channel> & <@U0X>"), "x"))
    assert "please &lt;!channel&gt; &amp; &lt;@U0X&gt;" in body


def test_a_card_of_a_huge_run_is_still_valid_block_kit() -> None:
    steps = [
        Step(run_id="r1", key=f"s{i}", name="implement " * 20, repo="api", agent="codemod", state=StepState.succeeded)
        for i in range(400)
    ]
    changes = [change(f"repo{i}", i + 1) for i in range(60)]
    view = make_view(RunState.awaiting_approval, request="x" * 50_000, steps=steps, changes=changes)
    blocks = card_blocks(view, "y" * 5000)
    validate_blocks(blocks)
    assert "earlier_" in texts(blocks)


def test_approvers_are_mentioned_as_users_and_groups_and_patterns_kept_as_code() -> None:
    policy = ApprovalPolicy(approvers=["slack:U0BOB", "slack:*", "github:octocat"])
    text = approvers_mrkdwn(policy, SlackConfig(approver_usergroups=["S0LEADS"]))
    assert text == "<@U0BOB>, `slack:*`, `github:octocat`, <!subteam^S0LEADS>"


def test_with_no_approvers_configured_the_card_names_the_github_permission_default() -> None:
    assert approvers_mrkdwn(ApprovalPolicy(), SlackConfig()) == (
        "people mapped in `people:` to a GitHub login allowed to approve on every repo of the run (not the requester)"
    )


def event(kind: str, **data: object) -> RunEvent:
    return RunEvent(run_id="r1", seq=7, kind=kind, data=data)


def test_milestones_get_a_thread_reply() -> None:
    merged = make_view(RunState.merged, changes=[change("api", 1, ChangeState.merged)])
    waiting = make_view(RunState.awaiting_approval, changes=[change("api", 1, order=0), change("web", 2, order=1)])
    replies = [
        milestone_text(make_view(RunState.planning), event("plan_ready", order=["api", "web"], summary="two PRs"), "x"),
        milestone_text(waiting, event("approval_requested", prs=["u1", "u2"], round=0), "<@U0BOB>"),
        milestone_text(merged, event("state", to="merged"), "x"),
        milestone_text(make_view(RunState.failed), event("state", to="failed", error="boom"), "x"),
    ]
    assert replies == [
        "Plan ready (api → web): two PRs",
        "2 PRs opened: <https://github.example/o/api/pull/1|api #1>, <https://github.example/o/web/pull/2|web #2>\n"
        "Approval needed from <@U0BOB>. Use *Approve & merge* on the card.",
        ":white_check_mark: Merged <https://github.example/o/api/pull/1|api #1>.",
        ":x: Failed: boom",
    ]


def test_a_pr_opening_only_edits_the_card() -> None:
    opened = event("pr_opened", repo="api", number=1, url="https://g/o/api/pull/1")
    assert milestone_text(make_view(RunState.working, changes=[change("api", 1)]), opened, "x") is None


def test_five_hundred_prs_make_one_bounded_reply_naming_the_first_few() -> None:
    many = [change(f"svc{i:03d}", i + 1, order=i) for i in range(500)]
    text = milestone_text(make_view(RunState.awaiting_approval, changes=many), event("approval_requested"), "x")
    assert text is not None and text.startswith("500 PRs opened: <https://github.example/o/svc000/pull/1|svc000 #1>")
    assert "svc019 #20>" in text and "svc020" not in text
    assert "and 480 more (see the card)" in text
    assert len(text) < 4000


def test_a_round_s_call_for_approval_says_the_prs_were_updated() -> None:
    view = make_view(RunState.awaiting_approval, changes=[change("api", 1)])
    text = milestone_text(view, event("approval_requested", round=2), "x")
    assert text is not None and text.startswith("1 PR updated: ")


def test_a_failure_names_the_prs_it_left_open() -> None:
    view = make_view(RunState.failed, changes=[change("api", 1, ChangeState.merged), change("web", 2)])
    text = milestone_text(view, event("state", to="failed", error="merge conflict in web"), "x")
    assert text == ":x: Failed: merge conflict in web\n1 PR left open: <https://github.example/o/web/pull/2|web #2>"


def test_steps_and_progress_get_no_thread_reply() -> None:
    view = make_view(RunState.working)
    for kind in ("step_started", "step_finished", "agent_progress", "checks", "pushed"):
        assert milestone_text(view, event(kind, step="s1"), "x") is None
    assert milestone_text(view, event("state", to="working"), "x") is None


def test_milestones_decisions_the_wait_for_approval_and_endings_are_urgent_and_steps_are_not() -> None:
    assert [is_urgent(event(k)) for k in ("plan_ready", "pr_opened", "approval_requested", "decision")] == [True] * 4
    endings = ("merged", "failed", "cancelled", "rejected", "awaiting_approval")
    assert [is_urgent(event("state", to=s)) for s in endings] == [True] * 5
    assert [is_urgent(event("step_finished")), is_urgent(event("state", to="working"))] == [False, False]


def test_a_button_value_that_is_not_ours_is_refused() -> None:
    assert parse_button_value("click_me_123") is None
    assert parse_button_value(button_value("r9")) is not None


def test_each_finished_step_says_which_agent_did_it_and_what_it_cost() -> None:
    usage = Usage(tokens_in=1200, tokens_out=300, cost_usd=0.0123)
    step = Step(
        run_id="r1",
        key="s1",
        name="implement",
        repo="api",
        agent="codex",
        state=StepState.succeeded,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=12),
        usage=usage,
    )
    body = texts(card_blocks(make_view(RunState.working, steps=[step]), "x"))
    assert "api · implement · codex · 12.0s · 1.5k tokens · $0.0123" in body


def test_a_running_step_says_since_when_in_the_readers_time_zone() -> None:
    step = Step(run_id="r1", key="s1", name="implement", repo="api", agent="codemod", started_at=T0)
    body = texts(card_blocks(make_view(RunState.working, steps=[step]), "x"))
    assert f"… api · implement · codemod · running since <!date^{int(T0.timestamp())}^{{time}}|14:03 UTC>" in body


def test_the_card_links_the_run_id_to_its_page_when_baton_knows_its_address() -> None:
    blocks = card_blocks(make_view(RunState.working), "x", page_url="https://baton.example.com/runs/r1")
    assert "<https://baton.example.com/runs/r1|r1>" in texts(blocks)


def test_without_an_address_the_run_id_is_plain_code() -> None:
    run_id = make_view(RunState.working).run.run_id
    assert f"`{run_id}`" in texts(card_blocks(make_view(RunState.working), "x"))


def _integration(state: StepState, detail: str) -> Step:
    return Step(run_id="r1", key="integration/a1-r0", name="integration checks", state=state, detail=detail)


def test_red_integration_checks_withhold_the_approve_button_and_show_their_output() -> None:
    view = make_view(
        RunState.awaiting_approval,
        changes=[change("api", 1), change("web", 2)],
        steps=[_integration(StepState.failed, "web still calls /v2 <@U0BOB>")],
    )
    blocks = card_blocks(view, "x")
    assert action_ids(blocks) == ["baton_reject"]
    body = texts(blocks)
    assert "*Integration checks failed* on the change set; approval is blocked." in body
    assert "web still calls /v2 &lt;@U0BOB&gt;" in body
    assert "*Waiting for approval*" not in body
    validate_blocks(blocks)


def test_green_integration_checks_leave_the_approve_button() -> None:
    view = make_view(
        RunState.awaiting_approval,
        changes=[change("api", 1), change("web", 2)],
        steps=[_integration(StepState.failed, "red before"), _integration(StepState.succeeded, "passed")],
    )
    assert action_ids(card_blocks(view, "x")) == ["baton_approve", "baton_reject"]
