"""On Linear too a signed body is not a fresh request: a comment counts once whatever
`Linear-Delivery` header a copy comes under, and an approval written before the run's head moved
(a delivery Linear retried late) approves nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import Decision, RunState
from tests.e2e.conftest import RuntimeFactory, agent, event_data, make_repos, repo_entries, wait_for
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import LinearWorld, linear_world
from tests.fakes.linear_state import Team, User
from tests.fakes.served_app import until
from tests.gitutil import commit_to_remote, ref_sha


class World(LinearWorld):
    people: dict[str, User]
    remotes: dict[str, Path]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[World]:
    remotes = make_repos(tmp_path, ["api"])
    people: dict[str, User] = {}

    def config(fake: FakeLinear, team: Team) -> dict[str, Any]:
        people["alice"] = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
        people["bob"] = fake.workspace.add_user("Bob", "bob@example.com", teams=[team])
        return {
            "repos": repo_entries(remotes),
            "agents": [agent("coder", "--append", "README.md", "from Linear")],
            "approval": {"approvers": [f"linear:{people['bob'].id}"]},
            "linear": {"team_repos": {"ENG": ["api"]}, "allowed_teams": ["ENG"]},
        }

    with linear_world(monkeypatch, start_runtime, config, tmp_path / "journal.log") as w:
        w.__class__ = World
        w.people, w.remotes = people, remotes  # type: ignore[attr-defined]
        yield w  # type: ignore[misc]


def _awaiting(world: World) -> tuple[Any, str]:
    issue = world.linear.workspace.add_issue(world.team, "Note Linear in the README")
    run_id = world.send(world.hooks.issue_labelled(issue, world.label, world.people["alice"])).json()["run_id"]
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)
    return issue, run_id


def test_a_comment_resent_under_a_new_delivery_id_counts_once(world: World) -> None:
    issue, run_id = _awaiting(world)
    payload = world.hooks.comment_created(issue, world.people["alice"], "@baton also add a date")

    first = world.send(payload, delivery="d-1").json()
    again = world.send(payload, delivery="d-2").json()

    assert first["run_id"] == run_id and again == {"ok": True, "duplicate": True}
    until("the follow-up", lambda: event_data(world.runtime, run_id, "follow_up_requested"))
    assert len(event_data(world.runtime, run_id, "follow_up_requested")) == 1


def test_an_approval_written_before_the_head_moved_is_refused(world: World) -> None:
    issue, run_id = _awaiting(world)
    payload = world.hooks.comment_created(issue, world.people["bob"], "/baton approve")
    payload["data"]["createdAt"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="milliseconds")
    [change] = world.runtime.store.changes(run_id)
    commit_to_remote(world.remotes["api"], change.branch, {"EXTRA.md": "unreviewed\n"}, "a push Bob never saw")
    world.runtime.runs.recheck(run_id)  # Baton looks at the PR again and sees the new head
    until("the new head seen", lambda: world.runtime.store.changes(run_id)[0].head_sha != change.head_sha)
    main = ref_sha(world.remotes["api"], "main")

    answer = world.send(payload).json()  # Linear retried Bob's comment late

    assert answer["answers"] == ["approve again: heads changed since your comment"]
    assert [a for a in world.runtime.store.approvals(run_id) if a.decision is Decision.approve] == []
    assert ref_sha(world.remotes["api"], "main") == main
