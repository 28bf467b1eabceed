"""Inbound Slack traffic for tests: requests signed exactly as Slack signs them, and payloads built
from Slack's own samples.

Signing (Slack's v0 scheme): `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` under the app's
signing secret, sent as `X-Slack-Signature` with `X-Slack-Request-Timestamp`. Bodies start from the
bolt-python test payloads in `/work/shared/fixtures/slack/bolt-python-tests/`; the keys added follow
the java-slack-sdk samples (`/work/shared/fixtures/slack/java-slack-sdk-samples/`).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

FIXTURES = Path("/work/shared/fixtures/slack")
BOLT = FIXTURES / "bolt-python-tests"
JAVA = FIXTURES / "java-slack-sdk-samples"
TEAM = "T111"
APP = "A111"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _fixture(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


_ids = itertools.count(1)


def _fresh_ts() -> str:
    return f"{int(time.time())}.{next(_ids):06d}"


def event_callback(event: dict[str, Any], event_id: str | None = None, team: str = TEAM) -> dict[str, Any]:
    """The Events API envelope of bolt's app_mention sample around `event`, from workspace `team`."""
    body = _fixture(BOLT / "app_mention.event_callback.json")
    body["event"] = event
    body["event_id"] = event_id or f"Ev{next(_ids):08d}"
    body["event_time"] = int(time.time())
    body["team_id"] = team
    body["api_app_id"] = APP
    body.pop("authed_users", None)  # deprecated by Slack in favour of `authorizations`
    body["authorizations"] = [
        {"enterprise_id": None, "team_id": team, "user_id": "U0BATON", "is_bot": True, "is_enterprise_install": False}
    ]
    return body


def app_mention(
    user: str,
    text: str,
    channel: str = "C111",
    ts: str | None = None,
    thread_ts: str | None = None,
    team: str = TEAM,
) -> dict[str, Any]:
    event = copy.deepcopy(_fixture(BOLT / "app_mention.event_callback.json")["event"])
    ts = ts or _fresh_ts()
    event.update({"user": user, "text": text, "channel": channel, "ts": ts, "event_ts": ts, "team": team})
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def reaction_added(user: str, reaction: str, channel: str, ts: str, item_user: str = "U0BATON") -> dict[str, Any]:
    event = copy.deepcopy(_fixture(JAVA / "events" / "ReactionAddedPayload.json")["event"])
    event.update(
        {
            "user": user,
            "reaction": reaction,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "item_user": item_user,
            "event_ts": _fresh_ts(),
        }
    )
    return event


def app_home_opened(user: str, channel: str = "D0HOME") -> dict[str, Any]:
    # No sample of this event in the fixtures: the fields are those of Slack's event reference.
    return {"type": "app_home_opened", "user": user, "channel": channel, "tab": "home", "event_ts": _fresh_ts()}


def block_actions(
    user: str,
    channel: str,
    message_ts: str,
    action_id: str,
    value: str,
    response_url: str,
    thread_ts: str | None = None,
    team: str = TEAM,
    select: bool = False,
) -> dict[str, Any]:
    """bolt's block_actions sample, clicked on a message (not ephemeral) in `channel` by a user of `team`;
    `select`: an option chosen in a static select (Slack sends `selected_option`, no `value`)."""
    body = _fixture(BOLT / "block_actions.json")
    body["user"] = {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team}
    body["team"] = {"id": team, "domain": "baton-test" if team == TEAM else "elsewhere"}
    body["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False}
    if thread_ts:
        body["container"]["thread_ts"] = thread_ts
    body["channel"] = {"id": channel, "name": "test-channel"}
    body["response_url"] = response_url
    body["api_app_id"] = APP
    action = body["actions"][0]
    action.update({"action_id": action_id, "block_id": "baton_actions", "value": value, "action_ts": _fresh_ts()})
    if select:
        del action["value"]
        action.update({"type": "static_select", "selected_option": {"text": {"type": "plain_text"}, "value": value}})
    return body


def slash_command(
    user: str, text: str, channel: str, response_url: str, command: str = "/baton", team: str = TEAM
) -> dict[str, str]:
    """The form fields of a slash command, named as in Slack's signing test vector."""
    return {
        "token": "verification_token",
        "team_id": team,
        "team_domain": "baton-test",
        "channel_id": channel,
        "channel_name": "test-channel",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP,
        "response_url": response_url,
        "trigger_id": f"{next(_ids)}.{next(_ids)}.trigger",
    }


class SlackSender:
    """Sends what Slack sends to `url` (the app's `/slack/events`), signed with `secret`."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.client = httpx.Client(timeout=10)

    def close(self) -> None:
        self.client.close()

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        retry_num: int | None = None,
    ) -> httpx.Response:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(self.secret, ts, body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return self.client.post(self.url, content=body, headers=headers)

    def event(self, body: dict[str, Any], **options: Any) -> httpx.Response:
        return self.post(json.dumps(body).encode(), "application/json", **options)

    def action(self, payload: dict[str, Any], **options: Any) -> httpx.Response:
        form = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(form, "application/x-www-form-urlencoded", **options)

    def command(self, fields: dict[str, str], **options: Any) -> httpx.Response:
        return self.post(urlencode(fields).encode(), "application/x-www-form-urlencoded", **options)
