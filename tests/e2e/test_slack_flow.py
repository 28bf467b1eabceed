"""Slack end to end, the way people meet Baton: a mention starts a run whose card is in the thread
before any agent works; the card asks for approval; a click by someone who may not approve is
refused; a click by an approver merges on the local forge; the card ends "Merged"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, event_data, make_repos, repo_entries, wait_for
from tests.fakes.served_app import until
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_harness import SlackWorld, slack_world
from tests.gitutil import read_file_on

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


def card_of(slack: FakeSlack, channel: str, thread_ts: str) -> dict[str, Any] | None:
    """The bot's card in a thread: its first message with an actions or header block."""
    for message in slack.thread(channel, thread_ts):
        if any(b["type"] == "header" for b in message.get("blocks", [])):
            return message
    return None


def header(card: dict[str, Any]) -> str:
    return str(card["blocks"][0]["text"]["text"])


def button(card: dict[str, Any], action_id: str) -> dict[str, Any] | None:
    for block in card["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element["action_id"] == action_id:
                return dict(element)
    return None


def replies(slack: FakeSlack, channel: str, thread_ts: str) -> list[str]:
    return [m["text"] for m in slack.thread(channel, thread_ts) if not m.get("blocks")]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Any:
    remotes = make_repos(tmp_path, ["api"])
    marker = tmp_path / "agent-started"
    coder = agent("coder", "--marker", str(marker), "--append", "README.md", "use /v2/items", "--summary", "moved")
    config = {
        "repos": repo_entries(remotes),
        "agents": [coder],
        "approval": {"approvers": [f"slack:{BOB}"]},
        "slack": {"channel_repos": {"C111": ["api"]}},
    }
    with slack_world(monkeypatch, start_runtime, config) as w:
        w.remotes = remotes  # type: ignore[attr-defined]
        w.slack.observer = marker.exists  # each call to Slack notes whether an agent had started yet
        yield w


def test_a_mention_runs_to_a_merge_approved_by_a_click_on_the_card(world: SlackWorld) -> None:
    slack, store = world.slack, world.runtime.store
    envelope, answer = world.mention(ALICE, "<@U0BATON> move the client to /v2/items")
    assert answer.status_code == 200
    thread = envelope["event"]["ts"]
    run_id = until("the run linked to the thread", lambda: store.run_for_link(f"slack:thread:C111:{thread}"))

    # The card is in the thread, and it was there before any agent had started.
    card_post = until("the card", lambda: slack.calls_to("chat.postMessage"))[0]
    assert (card_post.params["channel"], card_post.params["thread_ts"]) == ("C111", thread)
    assert card_post.observed is False
    until("a card edit after the agent started", lambda: any(c.observed for c in slack.calls_to("chat.update")))
    view = wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)

    card = until(
        "the Approve button", lambda: (c := card_of(slack, "C111", thread)) and button(c, "baton_approve") and c
    )
    approve = button(card, "baton_approve")
    assert approve is not None

    # Carol is not an approver: refused, told who can approve, nothing merges.
    assert world.click(CAROL, "C111", card["ts"], "baton_approve", approve["value"], thread).status_code == 200
    refusal = until("an ephemeral refusal", lambda: slack.calls_to("chat.postEphemeral"))[0]
    assert refusal.params["user"] == CAROL
    assert "Who can approve: <@U0BOB>" in refusal.params["text"]
    assert store.get_run(run_id).state is RunState.awaiting_approval  # type: ignore[union-attr]

    # Bob approves: the PR merges on the local forge and the card ends "Merged".
    assert world.click(BOB, "C111", card["ts"], "baton_approve", approve["value"], thread).status_code == 200
    wait_for(world.runtime, run_id, RunState.merged, timeout=60)
    assert "use /v2/items" in read_file_on(world.remotes["api"], "main", "README.md")  # type: ignore[attr-defined]
    final = until(
        "the card to say Merged", lambda: (c := card_of(slack, "C111", thread)) and "Merged" in header(c) and c
    )
    assert header(final).endswith("Merged")
    assert f"Approved by <@{BOB}> at <!date^" in str(final["blocks"])
    assert button(final, "baton_approve") is None
    assert [d["actor"] for d in event_data(world.runtime, run_id, "decision")] == [f"slack:{BOB}"]
    assert len(view.changes) == 1


def test_milestones_are_replied_in_the_thread_in_order_and_steps_are_not(world: SlackWorld) -> None:
    slack = world.slack
    envelope, _ = world.mention(ALICE, "<@U0BATON> move the client to /v2/items")
    thread = envelope["event"]["ts"]
    run_id = until("the run", lambda: world.runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)
    card = until(
        "the Approve button", lambda: (c := card_of(slack, "C111", thread)) and button(c, "baton_approve") and c
    )
    world.click(BOB, "C111", card["ts"], "baton_approve", button(card, "baton_approve")["value"], thread)  # type: ignore[index]
    wait_for(world.runtime, run_id, RunState.merged, timeout=60)
    texts = until("three milestone replies", lambda: len(r := replies(slack, "C111", thread)) >= 3 and r)
    assert len(texts) == 3
    assert texts[0].startswith("Plan ready")
    review = f"{world.runtime.settings.public_url}/runs/{run_id}/diff"  # a local PR links to its part of it
    assert texts[1].startswith(f"1 PR opened: <{review}#api|api #1>\nApproval needed from <@U0BOB>")
    assert texts[2].startswith(":white_check_mark: Merged")


def test_a_seven_repo_run_keeps_its_thread_to_a_few_replies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    names = ["api", *(f"client{i}" for i in range(1, 7))]
    remotes = make_repos(tmp_path, names)
    entries = repo_entries(remotes)
    for entry in entries:
        if entry["name"] != "api":
            entry["depends_on"] = ["api"]
    config = {
        "repos": entries,
        "agents": [agent("coder", "--append", "README.md", "use /v1/products", "--summary", "renamed")],
        "approval": {"approvers": [f"slack:{BOB}"]},
        "slack": {"channel_repos": {"C111": names}},
    }
    with slack_world(monkeypatch, start_runtime, config) as world:
        envelope, _ = world.mention(ALICE, "<@U0BATON> rename /v1/items to /v1/products")
        thread = envelope["event"]["ts"]
        run_id = until("the run", lambda: world.runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
        wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=120)
        card = until(
            "the Approve button",
            lambda: (c := card_of(world.slack, "C111", thread)) and button(c, "baton_approve") and c,
        )
        value = button(card, "baton_approve")["value"]  # type: ignore[index]
        world.click(BOB, "C111", card["ts"], "baton_approve", value, thread)
        wait_for(world.runtime, run_id, RunState.merged, timeout=120)
        merged = "the merged reply"
        texts = until(merged, lambda: (r := replies(world.slack, "C111", thread)) and "Merged" in r[-1] and r)
    assert len(texts) <= 4
    review = f"{world.runtime.settings.public_url}/runs/{run_id}/diff"
    assert texts[1].startswith(f"7 PRs opened: <{review}#api|api #1>, ")
    assert all(name in texts[1] for name in names)
