"""The GitHub edge: `POST /github/webhook`.

Before anything reads the payload, the body is bounded (413 past 25 MB) and its
`X-Hub-Signature-256` checked in constant time against `GITHUB_WEBHOOK_SECRET` (401 and nothing
else happens). A missing `X-GitHub-Event`/`X-GitHub-Delivery`, a malformed body or a payload not
of its event's shape is a 400 with a reason; `ping` is 200, and so is an event or action Baton does
not use (answered as ignored, not stored). Anything else is stored and answered at once (200,
`accepted`); what it means — comment read back, claimed, 👀, status comment, run started — is
worked out after the answer by the intake drain (`bot/engine/drain.py`, `GitHubEvents.process`),
which also replays what a crash left stored but unprocessed.

The composition root (`bot/sources.py`) builds what this endpoint hands deliveries to.
"""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.engine.drain import Drain
from handlers.github.events import GitHubEvents
from handlers.http import WebhookError, accept, error_response, parse_json, read_body, verify_hmac_sha256

log = structlog.get_logger(__name__)
PATH = "/github/webhook"


class GitHubEndpoint:
    """`POST /github/webhook` over a built `GitHubEvents` (or, when GitHub could not be reached at
    start, one that verifies every delivery and answers 503 saying why)."""

    def __init__(self, events: GitHubEvents | None, secret: str, drain: Drain | None, missing: str = "") -> None:
        self.events = events
        self.secret = secret
        self.drain = drain
        self.missing = missing

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self.webhook, methods=["POST"])]

    async def webhook(self, request: Request) -> Response:
        event = delivery = ""
        try:
            body = await read_body(request)
            signature = request.headers.get("x-hub-signature-256", "")
            if not signature.startswith("sha256=") or not verify_hmac_sha256(self.secret, body, signature[7:]):
                raise WebhookError(401, "missing or invalid X-Hub-Signature-256")
            event = request.headers.get("x-github-event", "")
            delivery = request.headers.get("x-github-delivery", "")
            if not event or not delivery:
                raise WebhookError(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
            payload = parse_json(body)
            if event == "ping":
                return JSONResponse({"ok": True, "action": "pong"})
            if self.events is None or self.drain is None:
                raise WebhookError(503, self.missing)
            ignored = self.events.check(event, payload)  # 400 when not of its event's shape
            if ignored is not None:
                return JSONResponse(ignored.model_dump())
            return await accept(self.drain, "github", delivery, event, body)
        except WebhookError as err:
            return error_response(err)
        except Exception:  # a bug or an outage (the store): logged with its trace, answered without one
            log.exception("github.webhook_failed", gh_event=event, delivery=delivery)
            return error_response(WebhookError(500, "the event could not be stored; it is logged"))
