"""Slack in front of GitHub: a mention starts a run on GitHub repos (the GitHub stand-in over bare
repos), and the Approve button merges there only for a Slack user mapped (`slack.github_logins`) to a
GitHub login with the approve permission on every repo of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import ChecksState, RunState
from tests.e2e.conftest import RuntimeFactory, agent, wait_for
from tests.fakes.github_setup import TOKEN, config_dict, start_fake
from tests.fakes.github_webhooks import Webhooks
from tests.fakes.served_app import until
from tests.fakes.slack_harness import SlackWorld, button_value, slack_world
from tests.gitutil import read_file_on

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GITHUB_SECRET = "whsec-slack-github-test"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[Any]:
    fake, remotes = start_fake(tmp_path, ["api"])
    fake.grant("acme/api", "maya", "maintain")
    fake.grant("acme/api", "carl", "write")
    config = config_dict(remotes)
    config.update(
        {
            "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
            "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
            "approval": {"approvers": ["slack:*"]},
            "slack": {"channel_repos": {"C111": ["api"]}, "github_logins": {BOB: "maya", CAROL: "carl"}},
        }
    )
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    try:
        with slack_world(monkeypatch, start_runtime, config) as w:
            w.github = fake  # type: ignore[attr-defined]
            w.hooks = Webhooks(  # type: ignore[attr-defined]
                fake, f"{w.url}/github/webhook", GITHUB_SECRET, outcomes=w.runtime.store.intake_outcome
            )
            w.remotes = remotes  # type: ignore[attr-defined]
            yield w
    finally:
        fake.stop()


def approve_value(message: dict[str, Any]) -> str | None:
    return button_value(message, "baton_approve")


def checks_pass(world: Any, run_id: str) -> None:
    for change in world.runtime.store.changes(run_id):
        world.github.add_check_run(f"acme/{change.repo}", change.head_sha, "test", "success")
        answer = world.hooks.send(
            "check_suite", world.hooks.check_suite_completed(f"acme/{change.repo}", change.number)
        )
        assert answer.status_code == 200, answer.text
    until("checks passed", lambda: all(c.checks is ChecksState.passed for c in world.runtime.store.changes(run_id)))


def test_a_slack_approval_merges_on_github_only_for_a_login_with_the_approve_permission(world: SlackWorld) -> None:
    envelope, _ = world.mention(ALICE, "<@U0BATON> move to /v2/items")
    thread = envelope["event"]["ts"]
    run_id = until("the run", lambda: world.runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
    view = wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)
    [pull] = world.github.pulls("acme/api")  # type: ignore[attr-defined]
    assert view.changes[0].number == pull.number
    checks_pass(world, run_id)
    card_ts = world.slack.calls_to("chat.postMessage")[0].response["ts"]
    value = until("the Approve button", lambda: approve_value(world.slack.message("C111", card_ts)))

    world.click(CAROL, "C111", card_ts, "baton_approve", value, thread)
    refusal = until("a note to Carol", lambda: world.slack.calls_to("chat.postEphemeral"))[0]
    assert (
        "@carl has write access to acme/api; to approve or reject this run you need maintain access"
        in (refusal.params["text"])
    )

    world.click(BOB, "C111", card_ts, "baton_approve", value, thread)
    wait_for(world.runtime, run_id, RunState.merged, timeout=60)
    assert "use /v2/items" in read_file_on(world.remotes["api"], "main", "README.md")  # type: ignore[attr-defined]
    until(
        "the card to say Merged", lambda: "Merged" in world.slack.message("C111", card_ts)["blocks"][0]["text"]["text"]
    )
