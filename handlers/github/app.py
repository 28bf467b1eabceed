"""The GitHub edge: `POST /github/webhook`.

Before anything reads the payload, the body is bounded (413 past 25 MB) and its
`X-Hub-Signature-256` checked in constant time against `GITHUB_WEBHOOK_SECRET` (401 and nothing
else happens). A missing `X-GitHub-Event`/`X-GitHub-Delivery` or a malformed body is a 400 with a
reason; `ping` is 200. Events are handled in a worker thread (`events.py`) and answered as
soon as they are persisted and their run started; if GitHub's API is slow to us (rate limits,
retries) the answer goes out after 5 s anyway (202) and the work finishes behind it, so a delivery
is always answered inside GitHub's 10 s.

The composition root (`bot/sources.py`) builds what this endpoint hands deliveries to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from handlers.github.events import GitHubEvents, Handled
from handlers.http import WebhookError, error_response, parse_json, read_body, verify_hmac_sha256

log = structlog.get_logger(__name__)
PATH = "/github/webhook"


def _log_late(event: str, delivery: str) -> Callable[[asyncio.Future[Handled]], None]:
    def done(work: asyncio.Future[Handled]) -> None:
        error = work.exception()
        if error is not None:
            log.error("github.webhook_failed_late", gh_event=event, delivery=delivery, error=str(error)[:300])
        else:
            log.info("github.webhook_late", gh_event=event, delivery=delivery, action=work.result().action)

    return done


class GitHubEndpoint:
    """`POST /github/webhook` over a built `GitHubEvents` (or, when GitHub could not be reached at
    start, one that verifies every delivery and answers 503 saying why)."""

    def __init__(self, events: GitHubEvents | None, secret: str, answer_s: float, missing: str = "") -> None:
        self.events = events
        self.secret = secret
        self.answer_s = answer_s
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
            if self.events is None:
                raise WebhookError(503, self.missing)
            work = asyncio.ensure_future(run_in_threadpool(self.events.handle, event, delivery, payload))
            try:
                handled = await asyncio.wait_for(asyncio.shield(work), timeout=self.answer_s)
            except TimeoutError:  # GitHub is slow to us: answer now, finish in the background
                work.add_done_callback(_log_late(event, delivery))
                return JSONResponse({"ok": True, "action": "accepted: still working"}, status_code=202)
        except WebhookError as err:
            return error_response(err)
        except Exception:  # a bug or an outage: logged with its trace, answered without one
            log.exception("github.webhook_failed", gh_event=event, delivery=delivery)
            return error_response(WebhookError(500, "the event could not be handled; it is logged"))
        log.info("github.webhook", gh_event=event, delivery=delivery, action=handled.action, run_id=handled.run_id)
        return JSONResponse(handled.model_dump())
