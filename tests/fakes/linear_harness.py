"""Baton served over real HTTP with Linear enabled and its API pointed at the Linear stand-in.

`LinearWorld` is what a Linear e2e test talks to: the running app (uvicorn on a fresh port, the
surface hub running as in `baton serve`), the stand-in (`linear`: what Linear received and holds),
webhook bodies about the stand-in's objects (`hooks`) and a sender that signs them as Linear does.
Secrets reach Baton through the environment, as an operator would set them. A journal file is
shared by the stand-in (one line per mutation it accepted) and the tests' agents (one line per
agent start), so a test can assert what happened first across processes without a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Runtime
from bot.web import create_web_app
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_state import Comment, Label, Team, User
from tests.fakes.linear_webhooks import LinearSender, LinearWebhooks
from tests.fakes.served_app import serve

SECRET = "linear-e2e-signing-secret-3b9f"
API_KEY = "lin_api_e2e_0c1d2e3f"
CARD_MARK = "**Baton run [`"


@dataclass
class LinearWorld:
    runtime: Runtime
    linear: FakeLinear
    hooks: LinearWebhooks
    sender: LinearSender
    url: str
    journal: Path
    team: Team
    label: Label

    def send(self, payload: dict[str, Any], **options: Any) -> httpx.Response:
        return self.sender.send(payload, **options)

    def person(self, name: str) -> User:
        return self.linear.workspace.add_user(name, f"{name.lower()}@example.com", teams=[self.team])

    def journal_lines(self) -> list[str]:
        return self.journal.read_text(encoding="utf-8").splitlines() if self.journal.exists() else []

    def _mine(self, issue_id: str) -> list[Comment]:
        ws = self.linear.workspace
        with ws.lock:
            return [c for c in ws.comments.values() if c.issue_id == issue_id and c.user_id == ws.viewer_id]

    def card(self, issue_id: str) -> Comment | None:
        """Baton's status card on an issue (the comment that names its run)."""
        return next((c for c in self._mine(issue_id) if CARD_MARK in c.body), None)

    def replies(self, issue_id: str) -> list[str]:
        """Baton's other comments on an issue (answers and refusals), oldest first."""
        return [c.body for c in self._mine(issue_id) if CARD_MARK not in c.body]


@contextmanager
def linear_world(
    monkeypatch: pytest.MonkeyPatch,
    start_runtime: Callable[[dict[str, Any]], Runtime],
    config: Callable[[FakeLinear, Team], dict[str, Any]],
    journal: Path,
) -> Iterator[LinearWorld]:
    """`config(fake, team)` makes baton.yml once the stand-in (and its ENG team) exists."""
    with FakeLinear(api_key=API_KEY, journal=journal) as linear:
        team = linear.workspace.add_team("ENG", "Engineering")
        label = linear.workspace.add_label("Baton")
        monkeypatch.setenv("LINEAR_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("LINEAR_API_KEY", API_KEY)
        monkeypatch.setenv("LINEAR_API_URL", linear.url)
        runtime = start_runtime(config(linear, team))
        with serve(create_web_app(runtime)) as url:
            sender = LinearSender(f"{url}/linear/webhook", SECRET, outcomes=runtime.store.intake_outcome)
            try:
                yield LinearWorld(
                    runtime, linear, LinearWebhooks(linear.schema, linear.workspace), sender, url, journal, team, label
                )
            finally:
                sender.close()
