"""The Linear edge: `POST /linear/webhook`.

Before anything reads the payload the endpoint bounds the body (413) and checks `Linear-Signature`,
the hex HMAC-SHA256 of the raw body under `LINEAR_WEBHOOK_SECRET`, in constant time (401). Then
the JSON (400) and its `webhookTimestamp`, which must be within a minute of now (401: a replay).
Each delivery is claimed once by its `Linear-Delivery` id, so Linear's retries (after 1 min, 1 h,
6 h) start nothing new. The answer comes within Linear's 5 s: the work that must precede it (the
run recorded and started, its first comment or thought) is bounded; replies go after the answer.

Event types: `Issue` (the label added → a run), `Comment` (commands and follow-ups on an issue with
a run), `AgentSessionEvent` (`created` → a run, `prompted` → commands, follow-ups, stop). The composition
root (`bot/sources.py`) builds the client, surface and access rules this endpoint works with.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.engine.commands import RunCommands
from bot.services.linear.client import LinearClient
from bot.surfaces.linear.surface import LinearSurface
from handlers.http import WebhookError, error_response, parse_json, read_body, verify_hmac_sha256
from handlers.linear.access import LinearAccess
from handlers.linear.payloads import CommentEvent, IssueEvent, SessionEvent
from handlers.linear.runs import Later, LinearContext, on_issue, on_session_created
from handlers.linear.talk import on_comment, on_prompt

log = structlog.get_logger(__name__)

MAX_SKEW_MS = 60_000
_MODELS: dict[str, type[BaseModel]] = {"Issue": IssueEvent, "Comment": CommentEvent, "AgentSessionEvent": SessionEvent}


class LinearEdge:
    """`POST /linear/webhook` over a built client, surface and access rules."""

    def __init__(
        self, runs: RunCommands, client: LinearClient, surface: LinearSurface, access: LinearAccess, secret: str
    ) -> None:
        self.runs = runs
        self.client = client
        self.surface = surface
        self.access = access
        self.secret = secret

    def routes(self) -> list[BaseRoute]:
        return [Route("/linear/webhook", self.endpoint, methods=["POST"])]

    async def endpoint(self, request: Request) -> Response:
        try:
            body = await read_body(request)
            signature = request.headers.get("linear-signature", "")
            if not signature or not verify_hmac_sha256(self.secret, body, signature):
                raise WebhookError(401, "invalid Linear-Signature")
            payload = parse_json(body)
            stamp = payload.get("webhookTimestamp")
            if not isinstance(stamp, int | float) or abs(time.time() * 1000 - stamp) > MAX_SKEW_MS:
                raise WebhookError(401, "webhookTimestamp missing or more than 60 s from now")
            delivery = request.headers.get("linear-delivery", "").strip()
            if not delivery:
                raise WebhookError(400, "missing Linear-Delivery header")
            kind = str(payload.get("type") or request.headers.get("linear-event") or "")
            event = _parse(kind, payload)
        except WebhookError as err:
            log.info("linear_request_refused", status=err.status, reason=err.reason)
            return error_response(err)
        later: list[Later] = []
        ctx = LinearContext(self.runs, self.client, self.surface, self.access, later)
        try:
            result = await run_in_threadpool(_dispatch, ctx, event, delivery)
        except Exception:  # never a stack trace to the caller; the log has it
            log.exception("linear_webhook_failed", delivery=delivery, type=kind)
            return JSONResponse({"ok": False, "error": "internal error"}, status_code=500)
        log.info("linear_webhook", delivery=delivery, type=kind, **{k: v for k, v in result.items() if k != "ok"})
        return JSONResponse(result, background=BackgroundTask(_run_later, later) if later else None)


def _parse(kind: str, payload: dict[str, Any]) -> BaseModel | None:
    model = _MODELS.get(kind)
    if model is None:
        return None
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise WebhookError(400, f"malformed {kind} payload: {where}: {first['msg']}") from None


def _dispatch(ctx: LinearContext, event: BaseModel | None, delivery: str) -> dict[str, Any]:
    if isinstance(event, IssueEvent):
        return on_issue(ctx, event, delivery)
    if isinstance(event, CommentEvent):
        return on_comment(ctx, event, delivery)
    if isinstance(event, SessionEvent):
        if event.action == "created":
            return on_session_created(ctx, event.agentSession, delivery)
        if event.action == "prompted":
            return on_prompt(ctx, event.agentSession.id, event.agentActivity, delivery)
        return {"ok": True, "ignored": f"agent session action {event.action}"}
    return {"ok": True, "ignored": "an event type Baton does not use"}


def _run_later(later: list[Later]) -> None:
    for work in later:
        work()
