"""Linear's agent sessions end to end: a delegation gets its first thought from the webhook path
even while the run queue is full (before its run can start), the session links to the run's page,
the run's work shows as activities, and a prompt with the stop signal cancels the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, event_data, make_repos, repo_entries, wait_for
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import LinearWorld, linear_world
from tests.fakes.linear_state import Team, User
from tests.fakes.served_app import until

ASK = "@baton write the notes\nrepos: web"


class World(LinearWorld):
    people: dict[str, User]
    release: Path


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[World]:
    remotes = make_repos(tmp_path, ["api", "web"])
    journal, release = tmp_path / "journal.log", tmp_path / "release"
    people: dict[str, User] = {}

    def config(fake: FakeLinear, team: Team) -> dict[str, Any]:
        people["alice"] = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
        coder = agent(
            "coder", "--count", str(journal), "--block-until", str(release), "--append", "NOTES.md", "from Linear"
        )
        return {
            "repos": repo_entries(remotes),
            "agents": [coder],
            "concurrency": {"global": 1},  # one repo at a time across all runs: the queue fills fast
            # Alice is listed, so her request may name a repo beyond her team's (`repos: web`).
            "linear": {"team_repos": {"ENG": ["api"]}, "allowed_users": [people["alice"].id]},
        }

    with linear_world(monkeypatch, start_runtime, config, journal) as w:
        w.__class__ = World
        w.people, w.release = people, release  # type: ignore[attr-defined]
        yield w  # type: ignore[misc]


def test_a_delegated_issue_gets_its_first_thought_before_its_queued_run_starts(world: World) -> None:
    ws, alice = world.linear.workspace, world.people["alice"]
    busy = ws.add_issue(world.team, "Occupy the queue")
    first = world.send(world.hooks.issue_labelled(busy, world.label, alice)).json()["run_id"]
    until(
        "the first run's agent to hold the only queue slot",
        lambda: any(x.startswith("api ") for x in world.journal_lines()),
    )

    delegated = ws.add_issue(world.team, "Write notes")
    session = ws.add_session(delegated, alice)
    answer = world.send(world.hooks.session_event("created", session, comment=ASK))
    assert answer.status_code == 200
    second = answer.json()["run_id"]

    # Answered with the thought already in the session; then the session links to the run's page.
    thoughts = [a.content for a in ws.activities.values() if a.session_id == session.id]
    assert [t["type"] for t in thoughts] == ["thought"] and second in thoughts[0]["body"]
    page = f"{world.runtime.settings.public_url}/runs/{second}"
    until("the session's link", lambda: session.external_urls == [{"label": f"Baton run {second}", "url": page}])

    world.release.touch()
    wait_for(world.runtime, second, RunState.awaiting_approval, timeout=60)
    lines = world.journal_lines()
    thought_at = lines.index("linear BatonAgentActivityCreate")
    web_started_at = next(i for i, line in enumerate(lines) if line.startswith("web "))
    assert thought_at < web_started_at
    assert world.runtime.store.get_run(first).state is RunState.awaiting_approval  # type: ignore[union-attr]


def test_a_session_shows_the_work_and_asks_for_approval(world: World) -> None:
    ws, alice = world.linear.workspace, world.people["alice"]
    world.release.touch()
    session = ws.add_session(ws.add_issue(world.team, "Write notes"), alice)
    run_id = world.send(world.hooks.session_event("created", session, comment=ASK)).json()["run_id"]
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)
    kinds = until(
        "the elicitation",
        lambda: (
            "elicitation" in (k := [a.content["type"] for a in ws.activities.values() if a.session_id == session.id])
            and k
        ),
    )
    assert kinds[0] == "thought" and kinds[-1] == "elicitation" and "action" in kinds


def test_a_stop_signal_cancels_the_run_and_the_session_gets_a_closing_response(world: World) -> None:
    ws, alice = world.linear.workspace, world.people["alice"]
    session = ws.add_session(ws.add_issue(world.team, "Write notes"), alice)
    run_id = world.send(world.hooks.session_event("created", session, comment=ASK)).json()["run_id"]
    until("the agent to start", lambda: any(x.startswith("web ") for x in world.journal_lines()))

    answer = world.send(world.hooks.session_prompted(session, alice, "Stop please", signal="stop"))
    assert answer.status_code == 200
    wait_for(world.runtime, run_id, RunState.cancelled, timeout=30)
    closing = until(
        "the closing response",
        lambda: [
            a.content for a in ws.activities.values() if a.session_id == session.id and a.content["type"] == "response"
        ],
    )
    assert closing == [{"type": "response", "body": f"Run `{run_id}` cancelled: cancelled by linear:{alice.id}"}]


def test_prompts_in_the_session_answer_commands_and_ask_for_another_round(world: World) -> None:
    ws, alice = world.linear.workspace, world.people["alice"]
    world.release.touch()
    session = ws.add_session(ws.add_issue(world.team, "Write notes"), alice)
    run_id = world.send(world.hooks.session_event("created", session, comment=ASK)).json()["run_id"]
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)
    # The surface asks for approval on its own thread; let it speak before the status question.
    until(
        "the approval request in the session",
        lambda: any(
            a.session_id == session.id and a.content.get("type") == "elicitation" for a in ws.activities.values()
        ),
    )

    answer = world.send(world.hooks.session_prompted(session, alice, "/baton status"))
    assert answer.json()["answers"][0].startswith("awaiting approval · web · ")
    said = [a.content for a in ws.activities.values() if a.session_id == session.id]
    assert said[-1] == {"type": "thought", "body": answer.json()["answers"][0]}

    world.send(world.hooks.session_prompted(session, alice, "Also list the date in the notes"))
    until("the follow-up", lambda: event_data(world.runtime, run_id, "follow_up_requested"))
    assert (
        event_data(world.runtime, run_id, "follow_up_requested")[0]["instruction"] == "Also list the date in the notes"
    )
