"""The scheduler's jobs as Slack shows them (Baton served over HTTP, the Slack stand-in): a cron
playbook's card goes to its `post_to` channel, approvers are reminded in the run's thread once per
interval, and an expired run closes its PRs when the policy says so — and its card says so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import ChangeState, RunState
from bot.surfaces.slack.surface import CARD_FACT
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, wait_for
from tests.fakes.served_app import until
from tests.fakes.slack_harness import SlackWorld, slack_world

ALICE, BOB = "U0ALICE", "U0BOB"
MONDAY_0600 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[SlackWorld]:
    remotes = make_repos(tmp_path, ["api"])
    weekly = {
        "name": "weekly-deps",
        "cron": "0 6 * * MON",
        "request": "bump dependencies",
        "repos": ["api"],
        "post_to": "#eng",
        "misfire_grace_s": 0,  # the test fires it by hand
    }
    config: dict[str, Any] = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "bumped")],
        "approval": {"approvers": [f"slack:{BOB}"], "remind_after_hours": 1, "on_expiry": "close"},
        "slack": {"channel_repos": {"C111": ["api"]}},
        "schedules": [weekly],
    }
    with slack_world(monkeypatch, start_runtime, config) as w:
        yield w


def _delivered(world: SlackWorld, run_id: str) -> None:
    """Wait until the Slack surface has been handed every event the run has so far."""
    store = world.runtime.store

    def caught_up() -> bool:
        cursor = store.get_fact(run_id, "surface:slack")
        return cursor is not None and int(cursor["seq"]) >= store.last_seq(run_id)

    until("the Slack surface caught up", caught_up)


def _thread_texts(world: SlackWorld, run_id: str) -> list[str]:
    where = world.runtime.store.get_fact(run_id, CARD_FACT)
    assert where is not None and where["thread_ts"]
    return [str(m.get("text", "")) for m in world.slack.thread(str(where["channel"]), str(where["thread_ts"]))]


def _reminders(world: SlackWorld, run_id: str) -> list[str]:
    return [t for t in _thread_texts(world, run_id) if t.startswith(":bell: Reminder")]


def test_a_scheduled_run_posts_to_its_channel_and_reminds_approvers_once_per_interval(world: SlackWorld) -> None:
    runtime = world.runtime
    outcome = str(runtime.scheduler.fire("schedule:weekly-deps", MONDAY_0600))
    assert outcome.startswith("started ")
    run_id = outcome.split()[1]
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    assert view.run.spec.trigger.reply_to.channel == "#eng"
    until("the card in #eng", lambda: (runtime.store.get_fact(run_id, CARD_FACT) or {}).get("ts"))
    asked = [e for e in runtime.store.events(run_id) if e.kind == "approval_requested"][-1].at

    first_due = asked + timedelta(hours=1, minutes=1)
    assert runtime.scheduler.fire("approval-reminders", asked + timedelta(minutes=59)) == "0 reminder(s)"
    assert runtime.scheduler.fire("approval-reminders", first_due) == "1 reminder(s)"
    assert runtime.scheduler.fire("approval-reminders", first_due) == "0 reminder(s)"
    assert runtime.make_scheduler().fire("approval-reminders", first_due) == "0 reminder(s)"  # another replica
    _delivered(world, run_id)
    assert len(_reminders(world, run_id)) == 1

    assert runtime.scheduler.fire("approval-reminders", asked + timedelta(hours=2, minutes=1)) == "1 reminder(s)"
    _delivered(world, run_id)
    reminders = _reminders(world, run_id)
    assert len(reminders) == 2
    assert all(f"<@{BOB}>" in text for text in reminders)
    assert "1h00m" in reminders[0] and "2h00m" in reminders[1]


def test_an_expired_run_closes_its_prs_and_its_card_says_so(world: SlackWorld) -> None:
    runtime = world.runtime
    envelope, answer = world.mention(ALICE, "<@U0BATON> move the client to /v2/items")
    assert answer.status_code == 200
    thread = envelope["event"]["ts"]
    run_id = until("the run", lambda: runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)

    assert runtime.scheduler.fire("approval-expiry", view.run.created_at + timedelta(hours=72)) == "1 expired"

    view = wait_for(runtime, run_id, RunState.expired, timeout=30)
    [change] = view.changes
    assert change.state is ChangeState.closed
    assert runtime.forges.refresh(change).state is ChangeState.closed
    _delivered(world, run_id)
    where = runtime.store.get_fact(run_id, CARD_FACT)
    assert where is not None

    def card_texts() -> list[str]:
        card = world.slack.message(str(where["channel"]), str(where["ts"]))
        return [str(b.get("text", {}).get("text", "")) for b in card["blocks"]]

    # Handed to the surface is not yet edited: card edits are coalesced, so wait for the edit.
    until("the card says Expired", lambda: card_texts()[0].endswith("Expired"))
    assert any("PRs closed: api #1" in t for t in card_texts())
    until(
        "the thread says the run expired",
        lambda: any(t.startswith(":alarm_clock: Expired") for t in _thread_texts(world, run_id)),
    )
