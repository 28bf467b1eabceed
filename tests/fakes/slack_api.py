"""A local stand-in for Slack's Web API: a real HTTP server on 127.0.0.1 speaking Slack's wire format.

It answers the methods Baton calls the way Slack does (HTTP 200 with `{"ok": false, "error": ...}`
for refusals, 429 with `Retry-After` when rate limited), and is strict where Slack is strict:
- the bot token must be the one it was started with (`Authorization: Bearer` or a `token` param);
- each method's required parameters come from Slack's own OpenAPI description
  (`/work/shared/fixtures/slack/slack-api-specs/web-api/slack_web_openapi_v2.json`);
- Block Kit is parsed and validated with `slack_sdk.models` (unknown keys, text over its limits,
  more than 50 blocks in a message or 100 in a view are refused with `invalid_blocks`).
Every call is recorded, in order, with its decoded parameters, so tests assert on what Slack received.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.views import View

from tests.fakes.http_stub import StubHandler, StubServer
from tests.fakes.slack_api_checks import (
    MAX_TEXT,
    MAX_VIEW_BLOCKS,
    BlockError,
    decode_json_params,
    required_params,
    validate_blocks,
)

BOT_USER = "U0BATON"
BOT_ID = "B0BATON"
TEAM = "T111"


@dataclass
class Call:
    """One request Slack received: the method, its decoded parameters and what it answered."""

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    seq: int
    at: float = field(default_factory=time.monotonic)
    """When the request arrived (time.monotonic, comparable across processes on this machine)."""
    observed: bool | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


class FakeSlack:
    """Start with `with FakeSlack(token) as slack:`; point `SLACK_API_URL` at `slack.api_url`."""

    def __init__(self, token: str = "xoxb-test-token", app_token: str | None = None, socket_url: str = "") -> None:
        self.token = token
        self.app_token = app_token
        self.socket_url = socket_url
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.rate_limits: dict[str, list[int]] = {}
        self._held: dict[str, threading.Event] = {}
        self.waiting = 0
        """How many requests wait on a `hold` now."""
        # Asked at each call and recorded with it (e.g. "had an agent started yet?"), to test order.
        self.observer: Callable[[], bool] | None = None
        self._required = required_params()
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._ts = itertools.count(1)
        self._server = StubServer(_Handler, self, "fake-slack")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        """A `response_url` for a slash command or an action; what is posted there is recorded."""
        return f"{self.url}/response/{name}"

    # -- what tests arrange ----------------------------------------------------------------------
    def add_user(self, user_id: str, name: str, **profile: Any) -> None:
        self.users[user_id] = {"id": user_id, "team_id": TEAM, "name": name, "real_name": name, **profile}

    def add_usergroup(self, group_id: str, members: list[str]) -> None:
        self.usergroups[group_id] = list(members)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` get HTTP 429 with `Retry-After: retry_after`."""
        with self._lock:
            self.rate_limits.setdefault(method, []).extend([retry_after] * times)

    # -- what tests read -----------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.messages[(channel, ts)])

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Messages posted in a thread (the bot's), oldest first, as they read now."""
        with self._lock:
            found = [m for (c, _), m in self.messages.items() if c == channel and m.get("thread_ts") == thread_ts]
        return sorted(found, key=lambda m: float(m["ts"]))

    # -- the server ------------------------------------------------------------------------------
    def _serve(self, req: StubHandler) -> None:
        parts = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(parts.query))
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json" and raw:
                params.update(json.loads(raw))
            elif raw:
                params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except (ValueError, UnicodeDecodeError):
            return self._answer(req, "?", params, 200, {"ok": False, "error": "invalid_json"})
        if parts.path.startswith("/response/"):
            return self._answer(req, "response_url", {"url": parts.path, **params}, 200, {"ok": True})
        if not parts.path.startswith("/api/"):
            return self._answer(req, "?", params, 404, {"ok": False, "error": "unknown_method"})
        method = parts.path.removeprefix("/api/")
        auth = req.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else params.pop("token", None)
        params.pop("token", None)
        with self._lock:
            pending = self.rate_limits.get(method)
            retry_after = pending.pop(0) if pending else None
            held = self._held.get(method)
        if held is not None:
            with self._lock:
                self.waiting += 1
            held.wait(timeout=60)
            with self._lock:
                self.waiting -= 1
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
            return self._answer(req, method, params, 429, {"ok": False, "error": "ratelimited"}, headers)
        if not token:
            return self._answer(req, method, params, 200, {"ok": False, "error": "not_authed"})
        if method == "apps.connections.open":
            # Newer than the OpenAPI description: no parameters, only the app-level token is accepted.
            if not self.app_token or token != self.app_token:
                return self._answer(req, method, params, 200, {"ok": False, "error": "invalid_auth"})
            return self._answer(req, method, params, 200, {"ok": True, "url": self.socket_url})
        if token != self.token:
            return self._answer(req, method, params, 200, {"ok": False, "error": "invalid_auth"})
        if method not in self._required:
            return self._answer(req, method, params, 200, {"ok": False, "error": "unknown_method"})
        missing = sorted(p for p in self._required[method] if p not in params or params[p] in ("", None))
        if missing:
            body = {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [f"[ERROR] missing required field: {m}" for m in missing]},
            }
            return self._answer(req, method, params, 200, body)
        try:
            decoded = decode_json_params(params)
            status, body = 200, self._method(method, decoded)
        except BlockError as err:
            decoded, status = params, 200
            body = {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": [f"[ERROR] {err}"]}}
        return self._answer(req, method, decoded, status, body)

    def hold(self, method: str) -> threading.Event:
        """Every `method` call waits (unanswered) until the returned event is set: Slack slow to
        answer, so the app's handlers sit in their threads for as long as the test needs."""
        gate = threading.Event()
        with self._lock:
            self._held[method] = gate
        return gate

    def _answer(
        self,
        req: StubHandler,
        method: str,
        params: dict[str, Any],
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        observed = self.observer() if self.observer is not None else None
        arrived = getattr(req, "arrived", None) or time.monotonic()
        with self._lock:
            self.calls.append(Call(method, params, status, body, next(self._seq), at=arrived, observed=observed))
        req.send_json(status, body, headers)

    # -- the methods -----------------------------------------------------------------------------
    def _method(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        result: dict[str, Any] = handler(p)
        return result

    def _next_ts(self) -> str:
        return f"{1_712_000_000 + next(self._ts)}.000100"

    def _m_auth_test(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://baton-test.slack.com/",
            "team": "Baton Test",
            "user": "baton",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _message_fields(self, p: dict[str, Any]) -> dict[str, Any] | str:
        text, blocks = p.get("text"), p.get("blocks")
        if not text and not blocks:
            return "no_text"
        if text and len(str(text)) > MAX_TEXT:
            return "msg_too_long"
        if blocks is not None:
            validate_blocks(blocks)
        return {"text": text or "", "blocks": blocks or []}

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        fields = self._message_fields(p)
        if isinstance(fields, str):
            return {"ok": False, "error": fields}
        thread_ts = p.get("thread_ts")
        ts = self._next_ts()
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": ts, "team": TEAM, **fields}
        if thread_ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = "U_PARENT"
        with self._lock:
            self.messages[(p["channel"], ts)] = {"channel": p["channel"], **message}
        return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        fields = self._message_fields(p)
        if isinstance(fields, str):
            return {"ok": False, "error": fields}
        key = (p["channel"], p["ts"])
        with self._lock:
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key] = {**self.messages[key], **fields, "edited": {"user": BOT_USER, "ts": self._next_ts()}}
            message = dict(self.messages[key])
        return {"ok": True, "channel": p["channel"], "ts": p["ts"], "text": fields["text"], "message": message}

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        fields = self._message_fields(p)
        if isinstance(fields, str):
            return {"ok": False, "error": fields}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_reactions_add(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (p["channel"], p["timestamp"])
        with self._lock:
            message = self.messages.setdefault(key, {"channel": p["channel"], "ts": p["timestamp"], "type": "message"})
            names = message.setdefault("reactions", [])
            if p["name"] in names:
                return {"ok": False, "error": "already_reacted"}
            names.append(p["name"])
        return {"ok": True}

    def _m_views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        view = p["view"]
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        validate_blocks(view.get("blocks", []), MAX_VIEW_BLOCKS)
        try:
            View(**view).validate_json()
        except (SlackObjectFormationError, TypeError) as err:
            raise BlockError(str(err)) from None
        return {"ok": True, "view": {"id": f"V{next(self._ts)}", "team_id": TEAM, **view}}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user", "")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_usergroups_users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        members = self.usergroups.get(str(p["usergroup"]))
        return {"ok": True, "users": members} if members is not None else {"ok": False, "error": "no_such_subteam"}


class _Handler(StubHandler):
    owner: FakeSlack

    arrived: float | None = None

    def do_GET(self) -> None:
        self.arrived = time.monotonic()
        self.owner._serve(self)

    def do_POST(self) -> None:
        self.arrived = time.monotonic()
        self.owner._serve(self)
