"""Linear end to end, through the real ASGI app over HTTP with signed webhooks: labelling an issue
starts a run whose status comment is on the issue before any agent works; the PR is attached and
the issue moves to "In Review"; `/baton approve` from an allowed approver merges on the local
forge and the issue moves to "Done". Bad, stale, unrelated and repeated deliveries start nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, event_data, make_repos, repo_entries, wait_for
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import LinearWorld, linear_world
from tests.fakes.linear_state import Team, User
from tests.fakes.linear_webhooks import sign
from tests.fakes.served_app import until
from tests.gitutil import read_file_on


class World(LinearWorld):
    people: dict[str, User]
    remotes: dict[str, Path]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[World]:
    remotes = make_repos(tmp_path, ["api"])
    journal = tmp_path / "journal.log"
    people: dict[str, User] = {}

    def config(fake: FakeLinear, team: Team) -> dict[str, Any]:
        ws = fake.workspace
        people["alice"] = ws.add_user("Alice", "alice@example.com", teams=[team])
        people["bob"] = ws.add_user("Bob", "bob@example.com", teams=[team])
        people["carol"] = ws.add_user("Carol", "carol@example.com")
        coder = agent(
            "coder", "--append", "README.md", "Linear was here", "--summary", "noted", "--count", str(journal)
        )
        return {
            "repos": repo_entries(remotes),
            "agents": [coder],
            "approval": {"approvers": [f"linear:{people['bob'].id}", f"linear:{people['carol'].id}"]},
            "linear": {"team_repos": {"ENG": ["api"]}, "allowed_teams": ["ENG"]},
        }

    with linear_world(monkeypatch, start_runtime, config, journal) as w:
        w.__class__ = World
        w.people, w.remotes = people, remotes  # type: ignore[attr-defined]
        yield w  # type: ignore[misc]


def agent_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if not line.startswith("linear ")]


def test_a_labelled_issue_runs_to_a_merge_approved_by_a_comment(world: World) -> None:
    ws, store = world.linear.workspace, world.runtime.store
    alice, bob, carol = world.people["alice"], world.people["bob"], world.people["carol"]
    issue = ws.add_issue(world.team, "Note Linear in the README", "The README should say where requests come from.")

    answer = world.send(world.hooks.issue_labelled(issue, world.label, alice))
    assert answer.status_code == 200
    run_id = answer.json()["run_id"]
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)

    # The status comment was on the issue before the agent started.
    lines = world.journal_lines()
    assert lines.index("linear BatonCommentCreate") < agent_lines(lines)[0]
    # The PR is attached (a local-forge PR links to its part of the review page) and the issue is in review.
    page = f"{world.runtime.settings.public_url}/runs/{run_id}"
    until("the PR attached", lambda: [a.url for a in ws.attachments.values()] == [f"{page}/diff#api"])
    until("the issue in review", lambda: ws.state_of(issue).name == "In Review")
    card = until(
        "the card asking for approval", lambda: (c := world.card(issue.id)) and "/baton approve" in c.body and c
    )
    assert "awaiting approval" in card.body

    # Carol may approve by policy but is not a member of an allowed team: refused, nothing merges.
    assert world.send(world.hooks.comment_created(issue, carol, "/baton approve")).status_code == 200
    refusal = until("a reply to Carol", lambda: world.replies(issue.id))
    assert refusal == ["Carol may not start or steer Baton runs from Linear (allowed: members of ENG)"]
    assert store.get_run(run_id).state is RunState.awaiting_approval  # type: ignore[union-attr]

    # Bob approves in a comment that also says other things: the PR merges and the issue is done.
    assert world.send(world.hooks.comment_created(issue, bob, "Looks right.\n\n/baton approve\n")).status_code == 200
    wait_for(world.runtime, run_id, RunState.merged, timeout=60)
    assert "Linear was here" in read_file_on(world.remotes["api"], "main", "README.md")
    until("the issue done", lambda: ws.state_of(issue).name == "Done")
    until("the card to say merged", lambda: (c := world.card(issue.id)) and "— merged" in c.body)
    assert [d["actor"] for d in event_data(world.runtime, run_id, "decision")] == [f"linear:{bob.id}"]
    assert len(world.linear.mutations("BatonCommentCreate")) == 3  # the card and two replies
    names = {s.id: s.name for s in world.team.states}
    moves = [names[c.variables["stateId"]] for c in world.linear.mutations("BatonIssueSetState")]
    assert moves == ["In Progress", "In Review", "Done"]


def test_a_wrong_signature_is_refused_with_401_and_starts_nothing(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t")
    payload = world.hooks.issue_labelled(issue, world.label, world.people["alice"])
    body = json.dumps(payload).encode()
    answer = world.send(payload, body=body, signature=sign("not-the-secret", body))
    assert answer.status_code == 401
    assert answer.json() == {"ok": False, "error": "invalid Linear-Signature"}
    assert world.runtime.store.list_runs() == [] and world.linear.calls == []


def test_a_delivery_stamped_two_minutes_ago_is_refused_with_401(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t")
    payload = world.hooks.issue_labelled(issue, world.label, world.people["alice"])
    payload["webhookTimestamp"] -= 120_000
    answer = world.send(payload)
    assert answer.status_code == 401
    assert world.runtime.store.list_runs() == [] and world.linear.calls == []


def test_an_unrelated_update_of_a_labelled_issue_starts_nothing(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t")
    world.hooks.issue_labelled(issue, world.label, world.people["alice"])  # labelled earlier
    issue.title = "A better title"
    answer = world.send(world.hooks.issue_updated(issue, world.people["alice"], {"title": "t"}))
    assert answer.status_code == 200 and answer.json()["ignored"]
    assert world.runtime.store.list_runs() == [] and world.linear.mutations() == []


def test_a_redelivered_label_event_starts_nothing_new(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t", "repos: api")
    payload = world.hooks.issue_labelled(issue, world.label, world.people["alice"])
    first = world.send(payload, delivery="2b8e4a10-7c55-4f0e-9d0a-3a3a9f1f0001")
    again = world.send(payload, delivery="2b8e4a10-7c55-4f0e-9d0a-3a3a9f1f0001")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == {"ok": True, "duplicate": True}
    wait_for(world.runtime, first.json()["run_id"], RunState.awaiting_approval, timeout=60)
    assert len(world.runtime.store.list_runs()) == 1
    assert len(world.linear.mutations("BatonCommentCreate")) == 1
