"""`/baton revert` in a Linear issue's comments, as signed webhooks to the real app: on a merged run
it starts the revert run and the issue's later commands go to it, so a listed approver's
`/baton approve` there merges the revert PR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import Decision, RunState
from bot.engine.revert_spec import revert_run_id
from tests.e2e.conftest import APPROVER, RuntimeFactory, agent, event_data, make_repos, repo_entries, wait_for
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import LinearWorld, linear_world
from tests.fakes.linear_state import Team, User
from tests.fakes.served_app import until
from tests.gitutil import read_file_on


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[Any]:
    remotes = make_repos(tmp_path, ["api"])
    people: dict[str, User] = {}

    def config(fake: FakeLinear, team: Team) -> dict[str, Any]:
        people["alice"] = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
        people["bob"] = fake.workspace.add_user("Bob", "bob@example.com", teams=[team])
        return {
            "repos": repo_entries(remotes),
            "agents": [agent("coder", "--append", "README.md", "Linear was here")],
            "approval": {"approvers": [f"linear:{people['bob'].id}", "cli:*"]},
            "linear": {"team_repos": {"ENG": ["api"]}},
        }

    with linear_world(monkeypatch, start_runtime, config, tmp_path / "journal.log") as w:
        w.people = people  # type: ignore[attr-defined]
        w.remote = remotes["api"]  # type: ignore[attr-defined]
        yield w


def test_a_revert_comment_points_the_issue_at_the_revert_run_whose_approval_merges_it(world: LinearWorld) -> None:
    people: dict[str, User] = world.people  # type: ignore[attr-defined]
    remote: Path = world.remote  # type: ignore[attr-defined]
    issue = world.linear.workspace.add_issue(world.team, "Note Linear in the README", "repos: api")
    run_id = world.send(world.hooks.issue_labelled(issue, world.label, people["alice"])).json()["run_id"]
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)
    assert world.runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    wait_for(world.runtime, run_id, RunState.merged, timeout=60)

    assert world.send(world.hooks.comment_created(issue, people["alice"], "/baton revert")).status_code == 200

    revert_id = revert_run_id(run_id)
    wait_for(world.runtime, revert_id, RunState.awaiting_approval, timeout=60)
    assert world.send(world.hooks.comment_created(issue, people["bob"], "/baton approve")).status_code == 200
    wait_for(world.runtime, revert_id, RunState.merged, timeout=60)

    assert [d["actor"] for d in event_data(world.runtime, revert_id, "decision")] == [f"linear:{people['bob'].id}"]
    assert read_file_on(remote, "main", "README.md") == "# api\n"
    until("the revert reply", lambda: any("revert run" in r for r in world.replies(issue.id)))
