"""The one Slack workspace Baton answers (`slack.team_id`, by default the one `auth.test` names when
the edge starts). A request signed with the app's secret can still come from another workspace the
app was installed in, or from someone of another organisation in a shared channel: every team id it
carries (the envelope's, the event's, the clicking user's) must be ours, else a bolt middleware
answers it without acting and the refusal goes to the audit trail. Until the workspace is known
(Slack unreachable at start) every request is refused.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.models import Actor, Source
from bot.store.audit import AuditKind, AuditLog
from bot.surfaces.slack.card_actions import parse_button_value

log = structlog.get_logger(__name__)

_KINDS = {
    "approve": AuditKind.approval,
    "reject": AuditKind.rejection,
    "cancel": AuditKind.cancellation,
    "retry": AuditKind.retry,
    "revert": AuditKind.revert,
    "close": AuditKind.cancellation,
}


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def team_ids(body: dict[str, Any]) -> list[str]:
    """Every workspace a request names: envelope, event, user, and the team of a slash command."""
    event = _mapping(body.get("event"))
    team = _mapping(body.get("team"))
    user = _mapping(body.get("user"))
    found = [
        body.get("team_id"),
        team.get("id"),
        user.get("team_id"),
        event.get("team"),
        event.get("user_team"),
        event.get("source_team"),
        body.get("user_team_id"),
    ]
    return [str(t) for t in found if isinstance(t, str) and t]


def _who_and_what(body: dict[str, Any]) -> tuple[str, AuditKind, str | None]:
    """The Slack user behind a request, what they tried (for the audit trail) and on which run."""
    if body.get("type") == "block_actions":
        action = (body.get("actions") or [{}])[0]
        name = str(action.get("action_id", "")).removeprefix("baton_")
        value = parse_button_value(str(action.get("value", "")))
        user = str((body.get("user") or {}).get("id", ""))
        return user, _KINDS.get(name, AuditKind.trigger), value.run if value else None
    if "command" in body:
        word = str(body.get("text", "")).split(" ", 1)[0].lower()
        return str(body.get("user_id", "")), _KINDS.get(word, AuditKind.trigger), None
    event = _mapping(body.get("event"))
    kind = AuditKind.cancellation if event.get("type") == "reaction_added" else AuditKind.trigger
    return str(event.get("user", "")), kind, None


class WorkspacePin:
    def __init__(self, configured: str | None, client: WebClient, audit: AuditLog) -> None:
        self.client = client
        self.audit = audit
        self._team = configured
        self._lock = threading.Lock()
        if configured is None:
            self.team()

    def team(self) -> str | None:
        """Our workspace: configured, or learned from `auth.test` (asked again while unknown)."""
        with self._lock:
            if self._team is None:
                try:
                    self._team = str(self.client.auth_test()["team_id"])
                    log.info("slack_workspace_pinned", team_id=self._team)
                except (SlackApiError, SlackClientError, OSError, KeyError) as err:  # unreachable: try next time
                    log.warning("slack_workspace_unknown", error=type(err).__name__)
            return self._team

    def refusal(self, body: dict[str, Any]) -> str | None:
        """Why a request from Slack is not ours to act on, or None."""
        ours = self.team()
        if ours is None:
            return "Baton does not know its Slack workspace yet (auth.test failed); set slack.team_id"
        foreign = list(dict.fromkeys(t for t in team_ids(body) if t != ours))
        if foreign or not team_ids(body):
            return f"the request comes from workspace {', '.join(foreign) or 'unknown'}, and Baton answers only {ours}"
        return None

    def middleware(self) -> Callable[..., Awaitable[BoltResponse]]:
        """A bolt global middleware: requests of another workspace stop here, answered but not acted on."""

        async def pinned(
            body: dict[str, Any], resp: BoltResponse, next_: Callable[[], Awaitable[None]]
        ) -> BoltResponse:
            # Once the workspace is known the check is a comparison: done here, on the event loop.
            # Through a worker thread it queued behind every running handler, and each Slack
            # acknowledgement waited for it (ack p50 3.6 ms -> 550 ms at 50 requests/s).
            known = self._team is not None
            refusal = self.refusal(body) if known else await asyncio.to_thread(self.refusal, body)
            if refusal is None:
                await next_()
                return resp
            user, kind, run_id = _who_and_what(body)
            log.info("slack_request_refused", reason=refusal, run_id=run_id)
            actor = Actor(source=Source.slack, id=user or "unknown")
            await asyncio.to_thread(self.audit.refused, kind, actor, refusal, run_id=run_id)
            text = "This Baton answers only its own Slack workspace." if "command" in body else ""
            return BoltResponse(status=200, body=text)

        return pinned
