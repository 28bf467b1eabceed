"""The `/baton` slash command (every answer ephemeral, in the command's HTTP response) and the App
Home tab (published with `views.publish`), over HTTP as Slack sends them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, wait_for
from tests.fakes import slack_events
from tests.fakes.served_app import until
from tests.fakes.slack_harness import SlackWorld, slack_world

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Any:
    remotes = make_repos(tmp_path, ["api"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "change")],
        "approval": {"approvers": [f"slack:{BOB}"]},
        "slack": {"channel_repos": {"C111": ["api"]}},
    }
    with slack_world(monkeypatch, start_runtime, config) as w:
        yield w


def answer(world: SlackWorld, user: str, text: str) -> str:
    response = world.command(user, text)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return str(body["text"])


def started(world: SlackWorld, user: str = ALICE) -> str:
    text = answer(world, user, "run add a changelog entry")
    run_id = text.split("`")[1]
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)
    return run_id


def test_help_explains_every_command(world: SlackWorld) -> None:
    text = answer(world, ALICE, "help")
    for usage in ("/baton run", "/baton status", "/baton list", "/baton cancel", "/baton help"):
        assert usage in text


def test_an_unknown_subcommand_answers_with_the_help(world: SlackWorld) -> None:
    assert answer(world, ALICE, "frobnicate") == answer(world, ALICE, "help")


def test_run_starts_a_run_whose_card_starts_a_thread_in_the_channel(world: SlackWorld) -> None:
    run_id = started(world)
    card = world.slack.calls_to("chat.postMessage")[0]
    assert card.params["channel"] == "C111"
    assert "thread_ts" not in card.params
    assert world.runtime.store.run_for_link(f"slack:thread:C111:{card.response['ts']}") == run_id


def test_list_names_recent_runs_with_their_state(world: SlackWorld) -> None:
    run_id = started(world)
    text = answer(world, CAROL, "list")
    assert text.startswith("*Recent runs*")
    assert f"`{run_id}` add a changelog entry — awaiting approval" in text


def test_status_without_a_run_shows_the_callers_latest(world: SlackWorld) -> None:
    run_id = started(world)
    assert answer(world, ALICE, "status").startswith(f"`{run_id}` add a changelog entry — awaiting approval")
    assert answer(world, CAROL, "status") == "You have no runs yet. `/baton list` shows everyone's."


def test_status_of_an_unknown_run_says_so(world: SlackWorld) -> None:
    assert answer(world, ALICE, "status r000") == "No run `r000`."


def test_cancel_is_refused_to_a_stranger_and_done_for_the_requester(world: SlackWorld) -> None:
    run_id = started(world)
    assert answer(world, CAROL, f"cancel {run_id}").startswith("You can't cancel this run")
    assert answer(world, ALICE, f"cancel {run_id}") == f"run {run_id} cancelled"
    wait_for(world.runtime, run_id, RunState.cancelled, timeout=30)


def test_the_home_tab_shows_the_viewers_runs_and_the_approvals_waiting_for_them(world: SlackWorld) -> None:
    run_id = started(world)
    for user in (ALICE, BOB):
        world.sender.event(slack_events.event_callback(slack_events.app_home_opened(user)))
    until("two home views", lambda: len(world.slack.calls_to("views.publish")) == 2)
    views = {c.params["user_id"]: str(c.params["view"]["blocks"]) for c in world.slack.calls_to("views.publish")}
    alice_waiting, alice_runs = views[ALICE].split("Your recent runs")
    bob_waiting, bob_runs = views[BOB].split("Your recent runs")
    assert "Nothing waits for you." in alice_waiting
    assert run_id in alice_runs
    assert run_id in bob_waiting
    assert "You have not started a run yet." in bob_runs
