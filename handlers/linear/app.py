"""The Linear edge: `POST /linear/webhook`.

Before anything reads the payload the endpoint bounds the body (413) and checks `Linear-Signature`,
the hex HMAC-SHA256 of the raw body under `LINEAR_WEBHOOK_SECRET`, in constant time (401). Then
the JSON (400) and its `webhookTimestamp`, which must be within a minute of now (401: a replay).
A payload not of its type's shape is a 400 naming the field; a type Baton does not use is answered
as ignored. Anything else is stored and answered at once (`accepted`), well within Linear's 5 s;
the intake drain (`bot/engine/drain.py`) processes it afterwards — claimed under what Linear made
(the label change, the session, the comment, the activity), so Linear's retries (after 1 min, 1 h,
6 h) start nothing new; run recorded and started, its first comment or thought; replies — and
replays what a crash left stored but unprocessed. Deliveries about one issue or session are
processed one at a time in a process, in the order they were stored.

Event types: `Issue` (the label added → a run), `Comment` (commands and follow-ups on an issue with
a run), `AgentSessionEvent` (`created` → a run, `prompted` → commands, follow-ups, stop). The composition
root (`bot/sources.py`) builds the client, surface and access rules this endpoint works with.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.engine.commands import RunCommands
from bot.engine.drain import Drain
from bot.services.linear import documents as docs
from bot.services.linear.client import LinearClient
from bot.store.intake import Stored
from bot.surfaces.linear.surface import LinearSurface
from handlers.http import WebhookError, accept, error_response, parse_json, read_body, verify_hmac_sha256
from handlers.linear.access import LinearAccess
from handlers.linear.payloads import CommentEvent, IssueEvent, SessionEvent
from handlers.linear.runs import Later, LinearContext, on_issue, on_session_created
from handlers.linear.talk import on_comment, on_prompt

log = structlog.get_logger(__name__)

MAX_SKEW_MS = 60_000
_MODELS: dict[str, type[BaseModel]] = {"Issue": IssueEvent, "Comment": CommentEvent, "AgentSessionEvent": SessionEvent}


class KeyLocks:
    """One lock per key while someone holds it (the deliveries about one issue, in turn)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users > 1:
                    self._locks[key] = (lock, users - 1)
                else:
                    del self._locks[key]


class LinearEdge:
    """`POST /linear/webhook` over a built client, surface and access rules; the drain processes
    what it stores (`process`)."""

    def __init__(
        self,
        runs: RunCommands,
        client: LinearClient,
        surface: LinearSurface,
        access: LinearAccess,
        secret: str,
        drain: Drain,
    ) -> None:
        self.runs = runs
        self.client = client
        self.surface = surface
        self.access = access
        self.secret = secret
        self.drain = drain
        self.keys = KeyLocks()

    def routes(self) -> list[BaseRoute]:
        return [Route("/linear/webhook", self.endpoint, methods=["POST"])]

    def warm_up(self) -> None:
        """Linear's schema built, every document validated against it, TLS ready: before `/readyz`
        says ready, so the first delivery pays none of it (Linear waits 5 s for an answer, 10 s
        for a session's first thought)."""
        self.client.warm(list(docs.ALL.values()))

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
            kind = _kind(payload, request.headers.get("linear-event"))
            if _parse(kind, payload) is None:
                return JSONResponse({"ok": True, "ignored": "an event type Baton does not use"})
            return await accept(self.drain, "linear", delivery, kind, body)
        except WebhookError as err:
            log.info("linear_request_refused", status=err.status, reason=err.reason)
            return error_response(err)
        except Exception:  # the store: never a stack trace to the caller; the log has it
            log.exception("linear_webhook_failed")
            return JSONResponse({"ok": False, "error": "internal error"}, status_code=500)

    def process(self, stored: Stored) -> dict[str, Any]:
        """A stored delivery, after its answer (the intake drain calls this): what it asks done,
        then the replies it queued."""
        event = _parse(stored.kind, json.loads(stored.body))
        later: list[Later] = []
        ctx = LinearContext(self.runs, self.client, self.surface, self.access, later)
        with self.keys.hold(_about(event)):
            result = _dispatch(ctx, event, stored.delivery)
        said = {k: v for k, v in result.items() if k != "ok"}
        log.info("linear_webhook", delivery=stored.delivery, type=stored.kind, **said)
        _run_later(later)
        return result


def _kind(payload: dict[str, Any], header: str | None) -> str:
    return str(payload.get("type") or header or "")


def _about(event: BaseModel | None) -> str:
    """The issue (or session) a delivery is about: deliveries about one are processed in turn."""
    if isinstance(event, IssueEvent):
        return f"issue:{event.data.id}"
    if isinstance(event, CommentEvent):
        return f"issue:{event.data.issueId or event.data.id}"
    if isinstance(event, SessionEvent):
        issue = event.agentSession.issue
        return f"issue:{issue.id}" if issue is not None else f"session:{event.agentSession.id}"
    return ""


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
