"""A Slack workspace in front of GitHub repos, for the approval-gate tests: Baton served over HTTP with
Slack (the Slack stand-in) and GitHub (the GitHub stand-in over bare repos) both enabled, people with
roles on GitHub, and helpers to start a run from Slack, turn its checks green, click its card and
comment on its PR — every request signed as the real services sign them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import ChecksState, RunState
from bot.store.store import shas_digest
from bot.surfaces.slack.card_actions import parse_button_value
from tests.e2e.conftest import RuntimeFactory, agent, wait_for
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import TOKEN, config_dict, start_fake
from tests.fakes.github_webhooks import Webhooks
from tests.fakes.served_app import until
from tests.fakes.slack_harness import SlackWorld, button_value, slack_world

GITHUB_SECRET = "whsec-approval-gate-test"
REPO = "acme/api"


@dataclass
class Started:
    run_id: str
    thread: str
    card_ts: str
    number: int


@dataclass
class GateWorld:
    slack: SlackWorld
    github: FakeGitHub
    hooks: Webhooks
    remotes: dict[str, Path]

    @property
    def runtime(self) -> Any:
        return self.slack.runtime

    def start(self, user: str, request: str = "use /v2/items") -> Started:
        """`user` asks Baton in #C111; returns once the run waits for approval with its card drawn."""
        envelope, _ = self.slack.mention(user, f"<@U0BATON> {request}")
        thread = envelope["event"]["ts"]
        run_id = until("the run", lambda: self.runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
        view = wait_for(self.runtime, run_id, RunState.awaiting_approval, timeout=60)
        card_ts = str(self.slack.slack.calls_to("chat.postMessage")[0].response["ts"])
        return Started(run_id, thread, card_ts, view.changes[0].number)

    def green(self, run: Started) -> None:
        """Every PR of the run gets a passing check run, announced by a `check_suite` webhook."""
        for change in self.runtime.store.changes(run.run_id):
            self.github.add_check_run(f"acme/{change.repo}", change.head_sha, "test", "success")
            answer = self.hooks.send(
                "check_suite", self.hooks.check_suite_completed(f"acme/{change.repo}", change.number)
            )
            assert answer.status_code == 200, answer.text
        until(
            "checks passed",
            lambda: all(c.checks is ChecksState.passed for c in self.runtime.store.changes(run.run_id)),
        )

    def approve_value(self, run: Started) -> str:
        """The card's Approve button, once the card shows the PRs' current heads."""

        def current() -> str | None:
            value = button_value(self.slack.slack.message("C111", run.card_ts), "baton_approve")
            parsed = parse_button_value(value or "")
            heads = {c.repo: c.head_sha for c in self.runtime.store.changes(run.run_id)}
            return value if parsed is not None and parsed.heads == shas_digest(heads) else None

        return str(until("the Approve button for the current heads", current))

    def click_approve(self, user: str, run: Started, team: str | None = None) -> None:
        extra = {"team": team} if team else {}
        answer = self.slack.click(
            user, "C111", run.card_ts, "baton_approve", self.approve_value(run), run.thread, **extra
        )
        assert answer.status_code == 200, answer.text

    def ephemerals(self, user: str) -> list[str]:
        return [
            str(c.params["text"]) for c in self.slack.slack.calls_to("chat.postEphemeral") if c.params["user"] == user
        ]

    def pr_comment(self, run: Started, login: str, text: str) -> None:
        """`login` comments `text` on the run's PR on GitHub (and GitHub delivers the webhook)."""
        comment = self.github.add_comment(REPO, run.number, text, login)
        answer = self.hooks.send("issue_comment", self.hooks.issue_comment(REPO, run.number, comment.id, on_pull=True))
        assert answer.status_code == 200, answer.text

    def pr_replies(self, run: Started) -> list[str]:
        return [c.body for c in self.github.comments_on(REPO, run.number) if c.author == "baton-bot"]

    def merges(self) -> list[int]:
        """The statuses GitHub answered to every merge Baton asked for."""
        return [c.status for c in self.github.calls("PUT", r"/merge$")]

    def decisions(self, run_id: str) -> list[str]:
        return [str(e.data["actor"]) for e in self.runtime.store.events(run_id) if e.kind == "decision"]


def _hooks(world: SlackWorld, fake: FakeGitHub) -> Webhooks:
    """GitHub's webhooks to the world's app, read back once processed."""
    return Webhooks(fake, f"{world.url}/github/webhook", GITHUB_SECRET, outcomes=world.runtime.store.intake_outcome)


@contextmanager
def gate_world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_runtime: RuntimeFactory,
    roles: dict[str, str],
    **sections: Any,
) -> Iterator[GateWorld]:
    """One GitHub repo (`acme/api`, channel #C111 maps to it); `roles` are GitHub logins' permissions
    on it; `sections` are baton.yml sections (people, approval, slack, …) on top of the defaults."""
    fake, remotes = start_fake(tmp_path, ["api"])
    for login, role in roles.items():
        fake.grant(REPO, login, role)
    config = config_dict(remotes)
    slack = {"channel_repos": {"C111": ["api"]}, **sections.pop("slack", {})}
    config.update(
        {
            "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
            "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
            "slack": slack,
            **sections,
        }
    )
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    try:
        with slack_world(monkeypatch, start_runtime, config) as world:
            yield GateWorld(world, fake, _hooks(world, fake), remotes)
    finally:
        fake.stop()
