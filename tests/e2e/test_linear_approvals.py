"""Approving from Linear under the secure default: with no `approval.approvers`, a Linear comment
`/baton approve` counts only from a person mapped to a GitHub login with the approve permission on
every repo of the run — so on a run of local repos, no Linear user's does until they are listed,
while the terminal operator still can. Signed webhooks over HTTP to the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import Decision, RunState
from tests.e2e.conftest import APPROVER, RuntimeFactory, agent, event_data, make_repos, repo_entries, wait_for
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import LinearWorld, linear_world
from tests.fakes.linear_state import Team, User
from tests.fakes.served_app import until


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
            "people": [{"name": "Bob", "linear": people["bob"].id, "github": "bob"}],
            "linear": {"team_repos": {"ENG": ["api"]}},
        }

    with linear_world(monkeypatch, start_runtime, config, tmp_path / "journal.log") as w:
        w.people = people  # type: ignore[attr-defined]
        yield w


def test_with_no_approvers_a_linear_approval_on_local_repos_is_refused_and_the_operator_still_approves(
    world: LinearWorld,
) -> None:
    people: dict[str, User] = world.people  # type: ignore[attr-defined]
    issue = world.linear.workspace.add_issue(world.team, "Note Linear in the README", "repos: api")
    run_id = world.send(world.hooks.issue_labelled(issue, world.label, people["alice"])).json()["run_id"]
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)

    assert world.send(world.hooks.comment_created(issue, people["bob"], "/baton approve")).status_code == 200

    [refusal] = until("a reply to Bob", lambda: world.replies(issue.id))
    assert "with no approval.approvers" in refusal and "ask the operator to list Bob" in refusal
    assert event_data(world.runtime, run_id, "decision") == []
    assert world.runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    wait_for(world.runtime, run_id, RunState.merged, timeout=60)
