"""What the Slack endpoint accepts and refuses, driven over HTTP exactly as Slack sends requests:
signatures and their 5-minute window, retries, Slack's URL check, malformed and oversized bodies,
requests Baton cannot run, and people who may not start runs."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, wait_for
from tests.fakes import slack_events
from tests.fakes.served_app import until
from tests.fakes.slack_events import BOLT, sign
from tests.fakes.slack_harness import SlackWorld, slack_world

ALICE, MALLORY = "U0ALICE", "U0MALLORY"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Any:
    remotes = make_repos(tmp_path, ["api", "web"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "done")],
        "slack": {"allowed_users": [ALICE], "channel_repos": {"C111": ["api"]}},
    }
    with slack_world(monkeypatch, start_runtime, config) as w:
        yield w


def test_a_forged_signature_is_refused_with_401_and_nothing_happens(world: SlackWorld) -> None:
    envelope = slack_events.event_callback(slack_events.app_mention(ALICE, "<@U0BATON> do it"))
    body = json.dumps(envelope).encode()
    forged = sign("not-the-signing-secret", str(int(time.time())), body)
    answer = world.sender.post(body, "application/json", signature=forged)
    assert (answer.status_code, answer.json()) == (401, {"ok": False, "error": "invalid signature"})
    assert world.runtime.store.list_runs() == []
    assert [c.method for c in world.slack.calls] == ["auth.test"]  # made at start, to pin the workspace


def test_a_request_signed_six_minutes_ago_is_refused_with_401(world: SlackWorld) -> None:
    envelope = slack_events.event_callback(slack_events.app_mention(ALICE, "<@U0BATON> do it"))
    answer = world.sender.event(envelope, timestamp=int(time.time()) - 6 * 60)
    assert (answer.status_code, answer.json()["error"]) == (401, "request timestamp outside the 5-minute window")
    assert world.runtime.store.list_runs() == []


def test_a_retried_event_starts_one_run_with_one_card(world: SlackWorld) -> None:
    envelope, first = world.mention(ALICE, "<@U0BATON> add a changelog entry")
    retry = world.sender.event(envelope, retry_num=1)
    again = world.sender.event(envelope, retry_num=2)
    assert [first.status_code, retry.status_code, again.status_code] == [200, 200, 200]
    [run] = until("the run", lambda: world.runtime.store.list_runs())
    wait_for(world.runtime, run.run_id, RunState.awaiting_approval, timeout=60)
    assert len(world.runtime.store.list_runs()) == 1
    cards = [c for c in world.slack.calls_to("chat.postMessage") if c.params.get("blocks")]
    assert len(cards) == 1


def test_slacks_url_verification_is_answered_with_its_challenge(world: SlackWorld) -> None:
    body = json.loads((BOLT / "url_verification.json").read_text())
    answer = world.sender.event(body)
    assert (answer.status_code, answer.json()) == (200, {"challenge": body["challenge"]})


def test_malformed_json_with_a_valid_signature_is_refused_with_400_and_a_reason(world: SlackWorld) -> None:
    answer = world.sender.post(b'{"type": "event_callback", ', "application/json")
    assert (answer.status_code, answer.json()["error"]) == (400, "malformed body: JSONDecodeError")


def test_a_body_over_25_mb_is_refused_with_413(world: SlackWorld) -> None:
    answer = world.sender.post(b"x" * (25 * 1024 * 1024 + 1), "application/json")
    assert answer.status_code == 413


def test_an_unknown_repo_gets_a_reply_in_the_thread_listing_the_valid_ones(world: SlackWorld) -> None:
    envelope, _ = world.mention(ALICE, "<@U0BATON> bump deps repo=billing")
    reply = until("a reply", lambda: world.slack.calls_to("chat.postMessage"))[0]
    assert reply.params["thread_ts"] == envelope["event"]["ts"]
    assert reply.params["text"] == "Unknown repo `billing`. Valid repos: api, web."
    assert world.runtime.store.list_runs() == []


def test_an_unknown_agent_gets_a_reply_listing_the_valid_ones(world: SlackWorld) -> None:
    world.mention(ALICE, "<@U0BATON> bump deps agent=gpt-9")
    reply = until("a reply", lambda: world.slack.calls_to("chat.postMessage"))[0]
    assert reply.params["text"] == "Unknown agent `gpt-9`. Valid agents: coder."


def test_someone_not_allowed_to_start_runs_gets_an_ephemeral_explanation(world: SlackWorld) -> None:
    envelope, _ = world.mention(MALLORY, "<@U0BATON> delete everything")
    note = until("an ephemeral note", lambda: world.slack.calls_to("chat.postEphemeral"))[0]
    assert (note.params["user"], note.params["thread_ts"]) == (MALLORY, envelope["event"]["ts"])
    assert note.params["text"] == "Sorry, only <@U0ALICE> may start Baton runs."
    assert world.runtime.store.list_runs() == []
    assert world.slack.calls_to("chat.postMessage") == []


def test_the_first_reply_echoes_the_repos_agent_pattern_and_budget_understood(world: SlackWorld) -> None:
    envelope, _ = world.mention(ALICE, "<@U0BATON> bump deps repo=web agent=coder budget=$3")
    card = until("the card", lambda: world.slack.calls_to("chat.postMessage"))[0]
    fields = [f["text"] for f in card.params["blocks"][1]["fields"]]
    assert fields == [
        "*Requester*\n<@U0ALICE>",
        "*Repos*\nweb",
        "*Agent*\ncoder",
        "*Pattern*\ndefault",
        "*Budget*\n$3.00",
    ]
    assert "*Request:* bump deps" in card.params["blocks"][1]["text"]["text"]
    assert card.params["thread_ts"] == envelope["event"]["ts"]


def test_the_slack_edge_starts_without_a_warning_from_bolt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # SLACK_BOT_TOKEN is in the environment, as in every deployment: bolt reads it too.
    with caplog.at_level("WARNING", logger="baton.slack.bolt"), slack_world(monkeypatch, start_runtime, {}) as w:
        _, answer = w.mention(ALICE, "<@U0BATON> hello")
        assert answer.status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("baton.slack.bolt")] == []


def test_an_event_is_acknowledged_while_every_handler_thread_waits_on_slack(world: SlackWorld) -> None:
    # Refusals answer through chat.postEphemeral from the handler's worker thread; with Slack held,
    # enough refused mentions fill every thread of the pool the handlers (and once, the workspace
    # check) run on. The next event must still be acknowledged: nothing in the ack path may queue
    # behind a handler.
    pool = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default executor
    held = world.slack.hold("chat.postEphemeral")
    try:
        for i in range(pool + 2):
            world.mention(MALLORY, f"<@U0BATON> attempt {i}")
        until("every handler thread waits on Slack", lambda: world.slack.waiting >= pool)
        answers: list[Any] = []
        late = threading.Thread(target=lambda: answers.append(world.mention(ALICE, "<@U0BATON> status")[1]))
        late.start()
        late.join(timeout=30)
        acknowledged_while_held = not late.is_alive() and not held.is_set()
    finally:
        held.set()
    assert acknowledged_while_held
    assert answers[0].status_code == 200
