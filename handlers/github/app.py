"""The GitHub edge: `POST /github/webhook`.

Before anything reads the payload, the body is bounded (413 past 25 MB) and its
`X-Hub-Signature-256` checked in constant time against `GITHUB_WEBHOOK_SECRET` (401 and nothing
else happens). A missing `X-GitHub-Event`/`X-GitHub-Delivery` or a malformed body is a 400 with a
reason; `ping` is 200. Events are handled in a worker thread (`github_events.py`) and answered as
soon as they are persisted and their run started; if GitHub's API is slow to us (rate limits,
retries) the answer goes out after 5 s anyway (202) and the work finishes behind it, so a delivery
is always answered inside GitHub's 10 s.

Building the edge also wires GitHub into the runtime: the GitHub forge for `forge: github` repos,
the status-comment surface on the surface hub and the checks poller as a scheduler job. (The
approver check — permission on every GitHub repo of the run — is the runtime's, for every surface.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.domain.ports import ForgeError
from bot.scm.github import GitHubForge
from bot.services.github.client import GitHubApi, GitHubCredentials
from bot.services.github.issues import GitHubIssues
from bot.surfaces.github.surface import GitHubSurface
from handlers.github.access import GitHubAccess
from handlers.github.checks import ChecksTracker
from handlers.github.events import GitHubEvents, Handled
from handlers.github.runs import GitHubRuns
from handlers.http import WebhookError, error_response, parse_json, read_body, verify_hmac_sha256

if TYPE_CHECKING:
    from bot.app import Runtime

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


def credentials(runtime: Runtime) -> GitHubCredentials:
    """GITHUB_TOKEN and GITHUB_API_URL as the runtime's settings read them; App credentials from the environment."""
    settings = runtime.settings
    return GitHubCredentials(token=settings.github_token, api_url=settings.github_api_url)


def wire(runtime: Runtime, api: GitHubApi) -> GitHubEvents:
    """Register GitHub's surface and poller on `runtime` (and its forge, if the runtime has none yet)."""
    forge = GitHubForge(api, runtime.config)
    issues = GitHubIssues(api)
    access = GitHubAccess(issues, runtime.config)
    surface = GitHubSurface(runtime.store, issues, runtime.config, public_url=runtime.settings.public_url)
    checks = ChecksTracker(runtime, forge)
    if not runtime.forges.has("github"):
        runtime.forges.add("github", forge)
    runtime.hub.register("github", surface, surface.wants)
    interval = runtime.config.github.checks_poll_interval_s
    if interval > 0 and "github-checks" not in runtime.scheduler.job_ids:
        runtime.scheduler.every("github-checks", interval, checks.poll)
    return GitHubEvents(runtime, api, GitHubRuns(runtime, issues, access, surface), checks)


def create_routes(runtime: Runtime) -> list[BaseRoute]:
    settings = runtime.settings
    assert settings.github_webhook_secret is not None, "the GitHub edge needs GITHUB_WEBHOOK_SECRET"
    secret = settings.github_webhook_secret.get_secret_value()
    creds = credentials(runtime)
    events: GitHubEvents | None = None
    missing = ""
    try:
        events = wire(
            runtime,
            runtime.github_api
            or GitHubApi(creds, runtime.config.github, throttle=runtime.throttle("github"), tracer=runtime.tracer),
        )
    except ForgeError as err:  # the endpoint still verifies and explains, never crashes the bot
        missing = str(err)
        log.warning("github.disabled", reason=missing)

    async def webhook(request: Request) -> Response:
        event = delivery = ""
        try:
            body = await read_body(request)
            signature = request.headers.get("x-hub-signature-256", "")
            if not signature.startswith("sha256=") or not verify_hmac_sha256(secret, body, signature[7:]):
                raise WebhookError(401, "missing or invalid X-Hub-Signature-256")
            event = request.headers.get("x-github-event", "")
            delivery = request.headers.get("x-github-delivery", "")
            if not event or not delivery:
                raise WebhookError(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
            payload = parse_json(body)
            if event == "ping":
                return JSONResponse({"ok": True, "action": "pong"})
            if events is None:
                raise WebhookError(503, missing)
            work = asyncio.ensure_future(run_in_threadpool(events.handle, event, delivery, payload))
            try:
                handled = await asyncio.wait_for(asyncio.shield(work), timeout=runtime.config.github.webhook_answer_s)
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

    return [Route(PATH, webhook, methods=["POST"])]
