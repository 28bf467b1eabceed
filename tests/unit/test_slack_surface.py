"""The Slack surface over the Slack stand-in and a real store: where the card goes, how edits are
coalesced (an injected clock drives time), which events get a thread reply, and recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from slack_sdk import WebClient

from bot.config.settings import Settings
from bot.domain.models import Actor, ReplyTo, RunSpec, RunState, Source, Trigger, utcnow
from bot.domain.records import RunView, Step, StepState
from bot.store.store import Store
from bot.surfaces.slack.surface import CARD_FACT, SlackSurface, wants, web_client
from tests.fakes.slack_api import FakeSlack
from tests.views import Clock, migrated_store

TOKEN = "xoxb-surface-test"
ALICE = Actor(source=Source.slack, id="U0ALICE", display="alice")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(TOKEN) as fake:
        yield fake


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return migrated_store(tmp_path)


def new_run(store: Store, run_id: str = "r1", source: Source = Source.slack, thread_ts: str | None = "1.1") -> str:
    trigger = Trigger(
        source=source,
        actor=ALICE if source is Source.slack else Actor(source=source, id="cron"),
        request="rename the flag",
        reply_to=ReplyTo(source=Source.slack, channel="C1", thread_ts=thread_ts),
        delivery_id=run_id,
    )
    store.create_run(RunSpec(run_id=run_id, trigger=trigger, repos=["api"], playbook="default"))
    return run_id


def step_done(store: Store, run_id: str, i: int) -> None:
    step = Step(run_id=run_id, key=f"s{i}", name=f"step {i}", repo="api", state=StepState.succeeded)
    store.save_step_with_event(step.model_copy(update={"finished_at": utcnow()}), "step_finished", {"step": step.key})


def surface(slack: FakeSlack, store: Store, clock: Clock, client: WebClient | None = None) -> SlackSurface:
    client = client or WebClient(token=TOKEN, base_url=slack.api_url)
    return SlackSurface(client, store, approvers="<@U0BOB>", interval=1.0, clock=clock)


def carded(slack: FakeSlack, store: Store) -> tuple[Clock, SlackSurface, str, str | None]:
    """Run r1 with its card posted in thread C1/1.1: the surface's clock, the surface, the run, the card's ts."""
    clock = Clock()
    run_id = new_run(store)
    slack_surface = surface(slack, store, clock)
    return clock, slack_surface, run_id, slack_surface.post_card(run_id, "C1", "1.1")


def deliver(surface: SlackSurface, store: Store, run_id: str, after: int = 0) -> int:
    """What the hub does for one run: every event after `after`, with the current view."""
    view = store.view(run_id)
    assert view is not None
    for event in store.events(run_id, after_seq=after):
        surface.publish(view, event)
    return view.last_seq


def view(store: Store, run_id: str) -> RunView:
    found = store.view(run_id)
    assert found is not None
    return found


def test_the_card_is_posted_in_the_thread_and_remembered_with_links(slack: FakeSlack, store: Store) -> None:
    run_id = new_run(store)
    ts = surface(slack, store, Clock()).post_card(run_id, "C1", "1.1")
    [card] = slack.thread("C1", "1.1")
    assert card["ts"] == ts
    assert store.get_fact(run_id, CARD_FACT) == {"channel": "C1", "ts": ts, "thread_ts": "1.1"}
    assert store.run_for_link("slack:thread:C1:1.1") == run_id
    assert store.run_for_link(f"slack:card:C1:{ts}") == run_id


def test_a_card_posted_outside_a_thread_starts_its_own(slack: FakeSlack, store: Store) -> None:
    run_id = new_run(store, thread_ts=None)
    ts = surface(slack, store, Clock()).post_card(run_id, "C1", None)
    assert store.run_for_link(f"slack:thread:C1:{ts}") == run_id


def test_twenty_quick_steps_within_a_second_make_one_edit(slack: FakeSlack, store: Store) -> None:
    clock, slack_surface, run_id, _ = carded(slack, store)
    seen = 0
    for i in range(20):
        step_done(store, run_id, i)
        seen = deliver(slack_surface, store, run_id, seen)
        slack_surface.flush()
        clock.now += 0.04
    assert len(slack.calls_to("chat.update")) == 1


def test_a_pending_change_is_shown_once_the_interval_has_passed(slack: FakeSlack, store: Store) -> None:
    clock, slack_surface, run_id, _ = carded(slack, store)
    store.set_state(run_id, RunState.planning)
    seen = deliver(slack_surface, store, run_id)
    slack_surface.flush()
    store.set_state(run_id, RunState.working)
    deliver(slack_surface, store, run_id, seen)
    slack_surface.flush()
    clock.now += 0.5
    slack_surface.flush()
    edits_before = len(slack.calls_to("chat.update"))
    clock.now += 0.5
    slack_surface.flush()
    assert (edits_before, len(slack.calls_to("chat.update"))) == (1, 2)
    assert slack.calls_to("chat.update")[-1].params["blocks"][0]["text"]["text"].endswith("Working")


def test_a_milestone_is_shown_at_once_and_replied_in_the_thread(slack: FakeSlack, store: Store) -> None:
    _, slack_surface, run_id, ts = carded(slack, store)
    step_done(store, run_id, 1)
    seen = deliver(slack_surface, store, run_id)
    slack_surface.flush()
    store.append_event(run_id, "approval_requested", {"prs": ["local://api/pull/1"]})
    store.set_state(run_id, RunState.awaiting_approval, waiting_for="approval")
    deliver(slack_surface, store, run_id, seen)
    slack_surface.flush()
    assert len(slack.calls_to("chat.update")) == 2
    assert [m["text"] for m in slack.thread("C1", "1.1") if m["ts"] != ts] == [
        "Approval needed from <@U0BOB>. Use *Approve & merge* on the card."
    ]


def test_a_redelivered_milestone_is_not_replied_twice(slack: FakeSlack, store: Store) -> None:
    _, slack_surface, run_id, _ = carded(slack, store)
    store.append_event(run_id, "plan_ready", {"order": ["api"], "summary": "one PR"})
    deliver(slack_surface, store, run_id)
    deliver(slack_surface, store, run_id)
    assert len(slack.thread("C1", "1.1")) == 2


def test_an_edit_that_failed_is_made_at_the_next_flush(slack: FakeSlack, store: Store) -> None:
    _, slack_surface, run_id, _ = carded(slack, store)
    slack.rate_limit("chat.update", times=1)
    store.set_state(run_id, RunState.failed, error="boom")
    deliver(slack_surface, store, run_id)
    slack_surface.flush()
    slack_surface.flush()
    assert [c.status for c in slack.calls_to("chat.update")] == [429, 200]


def test_a_rate_limited_edit_is_retried_after_retry_after_and_the_card_ends_right(
    slack: FakeSlack, store: Store, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, SLACK_BOT_TOKEN=SecretStr(TOKEN), SLACK_API_URL=slack.api_url)
    run_id = new_run(store)
    slack_surface = surface(slack, store, Clock(), client=web_client(settings))
    ts = slack_surface.post_card(run_id, "C1", "1.1")
    assert ts is not None
    slack.rate_limit("chat.update", times=1, retry_after=0)
    store.set_state(run_id, RunState.cancelled, error="cancelled by slack:U0ALICE")
    deliver(slack_surface, store, run_id)
    slack_surface.flush()
    assert [c.status for c in slack.calls_to("chat.update")] == [429, 200]
    assert slack.message("C1", ts)["blocks"][0]["text"]["text"] == ":no_entry_sign: Cancelled"


def test_a_card_that_could_not_be_posted_is_posted_by_the_next_flush(slack: FakeSlack, store: Store) -> None:
    run_id = new_run(store)
    slack_surface = surface(slack, store, Clock())
    slack.rate_limit("chat.postMessage", times=1)
    assert slack_surface.post_card(run_id, "C1", "1.1") is None
    store.set_state(run_id, RunState.planning)
    deliver(slack_surface, store, run_id)
    slack_surface.flush()
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]
    assert store.get_fact(run_id, CARD_FACT)["ts"] == slack.calls_to("chat.postMessage")[1].response["ts"]  # type: ignore[index]


def test_a_slack_run_whose_card_is_not_posted_yet_is_not_posted_by_the_surface(slack: FakeSlack, store: Store) -> None:
    run_id = new_run(store)
    slack_surface = surface(slack, store, Clock())
    deliver(slack_surface, store, run_id)
    slack_surface.flush()
    assert slack.calls_to("chat.postMessage") == []


def test_a_run_from_elsewhere_pointed_at_a_channel_gets_its_card_from_the_surface(
    slack: FakeSlack, store: Store
) -> None:
    run_id = new_run(store, source=Source.schedule, thread_ts=None)
    slack_surface = surface(slack, store, Clock())
    deliver(slack_surface, store, run_id)
    slack_surface.flush()
    [post] = slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "C1"
    assert "thread_ts" not in post.params


def test_the_surface_wants_runs_that_report_to_slack_only(store: Store) -> None:
    slack_run = new_run(store, "r1")
    trigger = Trigger(
        source=Source.cli, actor=ALICE, request="x", reply_to=ReplyTo(source=Source.cli), delivery_id="d2"
    )
    store.create_run(RunSpec(run_id="r2", trigger=trigger, repos=["api"], playbook="default"))
    assert [wants(view(store, slack_run)), wants(view(store, "r2"))] == [True, False]


def test_progress_that_changes_nothing_on_the_card_makes_no_edit(slack: FakeSlack, store: Store) -> None:
    clock, slack_surface, run_id, _ = carded(slack, store)
    seen = 0
    for lines in range(5):
        store.append_event(run_id, "agent_progress", {"step": "s1", "kind": "tool", "lines": lines})
        seen = deliver(slack_surface, store, run_id, seen)
        clock.now += 2
        slack_surface.flush()
    assert slack.calls_to("chat.update") == []
