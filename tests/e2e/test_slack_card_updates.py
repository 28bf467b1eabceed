"""How the card is kept current on a real run: edits are coalesced (at most one `chat.update` per
second of the run plus one per milestone), and Slack's 429 answers are waited out so the card ends
right."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, wait_for
from tests.fakes.served_app import until
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_harness import SlackWorld, button_value, slack_world

ALICE, BOB = "U0ALICE", "U0BOB"
STEPS = 20
# Events after which the card is edited at once: the milestones people are told about in the
# thread, the wait for approval (its buttons), the decision, and the end.
AT_ONCE = {"plan_ready", "pr_opened", "approval_requested", "decision"}
AT_ONCE_STATES = {"awaiting_approval", "merged", "failed", "cancelled", "rejected", "expired"}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Any:
    remotes = make_repos(tmp_path, ["api"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "NOTES.md", "one more line")],
        "playbooks": {"twenty": {"per_repo": {"sequential": [{"agent": "coder"} for _ in range(STEPS)]}}},
        "approval": {"approvers": [f"slack:{BOB}"]},
        "slack": {"channel_repos": {"C111": ["api"]}},
    }
    with slack_world(monkeypatch, start_runtime, config) as w:
        yield w


def card(slack: FakeSlack, ts: str) -> dict[str, Any]:
    return slack.message("C111", ts)


def approve_value(message: dict[str, Any]) -> str | None:
    return button_value(message, "baton_approve")


def run_to_approval(world: SlackWorld, request: str) -> tuple[str, str, str]:
    envelope, _ = world.mention(ALICE, f"<@U0BATON> {request}")
    thread = envelope["event"]["ts"]
    run_id = until("the run", lambda: world.runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=90)
    card_ts = world.slack.calls_to("chat.postMessage")[0].response["ts"]
    until("the Approve button on the card", lambda: approve_value(card(world.slack, card_ts)))
    return run_id, thread, card_ts


def test_twenty_quick_steps_edit_the_card_at_most_once_a_second_plus_once_per_milestone(world: SlackWorld) -> None:
    run_id, thread, card_ts = run_to_approval(world, "append twenty notes playbook=twenty")
    value = approve_value(card(world.slack, card_ts))
    assert value is not None
    world.click(BOB, "C111", card_ts, "baton_approve", value, thread)
    wait_for(world.runtime, run_id, RunState.merged, timeout=60)
    until("the card to say Merged", lambda: card(world.slack, card_ts)["blocks"][0]["text"]["text"].endswith("Merged"))

    events = world.runtime.store.events(run_id)
    steps = [e for e in events if e.kind in ("step_started", "step_finished")]
    at_once = [e for e in events if e.kind in AT_ONCE or (e.kind == "state" and e.data.get("to") in AT_ONCE_STATES)]
    posted = world.slack.calls_to("chat.postMessage")[0]
    updates = world.slack.calls_to("chat.update")
    seconds = updates[-1].at - posted.at
    assert len(steps) == 2 * STEPS
    assert len(updates) <= math.floor(seconds) + 1 + len(at_once)
    assert len(updates) < len(steps)


def test_a_rate_limited_card_edit_is_retried_after_retry_after_and_the_card_ends_right(world: SlackWorld) -> None:
    run_id, thread, card_ts = run_to_approval(world, "append a note")
    value = approve_value(card(world.slack, card_ts))
    assert value is not None
    world.slack.rate_limit("chat.update", times=1, retry_after=1)
    world.click(BOB, "C111", card_ts, "baton_approve", value, thread)
    wait_for(world.runtime, run_id, RunState.merged, timeout=60)
    final = until(
        "the card to say Merged",
        lambda: (m := card(world.slack, card_ts))["blocks"][0]["text"]["text"].endswith("Merged") and m,
    )
    statuses = [c.status for c in world.slack.calls_to("chat.update")]
    limited = statuses.index(429)
    assert statuses[limited + 1] == 200
    assert approve_value(final) is None
    assert f"Approved by <@{BOB}>" in str(final["blocks"])
