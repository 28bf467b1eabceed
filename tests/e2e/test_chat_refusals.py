"""Chat requests that could only fail are answered where they were asked and never become a run:
Slack replies in the thread, Linear comments on the issue, GitHub comments on the issue — each
with the same sentence `baton run` prints (the nearest name for a typo; the missing program; what
git said about an unreadable repo URL; the checks program not on PATH)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.web import create_web_app
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries
from tests.fakes.github_setup import TOKEN, config_dict, start_fake
from tests.fakes.github_webhooks import Webhooks
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import LinearWorld, linear_world
from tests.fakes.linear_state import Team
from tests.fakes.served_app import serve, until
from tests.fakes.slack_harness import SlackWorld, slack_world

ALICE = "U0ALICE"
GHOST = {"name": "ghost", "command": ["baton-no-such-agent-xyz", "{task}"]}


def _slack_config(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    remotes = make_repos(tmp_path, ["mathlib", "docs"])
    config: dict[str, Any] = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "done")],
        "slack": {"allowed_users": [ALICE]},
    }
    config.update(changes)
    return config


def _slack_reply(world: SlackWorld, text: str) -> str:
    world.mention(ALICE, f"<@U0BATON> {text}")
    reply = until("a reply", lambda: world.slack.calls_to("chat.postMessage"))[0]
    return str(reply.params["text"])


@pytest.fixture
def slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[Any]:
    def make(config: dict[str, Any]) -> SlackWorld:
        context = slack_world(monkeypatch, start_runtime, config)
        opened.append(context)
        return context.__enter__()

    opened: list[Any] = []
    yield make
    for context in opened:
        context.__exit__(None, None, None)


def test_slack_suggests_the_nearest_repo_for_a_typo(tmp_path: Path, slack: Any) -> None:
    world = slack(_slack_config(tmp_path))
    text = _slack_reply(world, "tidy the docs repo=mathlb")
    assert text == "Unknown repo `mathlb`. Did you mean `mathlib`? Valid repos: mathlib, docs."
    assert world.runtime.store.list_runs() == []


def test_slack_refuses_an_agent_whose_program_is_missing(tmp_path: Path, slack: Any) -> None:
    world = slack(_slack_config(tmp_path, agents=[GHOST]))
    text = _slack_reply(world, "tidy the docs repo=docs")
    assert text == "Agent `ghost` runs `baton-no-such-agent-xyz`, which is not found on this machine's PATH."
    assert world.runtime.store.list_runs() == []


def test_slack_refuses_a_repo_url_git_cannot_read(tmp_path: Path, slack: Any) -> None:
    config = _slack_config(tmp_path)
    config["repos"][1]["url"] = str(tmp_path / "gone" / "docs.git")
    world = slack(config)
    text = _slack_reply(world, "tidy the docs repo=docs")
    assert text.startswith(f"Cannot read repo `docs` at {tmp_path}/gone/docs.git: ")
    assert world.runtime.store.list_runs() == []


def test_slack_refuses_a_checks_program_not_on_path(tmp_path: Path, slack: Any) -> None:
    config = _slack_config(tmp_path)
    config["repos"][1]["checks"] = "baton-no-such-checker"
    world = slack(config)
    text = _slack_reply(world, "tidy the docs repo=docs")
    assert "The checks of `docs` run `baton-no-such-checker`, which is not found" in text
    assert world.runtime.store.list_runs() == []


@pytest.fixture
def linear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[LinearWorld]:
    remotes = make_repos(tmp_path, ["api"])

    def config(fake: FakeLinear, team: Team) -> dict[str, Any]:
        alice = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
        linear = {"allowed_users": [alice.id], "team_repos": {team.key: ["api"]}}
        return {"repos": repo_entries(remotes), "agents": [GHOST], "linear": linear}

    with linear_world(monkeypatch, start_runtime, config, tmp_path / "journal.log") as world:
        yield world


def test_linear_refuses_an_agent_whose_program_is_missing_on_the_issue(linear: LinearWorld) -> None:
    alice = next(u for u in linear.linear.workspace.users.values() if u.name == "Alice")
    issue = linear.linear.workspace.add_issue(linear.team, "tidy")  # the team's repos: api
    answer = linear.send(linear.hooks.issue_labelled(issue, linear.label, alice))
    assert "baton-no-such-agent-xyz" in answer.json()["refused"]
    (reply,) = until("the refusal", lambda: linear.replies(issue.id))
    assert "Agent `ghost` runs `baton-no-such-agent-xyz`, which is not found on this machine's PATH." in reply
    assert linear.runtime.store.list_runs() == []


def test_linear_suggests_the_nearest_repo_for_a_typo(linear: LinearWorld) -> None:
    ws = linear.linear.workspace
    alice = next(u for u in ws.users.values() if u.name == "Alice")
    session = ws.add_session(ws.add_issue(linear.team, "tidy"), alice)
    # Repos come from the words of the person who delegated the issue (never its description).
    answer = linear.send(linear.hooks.session_event("created", session, comment="@baton tidy\nrepos: apj")).json()
    assert answer["refused"] == "Unknown repo(s): `apj`. Did you mean `api`? Known repos: `api`."
    assert linear.runtime.store.list_runs() == []


def test_github_refuses_an_agent_whose_program_is_missing_on_the_issue(tmp_path: Path) -> None:
    fake, remotes = start_fake(tmp_path, ["api"])
    fake.grant("acme/api", "alice", "write")
    secret = "github-refusal-secret-71"
    env = {"GITHUB_WEBHOOK_SECRET": secret, "GITHUB_API_URL": fake.url, "GITHUB_TOKEN": TOKEN}
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml", **env)
    runtime = Runtime(settings, parse_baton_file({**config_dict(remotes), "agents": [GHOST]}))
    try:
        with serve(create_web_app(runtime)) as url, httpx.Client(base_url=url, timeout=15) as client:
            hooks = Webhooks(fake, "/github/webhook", secret, client=client, outcomes=runtime.store.intake_outcome)
            number = fake.open_issue("acme/api", "Tidy", "Please.", "carol")
            comment = fake.add_comment("acme/api", number, "@baton tidy the docs", "alice")
            answer = hooks.send("issue_comment", hooks.issue_comment("acme/api", number, comment.id))
            assert answer.status_code == 200, answer.text
            said = [c.body for c in fake.world.comments.values() if c.author == "baton-bot"]
    finally:
        runtime.shutdown()
        fake.stop()
    assert answer.json()["action"] == "refused"
    [reply] = [b for b in said if "baton-no-such-agent-xyz" in b]
    assert reply.startswith(
        "I can't start this run: Agent `ghost` runs `baton-no-such-agent-xyz`, "
        "which is not found on this machine's PATH."
    )
    assert runtime.store.list_runs() == []
