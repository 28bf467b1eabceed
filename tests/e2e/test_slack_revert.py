"""The Revert button on a merged run's Slack card, clicked over HTTP as Slack sends it: the revert
run's own card comes into the same thread, its revert PR waits for an approver's click, then merges."""

from __future__ import annotations

from pathlib import Path

from bot.domain.models import RunState
from bot.engine.revert_spec import revert_run_id
from tests.e2e.conftest import event_data, wait_for
from tests.e2e.test_slack_buttons import ALICE, BOB, Card, start
from tests.e2e.test_slack_buttons import world as world  # the fixture
from tests.fakes.served_app import until
from tests.fakes.slack_harness import SlackWorld
from tests.gitutil import read_file_on


def test_the_revert_button_on_a_merged_card_starts_a_revert_run_that_merges_after_an_approvers_click(
    world: SlackWorld,
) -> None:
    card = start(world, "change the readme")
    card.click(BOB, "baton_approve", until("the Approve button", lambda: card.value("baton_approve")))
    wait_for(world.runtime, card.run_id, RunState.merged, timeout=60)

    card.click(ALICE, "baton_revert", until("the Revert button", lambda: card.value("baton_revert")))

    revert_id = revert_run_id(card.run_id)
    wait_for(world.runtime, revert_id, RunState.awaiting_approval, timeout=60)
    cards = until(
        "the revert run's card",
        lambda: [k for k in world.runtime.store.links(revert_id) if k.startswith("slack:card:")],
    )
    revert_card = Card(world, card.thread, revert_id)
    revert_card.ts = cards[0].rsplit(":", 1)[1]
    assert f"slack:thread:C111:{card.thread}" in world.runtime.store.links(revert_id)  # the same thread
    assert event_data(world.runtime, card.run_id, "revert_requested")[0]["revert_run"] == revert_id
    revert_card.click(BOB, "baton_approve", until("its Approve button", lambda: revert_card.value("baton_approve")))
    wait_for(world.runtime, revert_id, RunState.merged, timeout=60)

    assert [e["repo"] for e in event_data(world.runtime, revert_id, "merged")] == ["api"]
    remote = Path(world.runtime.config.repo("api").url)
    assert read_file_on(remote, "main", "README.md") == "# api\n"
