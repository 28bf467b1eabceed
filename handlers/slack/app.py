"""The Slack edge: a bolt `AsyncApp` behind `POST /slack/events` (events, interactivity and the
`/baton` command on one URL) or a Socket Mode connection (`baton serve --socket-mode`).

Before bolt sees a request the endpoint bounds the body (413), checks Slack's v0 signature and its
5-minute window (401) and refuses a body that is not an Events API envelope, an interaction payload
or a slash command (400). A request from another workspace than ours (`slack.team_id`) is answered
and acted on no further (`slack_team.py`). Listeners are thin: events are acknowledged at once by bolt
and handed to synchronous handlers in a worker thread; buttons and the command ack first, then work.
Building the edge also registers the Slack card surface on the hub and the Slack approval check on
the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

import structlog
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import Runtime
from bot.surfaces.slack.card import approvers_mrkdwn
from bot.surfaces.slack.surface import SlackSurface, wants, web_client
from handlers.http import WebhookError, error_response, read_body
from handlers.slack.access import SlackAccess
from handlers.slack.buttons import on_button, on_reaction
from handlers.slack.commands import on_command, on_home_opened
from handlers.slack.runs import SlackContext, on_mention
from handlers.slack.team import WorkspacePin

log = structlog.get_logger(__name__)

EVENTS = ("app_mention", "reaction_added", "app_home_opened")
COMMAND = "/baton"
BUTTONS = re.compile(r"^baton_(approve|reject|cancel|retry)$")
MAX_SKEW_S = 5 * 60


def _secret(value: Any) -> str:
    return str(value.get_secret_value()) if value is not None else ""


class SlackEdge:
    """One Slack app for one runtime: the bolt app, its context, and the HTTP endpoint."""

    def __init__(self, runtime: Runtime) -> None:
        settings, config = runtime.settings, runtime.config
        client = web_client(
            settings,
            on_error=runtime.metrics.error_counter("slack"),
            throttle=runtime.throttle("slack"),
            tracer=runtime.tracer,
        )
        approvers = approvers_mrkdwn(config.approval, config.slack)
        surface = SlackSurface(
            client,
            runtime.store,
            approvers,
            interval=config.slack.card_edit_interval_s,
            public_url=runtime.settings.public_url,
        )
        access = SlackAccess(client, config.slack, config.approval, decider=runtime.approvals.refusal)
        self.ctx = SlackContext(runtime, client, surface, access, approvers)
        self.signing_secret = _secret(settings.slack_signing_secret)
        if "slack" not in runtime.hub.names:  # HTTP and Socket Mode in one process share one card feed
            runtime.hub.register("slack", surface, wants)
        runtime.approvals.authorizers["slack"] = access.authorize
        self.workspace = WorkspacePin(config.slack.team_id, client, runtime.store.audit)
        self.app = build_app(self.ctx, _secret(settings.slack_bot_token), self.signing_secret, client.base_url)
        self.app.use(self.workspace.middleware())

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


def build_app(ctx: SlackContext, token: str, signing_secret: str, base_url: str) -> AsyncApp:
    client = AsyncWebClient(
        token=token, base_url=base_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)]
    )
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,
        logger=logging.getLogger("baton.slack.bolt"),
    )

    @app.event("app_mention")
    async def app_mention(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        await _work(on_mention, ctx, str(body.get("event_id", "")), event, context.bot_user_id, reply_to=event)

    @app.event("reaction_added")
    async def reaction_added(body: dict[str, Any], event: dict[str, Any]) -> None:
        await _work(on_reaction, ctx, str(body.get("event_id", "")), event)

    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any]) -> None:
        await _work(on_home_opened, ctx, event)

    @app.action(BUTTONS)
    async def button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
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


def create_routes(runtime: Runtime) -> list[BaseRoute]:
    """`POST /slack/events`, mounted by `bot.web` when `SLACK_SIGNING_SECRET` and `SLACK_BOT_TOKEN` are set."""
    return SlackEdge(runtime).routes()
