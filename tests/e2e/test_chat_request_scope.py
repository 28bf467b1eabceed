"""On Linear and Slack, only the requester's own words choose a run's options and repos — never a
Linear issue's title or description — and a request reaches beyond its team's or channel's repos
only when the operator has listed who may start runs; otherwise nothing starts and the answer names
the repo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, wait_for
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import LinearWorld, linear_world
from tests.fakes.linear_state import Team, User
from tests.fakes.served_app import until
from tests.fakes.slack_harness import SlackWorld, slack_world

AGENTS = [agent("coder", "--append", "README.md", "x"), agent("pricey", "--append", "README.md", "$")]
PLAYBOOKS = {"default": {"per_repo": {"agent": "coder"}}, "quick": {"per_repo": {"agent": "coder"}}}


class Linear(LinearWorld):
    alice: User


def _linear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: RuntimeFactory, listed: bool) -> Iterator[Linear]:
    remotes = make_repos(tmp_path, ["api", "web"])
    people: dict[str, User] = {}

    def config(fake: FakeLinear, team: Team) -> dict[str, Any]:
        people["alice"] = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
        linear: dict[str, Any] = {"team_repos": {"ENG": ["api"]}}
        if listed:
            linear["allowed_users"] = [people["alice"].id]
        config = {"repos": repo_entries(remotes), "agents": AGENTS, "playbooks": PLAYBOOKS, "linear": linear}
        return {**config, "budget": {"max_usd": 5}}

    with linear_world(monkeypatch, start, config, tmp_path / "journal.log") as w:
        w.__class__ = Linear
        w.alice = people["alice"]  # type: ignore[attr-defined]
        yield w  # type: ignore[misc]


@pytest.fixture
def linear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[Linear]:
    yield from _linear(tmp_path, monkeypatch, start_runtime, listed=False)


@pytest.fixture
def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[SlackWorld]:
    remotes = make_repos(tmp_path, ["api", "web"])
    config = {"repos": repo_entries(remotes), "agents": AGENTS, "slack": {"channel_repos": {"C111": ["api"]}}}
    with slack_world(monkeypatch, start_runtime, config) as world:
        yield world


def test_a_linear_description_chooses_no_option_and_no_repo(linear: Linear) -> None:
    text = "Please hurry.\nrepos: web\nagent=pricey budget=$99999 playbook=quick"
    issue = linear.linear.workspace.add_issue(linear.team, "Fix it budget=$500", text)

    answer = linear.send(linear.hooks.issue_labelled(issue, linear.label, linear.alice)).json()

    spec = wait_for(linear.runtime, answer["run_id"], RunState.awaiting_approval, timeout=60).run.spec
    assert (spec.repos, spec.agent, spec.playbook, spec.budget.max_usd) == (["api"], None, "default", 5)


def test_options_in_the_linear_request_that_delegated_the_issue_still_choose_them(linear: Linear) -> None:
    ws = linear.linear.workspace
    session = ws.add_session(ws.add_issue(linear.team, "Fix it", "agent=coder budget=$1"), linear.alice)

    event = linear.hooks.session_event("created", session, comment="@baton agent=pricey budget=$3 playbook=quick")
    answer = linear.send(event).json()

    spec = wait_for(linear.runtime, answer["run_id"], RunState.awaiting_approval, timeout=60).run.spec
    assert (spec.repos, spec.agent, spec.playbook, spec.budget.max_usd) == (["api"], "pricey", "quick", 3)


def test_a_linear_request_naming_a_repo_beyond_its_team_is_refused_by_name(linear: Linear) -> None:
    ws = linear.linear.workspace
    session = ws.add_session(ws.add_issue(linear.team, "Fix it"), linear.alice)

    answer = linear.send(linear.hooks.session_event("created", session, comment="@baton fix it\nrepos: web")).json()

    assert answer["refused"].startswith("`web` is not among team ENG's repos (`api`)")
    assert linear.runtime.store.list_runs() == []


def test_a_listed_linear_user_may_name_repos_beyond_the_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    for world in _linear(tmp_path, monkeypatch, start_runtime, listed=True):
        ws = world.linear.workspace
        session = ws.add_session(ws.add_issue(world.team, "Fix it"), world.alice)
        answer = world.send(world.hooks.session_event("created", session, comment="@baton fix it\nrepos: web")).json()
        view = wait_for(world.runtime, answer["run_id"], RunState.awaiting_approval, timeout=60)
        assert view.run.spec.repos == ["web"]


def test_a_slack_request_naming_a_repo_beyond_its_channel_is_refused_by_name(slack: SlackWorld) -> None:
    envelope, _ = slack.mention("U0ALICE", "<@U0BATON> bump deps repo=web")

    reply = until("a reply", lambda: slack.slack.calls_to("chat.postMessage"))[0]

    assert reply.params["thread_ts"] == envelope["event"]["ts"]
    assert reply.params["text"].startswith("`web` is not among this channel's repos (`api`)")
    assert slack.runtime.store.list_runs() == []
