"""Clicks and reactions on a run's card, over HTTP as Slack sends them: a double click is one
approval, a click on a run that moved on is answered and the card redrawn, a follow-up in the thread
makes the old Approve button stale, Cancel/Retry/:x: work for the requester and approvers only, and
user groups narrow who may approve."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.domain.models import RunState
from bot.store.audit import AuditKind, AuditOutcome
from tests.e2e.conftest import RuntimeFactory, agent, event_data, make_repos, repo_entries, wait_for
from tests.fakes import slack_events
from tests.fakes.served_app import until
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_harness import SlackWorld, button_value, slack_world
from tests.gitutil import ref_sha

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


def world_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory, *args: str, **extra: Any
) -> Any:
    remotes = make_repos(tmp_path, ["api"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", *args)],
        "playbooks": {"once": {"per_repo": {"agent": "coder"}}},
        "approval": {"approvers": [f"slack:{BOB}"]},
        "slack": {"channel_repos": {"C111": ["api"]}},
        **extra,
    }
    return slack_world(monkeypatch, start_runtime, config)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Any:
    with world_with(tmp_path, monkeypatch, start_runtime, "--append", "README.md", "change") as w:
        yield w


class Card:
    def __init__(self, world: SlackWorld, thread: str, run_id: str) -> None:
        self.world, self.thread, self.run_id = world, thread, run_id
        self.ts = str(world.slack.calls_to("chat.postMessage")[0].response["ts"])

    def message(self) -> dict[str, Any]:
        return self.world.slack.message("C111", self.ts)

    def header(self) -> str:
        return str(self.message()["blocks"][0]["text"]["text"])

    def value(self, action_id: str) -> str | None:
        return button_value(self.message(), action_id)

    def click(self, user: str, action_id: str, value: str | None = None) -> None:
        value = value or self.value(action_id)
        assert value is not None, f"no {action_id} button on the card"
        answer = self.world.click(user, "C111", self.ts, action_id, value, self.thread)
        assert answer.status_code == 200


def start(world: SlackWorld, request: str, state: RunState = RunState.awaiting_approval) -> Card:
    envelope, _ = world.mention(ALICE, f"<@U0BATON> {request}")
    thread = envelope["event"]["ts"]
    run_id = until("the run", lambda: world.runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
    wait_for(world.runtime, run_id, state, timeout=60)
    return Card(world, thread, run_id)


@contextmanager
def held_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> Iterator[tuple[SlackWorld, Card]]:
    """A world whose agent blocks until a file that never appears, and the card of a run it holds working."""
    hold = tmp_path / "never"
    with world_with(tmp_path, monkeypatch, start_runtime, "--block-until", str(hold)) as world:
        yield world, start(world, "wait forever", RunState.working)


def ephemerals(slack: FakeSlack, user: str) -> list[str]:
    return [c.params["text"] for c in slack.calls_to("chat.postEphemeral") if c.params["user"] == user]


def test_a_double_click_on_approve_is_one_approval(world: SlackWorld) -> None:
    card = start(world, "change the readme")
    until("the Approve button", lambda: card.value("baton_approve"))
    value = card.value("baton_approve")
    card.click(BOB, "baton_approve", value)
    card.click(BOB, "baton_approve", value)
    wait_for(world.runtime, card.run_id, RunState.merged, timeout=60)
    until("the second click answered", lambda: ephemerals(world.slack, BOB))
    assert ephemerals(world.slack, BOB) == ["Your approve was already recorded."]
    assert len(event_data(world.runtime, card.run_id, "decision")) == 1


def test_a_click_on_a_run_that_moved_on_is_answered_and_the_card_redrawn(world: SlackWorld) -> None:
    card = start(world, "change the readme")
    value = until("the Approve button", lambda: card.value("baton_approve"))
    card.click(BOB, "baton_reject")
    wait_for(world.runtime, card.run_id, RunState.rejected, timeout=30)
    until("the card to say Rejected", lambda: card.header().endswith("Rejected"))
    updates_before = len(world.slack.calls_to("chat.update"))
    card.click(CAROL, "baton_approve", value)
    until("a note to Carol", lambda: ephemerals(world.slack, CAROL))
    assert ephemerals(world.slack, CAROL) == ["This run is rejected now, so there is nothing to approve."]
    until("the card redrawn", lambda: len(world.slack.calls_to("chat.update")) > updates_before)
    assert card.header().endswith("Rejected")


def test_a_follow_up_in_the_thread_makes_the_old_approve_button_stale(world: SlackWorld) -> None:
    card = start(world, "change the readme")
    old_value = until("the Approve button", lambda: card.value("baton_approve"))
    world.mention(ALICE, "<@U0BATON> also mention the changelog", thread_ts=card.thread)
    until("the follow-up round", lambda: event_data(world.runtime, card.run_id, "round_finished"))
    wait_for(world.runtime, card.run_id, RunState.awaiting_approval, timeout=60)
    until("a fresh Approve button", lambda: (v := card.value("baton_approve")) and v != old_value)
    card.click(BOB, "baton_approve", old_value)
    until("a note to Bob", lambda: ephemerals(world.slack, BOB))
    assert ephemerals(world.slack, BOB) == [
        "The PRs changed since this card was drawn; look at the refreshed card and decide again."
    ]
    assert world.runtime.store.get_run(card.run_id).state is RunState.awaiting_approval  # type: ignore[union-attr]
    card.click(BOB, "baton_approve")
    view = wait_for(world.runtime, card.run_id, RunState.merged, timeout=60)
    assert [c.number for c in view.changes] == [1]


def test_the_requester_cancels_a_working_run_with_the_cancel_button(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    with held_working(tmp_path, monkeypatch, start_runtime) as (world, card):
        until("the Cancel button", lambda: card.value("baton_cancel"))
        card.click(ALICE, "baton_cancel")
        wait_for(world.runtime, card.run_id, RunState.cancelled, timeout=30)
        until("the card to say Cancelled", lambda: card.header().endswith("Cancelled"))


def test_a_stranger_cannot_cancel_and_is_told_why_and_the_refusal_is_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    with held_working(tmp_path, monkeypatch, start_runtime) as (world, card):
        until("the Cancel button", lambda: card.value("baton_cancel"))
        card.click(CAROL, "baton_cancel")
        note = until("a note to Carol", lambda: ephemerals(world.slack, CAROL))
        assert note[0].startswith("You can't cancel this run: only the requester or an approver may do that")
        assert world.runtime.store.get_run(card.run_id).state is RunState.working  # type: ignore[union-attr]
        # ...and the refusal is in the audit trail, with who and why.
        records = world.runtime.store.audit.records(card.run_id)
        assert [(r.kind, r.outcome, r.actor) for r in records] == [
            (AuditKind.trigger, AuditOutcome.accepted, f"slack:{ALICE}"),
            (AuditKind.cancellation, AuditOutcome.refused, f"slack:{CAROL}"),
        ]
        assert records[1].reason == note[0].removeprefix("You can't cancel this run: ").removesuffix(".")


def test_an_x_reaction_on_the_card_by_the_requester_cancels_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    with held_working(tmp_path, monkeypatch, start_runtime) as (world, card):
        world.sender.event(slack_events.event_callback(slack_events.reaction_added(CAROL, "x", "C111", card.ts)))
        until("a note to Carol", lambda: ephemerals(world.slack, CAROL))
        assert world.runtime.store.get_run(card.run_id).state is RunState.working  # type: ignore[union-attr]
        world.sender.event(slack_events.event_callback(slack_events.reaction_added(ALICE, "x", "C111", card.ts)))
        wait_for(world.runtime, card.run_id, RunState.cancelled, timeout=30)


def _retried(runtime: Runtime, run_id: str) -> bool:
    run = runtime.store.get_run(run_id)
    return run is not None and run.attempt == 2 and run.state is not RunState.failed


def test_retry_on_a_failed_card_runs_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    flag = tmp_path / "failed-once"
    args = ("--fail-first-time", str(flag), "--append", "README.md", "fixed")
    with world_with(tmp_path, monkeypatch, start_runtime, *args) as world:
        card = start(world, "flaky change playbook=once", RunState.failed)
        until("the Retry button", lambda: card.value("baton_retry"))
        card.click(ALICE, "baton_retry")
        # The click is answered before it is acted on: wait for the second attempt to exist first.
        # (A retry sets the attempt, then the state: wait for both.)
        until("the retry", lambda: _retried(world.runtime, card.run_id))
        wait_for(world.runtime, card.run_id, RunState.awaiting_approval, timeout=60)
        until("the Approve button after the retry", lambda: card.value("baton_approve"))


def test_approver_user_groups_narrow_who_may_approve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    extra = {"approval": {"approvers": ["slack:*"]}}
    extra["slack"] = {"channel_repos": {"C111": ["api"]}, "approver_usergroups": ["S0LEADS"]}  # type: ignore[dict-item]
    with world_with(tmp_path, monkeypatch, start_runtime, "--append", "README.md", "x", **extra) as world:
        world.slack.add_usergroup("S0LEADS", [BOB])
        card = start(world, "change the readme")
        until("the Approve button", lambda: card.value("baton_approve"))
        remote = tmp_path / "remotes" / "api.git"
        main_before = ref_sha(remote, "main")
        card.click(CAROL, "baton_approve")
        note = until("a note to Carol", lambda: ephemerals(world.slack, CAROL))
        assert "only members of <!subteam^S0LEADS> may approve from Slack" in note[0]
        assert world.runtime.store.get_run(card.run_id).state is RunState.awaiting_approval  # type: ignore[union-attr]
        assert ref_sha(remote, "main") == main_before
        card.click(BOB, "baton_approve")
        wait_for(world.runtime, card.run_id, RunState.merged, timeout=60)
        assert ref_sha(remote, "main") != main_before


def test_a_strangers_approve_click_is_in_the_audit_trail_with_the_reason_and_heads(world: SlackWorld) -> None:
    card = start(world, "change the readme")
    until("the Approve button", lambda: card.value("baton_approve"))
    card.click(CAROL, "baton_approve")
    until("a note to Carol", lambda: ephemerals(world.slack, CAROL))
    heads = {c.repo: c.head_sha for c in world.runtime.store.changes(card.run_id)}
    refused = [r for r in world.runtime.store.audit.records(card.run_id) if r.outcome is AuditOutcome.refused]
    assert [(r.kind, r.actor, r.surface) for r in refused] == [(AuditKind.approval, f"slack:{CAROL}", "slack")]
    assert "is not an approver" in refused[0].reason
    assert refused[0].shas == heads
