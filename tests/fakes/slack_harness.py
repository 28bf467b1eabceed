"""Baton served over real HTTP with Slack enabled and its Web API pointed at the Slack stand-in.

`SlackWorld` is what a Slack e2e test talks to: the running app (uvicorn on a fresh port, the
surface hub running as in `baton serve`), the stand-in (`slack`: what Slack received) and a sender
that signs requests as Slack does. Secrets are set through the environment, as an operator would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import Runtime
from bot.web import create_web_app
from tests.fakes import slack_events
from tests.fakes.served_app import serve
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_events import SlackSender

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-e2e-bot-token"


@dataclass
class SlackWorld:
    runtime: Runtime
    slack: FakeSlack
    sender: SlackSender
    url: str

    def mention(
        self,
        user: str,
        text: str,
        channel: str = "C111",
        thread_ts: str | None = None,
        team: str = slack_events.TEAM,
        **options: Any,
    ) -> tuple[dict[str, Any], Any]:
        """Send an `app_mention` event; returns (the envelope sent, the HTTP response)."""
        event = slack_events.app_mention(user, text, channel, thread_ts=thread_ts, team=team)
        envelope = slack_events.event_callback(event, team=team)
        return envelope, self.sender.event(envelope, **options)

    def click(
        self,
        user: str,
        channel: str,
        card_ts: str,
        action_id: str,
        value: str,
        thread_ts: str,
        team: str = slack_events.TEAM,
        select: bool = False,
    ) -> Any:
        url = self.slack.response_url("action")
        payload = slack_events.block_actions(
            user, channel, card_ts, action_id, value, url, thread_ts=thread_ts, team=team, select=select
        )
        return self.sender.action(payload)

    def command(self, user: str, text: str, channel: str = "C111", team: str = slack_events.TEAM) -> Any:
        fields = slack_events.slash_command(user, text, channel, self.slack.response_url("cmd"), team=team)
        return self.sender.command(fields)


def button_value(message: dict[str, Any], action_id: str) -> str | None:
    """The value of a message's `action_id` button (in an actions block), or None without one."""
    for block in message["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element["action_id"] == action_id:
                return str(element["value"])
    return None


@contextmanager
def slack_world(
    monkeypatch: pytest.MonkeyPatch, start_runtime: Callable[[dict[str, Any]], Runtime], config: dict[str, Any]
) -> Iterator[SlackWorld]:
    with FakeSlack(BOT_TOKEN) as slack:
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        runtime = start_runtime(config)
        with serve(create_web_app(runtime)) as url:
            sender = SlackSender(f"{url}/slack/events", SIGNING_SECRET)
            try:
                yield SlackWorld(runtime, slack, sender, url)
            finally:
                sender.close()
