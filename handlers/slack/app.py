"""The Slack edge: a bolt `AsyncApp` behind `POST /slack/events` (events, interactivity and the
`/baton` command on one URL) or a Socket Mode connection (`baton serve --socket-mode`).

Before bolt sees a request the endpoint bounds the body (413), checks Slack's v0 signature and its
5-minute window (401) and refuses a body that is not an Events API envelope, an interaction payload
or a slash command (400). A request from another workspace than ours (`slack.team_id`) is answered
and acted on no further (`slack_team.py`). Listeners are thin: events are acknowledged at once by bolt
and handed to synchronous handlers in a worker thread; buttons and the command ack first, then work.
Every button has its own listener, named by its action id. One verifier checks each request, ours
(bolt's own is off: it would check the same signature again). The composition root
(`bot/sources.py`) builds the context the listeners hand work to.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import structlog
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from handlers.http import WebhookError, error_response, read_body
from handlers.slack.buttons import on_button, on_reaction
from handlers.slack.commands import on_command, on_home_opened
from handlers.slack.runs import SlackContext, on_mention
from handlers.slack.team import WorkspacePin

log = structlog.get_logger(__name__)

EVENTS = ("app_mention", "reaction_added", "app_home_opened")
COMMAND = "/baton"
MAX_SKEW_S = 5 * 60


class SlackEdge:
    """One Slack app: the bolt app over a built `SlackContext`, and the HTTP endpoint."""

    def __init__(
        self, ctx: SlackContext, workspace: WorkspacePin, token: str, signing_secret: str, base_url: str
    ) -> None:
        self.ctx = ctx
        self.signing_secret = signing_secret
        self.workspace = workspace
        self.app = build_app(ctx, token, base_url)
        self.app.use(workspace.middleware())

    def routes(self) -> list[BaseRoute]:
        return [Route("/slack/events", self.endpoint, methods=["POST"])]

    async def endpoint(self, request: Request) -> Response:
        try:
            body = await read_body(request)
            self._verify(body, request)
            _check_payload(body, request.headers.get("content-type", ""))
        except WebhookError as err:
            log.info("slack_request_refused", status=err.status, reason=err.reason)
            return error_response(err)
        answer = await self.app.async_dispatch(to_async_bolt_request(request, body))
        if answer.status == 404:  # signed and well formed, but nothing of ours listens: say so, no retry
            log.info("slack_request_unhandled", kind=_kind(body))
            return JSONResponse({"ok": True, "handled": False})
        return to_starlette_response(answer)

    def _verify(self, body: bytes, request: Request) -> None:
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not timestamp.isdigit() or not signature:
            raise WebhookError(401, "missing Slack signature headers")
        if abs(time.time() - int(timestamp)) > MAX_SKEW_S:
            raise WebhookError(401, "request timestamp outside the 5-minute window")
        verifier = SignatureVerifier(self.signing_secret)
        if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            raise WebhookError(401, "invalid signature")


def _check_payload(body: bytes, content_type: str) -> None:
    """Slack sends JSON (Events API) or a form (interactivity: `payload=`; slash commands)."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
        if kind == "application/json":
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                raise WebhookError(400, "malformed payload: an Events API body needs a type")
            return
        if kind == "application/x-www-form-urlencoded":
            form = parse_qs(text)
            if "payload" in form:
                payload = json.loads(form["payload"][0])
                if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
                    raise WebhookError(400, "malformed payload: an interaction needs a type")
                return
            if "command" in form:
                return
            raise WebhookError(400, "malformed form: neither an interaction payload nor a command")
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WebhookError(400, f"malformed body: {err.__class__.__name__}") from None
    raise WebhookError(400, f"unsupported content type {kind or '(none)'}")


def _kind(body: bytes) -> str:
    """What a request was (its type, event type or command), for a log line without its content."""
    text = body.decode("utf-8", "replace")
    if text.startswith("{"):
        data = json.loads(text)
        return f"{data.get('type')}:{(data.get('event') or {}).get('type', '')}"
    form = parse_qs(text)
    if "payload" in form:
        payload = json.loads(form["payload"][0])
        actions = payload.get("actions") or [{}]
        return f"{payload.get('type')}:{actions[0].get('action_id', '')}"
    return f"command:{form.get('command', [''])[0]}"


def build_app(ctx: SlackContext, token: str, base_url: str) -> AsyncApp:
    """The bolt app. Its Web API client is bolt's own, built from `token` (bolt reads SLACK_BOT_TOKEN
    itself, and handing it a client too makes it warn on every start), pointed at `base_url` and
    retried on 429."""
    app = AsyncApp(
        token=token,
        request_verification_enabled=False,  # the endpoint has verified the request already
        process_before_response=False,
        logger=logging.getLogger("baton.slack.bolt"),
    )
    app.client.base_url = base_url
    app.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))

    @app.event("app_mention")
    async def app_mention(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        await _work(on_mention, ctx, str(body.get("event_id", "")), event, context.bot_user_id, reply_to=event)

    @app.event("reaction_added")
    async def reaction_added(body: dict[str, Any], event: dict[str, Any]) -> None:
        await _work(on_reaction, ctx, str(body.get("event_id", "")), event)

    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any]) -> None:
        await _work(on_home_opened, ctx, event)

    # One listener per button, each acknowledging at once and handing the click to `on_button`.
    @app.action("baton_approve")
    async def approve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _work(on_button, ctx, body, action)

    @app.action("baton_reject")
    async def reject(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _work(on_button, ctx, body, action)

    @app.action("baton_cancel")
    async def cancel(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _work(on_button, ctx, body, action)

    @app.action("baton_retry")
    async def retry(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _work(on_button, ctx, body, action)

    @app.action("baton_revert")
    async def revert(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _work(on_button, ctx, body, action)

    @app.action("baton_drop")
    async def drop(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _work(on_button, ctx, body, action)

    @app.action("baton_close")
    async def close(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _work(on_button, ctx, body, action)

    @app.command(COMMAND)
    async def baton_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        try:
            text, after = await asyncio.to_thread(on_command, ctx, command)
        except Exception:
            log.exception("slack_command_failed")
            await ack(text="Baton could not answer that; the error is in its log.", response_type="ephemeral")
            return
        await ack(text=text, response_type="ephemeral")
        if after is not None:
            await _work(after)

    return app


async def _work(handler: Any, *args: Any, reply_to: dict[str, Any] | None = None) -> None:
    """Run a synchronous handler off the event loop; a failure is logged and, for a mention,
    answered in its thread (never silent, never a stack trace in Slack)."""
    try:
        await asyncio.to_thread(handler, *args)
    except Exception:
        log.exception("slack_handler_failed", handler=getattr(handler, "__name__", "handler"))
        if reply_to is not None and args and isinstance(args[0], SlackContext):
            thread = reply_to.get("thread_ts") or reply_to.get("ts")
            text = "Baton could not start this run: an internal error (details in its log)."
            await asyncio.to_thread(args[0].reply, str(reply_to.get("channel", "")), thread, text)
