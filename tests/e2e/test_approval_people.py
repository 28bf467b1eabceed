"""One person, one decision, whichever surface they use: `people:` ties a Slack user and a GitHub login
to one person, and self-approval, `min_approvals` and "whoever pushed the last commit may not approve
it" count persons, not identities. Driven over HTTP: Slack clicks and GitHub comments, signed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, wait_for
from tests.e2e.slack_github_support import REPO, GateWorld, gate_world
from tests.fakes.served_app import until
from tests.gitutil import commit_to_remote

ALICE, BOB, CAROL, MAYA = "U0ALICE", "U0BOB", "U0CAROL", "U0MAYA"
PEOPLE = [
    {"name": "Alice", "slack": ALICE, "github": "alice"},
    {"name": "Bob", "slack": BOB, "github": "bob"},
    {"name": "Carol", "slack": CAROL, "github": "carol"},
    {"name": "Maya", "slack": MAYA, "github": "maya"},
]
MAINTAINERS = {"alice": "maintain", "bob": "maintain", "carol": "maintain", "maya": "maintain"}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[GateWorld]:
    with gate_world(tmp_path, monkeypatch, start_runtime, MAINTAINERS, people=PEOPLE) as w:
        yield w


@pytest.fixture
def legacy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[GateWorld]:
    """The same people, mapped the deprecated way (`slack.github_logins`), which folds into `people`."""
    logins = {p["slack"]: p["github"] for p in PEOPLE}
    with gate_world(tmp_path, monkeypatch, start_runtime, MAINTAINERS, slack={"github_logins": logins}) as w:
        yield w


@pytest.fixture
def two_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[GateWorld]:
    with gate_world(
        tmp_path, monkeypatch, start_runtime, MAINTAINERS, people=PEOPLE, approval={"min_approvals": 2}
    ) as w:
        yield w


def test_the_requester_may_not_approve_from_github_what_they_asked_for_in_slack(legacy: GateWorld) -> None:
    world = legacy
    run = world.start(ALICE)
    world.green(run)

    world.pr_comment(run, "alice", "/baton approve")

    reply = until("Baton's answer on the PR", lambda: [r for r in world.pr_replies(run) if "Not recorded" in r])
    assert "the requester may not approve their own run" in reply[0]
    assert world.decisions(run.run_id) == []
    assert world.merges() == []
    assert world.runtime.store.get_run(run.run_id).state is RunState.awaiting_approval


def test_one_persons_slack_and_github_approvals_count_once_toward_min_approvals(two_needed: GateWorld) -> None:
    world = two_needed
    run = world.start(ALICE)
    world.green(run)

    world.click_approve(BOB, run)
    until("Bob's click recorded", lambda: world.decisions(run.run_id) == [f"slack:{BOB}"])
    world.pr_comment(run, "bob", "/baton approve")
    until("Baton's answer to Bob on the PR", lambda: world.pr_replies(run))
    assert world.merges() == []
    world.pr_comment(run, "carol", "/baton approve")

    wait_for(world.runtime, run.run_id, RunState.merged, timeout=60)
    assert world.decisions(run.run_id) == [f"slack:{BOB}", "github:carol"]
    assert world.merges() == [200]


def test_whoever_pushed_the_last_commit_may_not_approve_it_from_any_surface(world: GateWorld) -> None:
    run = world.start(ALICE)
    change = world.runtime.store.changes(run.run_id)[0]
    commit_to_remote(world.remotes["api"], change.branch, {"MAYA.md": "maya's own change\n"}, "maya's push")
    pushed = world.hooks.send("pull_request", world.hooks.pull_request("synchronize", REPO, run.number, "maya"))
    assert pushed.status_code == 200, pushed.text
    until("the push seen", lambda: world.runtime.store.changes(run.run_id)[0].head_sha != change.head_sha)
    world.green(run)

    world.click_approve(MAYA, run)

    note = until("a note to Maya", lambda: world.ephemerals(MAYA))
    assert "pushed the last commit" in note[0]
    assert world.decisions(run.run_id) == []
    assert world.merges() == []
    world.click_approve(BOB, run)
    wait_for(world.runtime, run.run_id, RunState.merged, timeout=60)
    assert world.decisions(run.run_id) == [f"slack:{BOB}"]
