"""The ASGI app `baton serve` runs: health, readiness, metrics, the runs dashboard, and the
webhook endpoints (a source whose secret is unset answers 404, design §2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import Runtime
from bot.observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.observability.metrics import WebhookMetrics
from bot.surfaces.dashboard.review_routes import review_routes
from bot.surfaces.dashboard.routes import dashboard_routes


def create_web_app(runtime: Runtime) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(_request: Request) -> Response:
        # Ready: the database answers and its migrations are current (not during a half-done upgrade).
        problem = await run_in_threadpool(runtime.schema_problem)
        if problem is not None:
            return JSONResponse({"ok": False, "reason": problem}, status_code=503)
        return JSONResponse({"ok": True})

    async def metrics(_request: Request) -> Response:
        body = await run_in_threadpool(runtime.metrics.exposition)  # reads the store
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *dashboard_routes(runtime),
        *review_routes(runtime),
        *source_routes(runtime),
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Surfaces are fed from the process that serves people; workers only execute runs.
        runtime.hub.start()
        runtime.scheduler.start()
        try:
            yield
        finally:
            runtime.scheduler.stop()
            runtime.hub.stop()

    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(WebhookMetrics, metrics=runtime.metrics)])


async def _disabled_source(_request: Request) -> Response:
    return PlainTextResponse("this source is not enabled", status_code=404)


def source_routes(runtime: Runtime) -> list[BaseRoute]:
    """Each source's endpoint, or a 404 when its secret is unset (design §2). Enabling a source
    also registers its surfaces and adapters on the runtime (inside its `create_routes`)."""
    settings = runtime.settings
    routes: list[BaseRoute] = []
    if settings.slack_signing_secret and settings.slack_bot_token:
        from handlers.slack.app import create_routes as slack_routes

        routes += slack_routes(runtime)
    else:
        routes.append(Route("/slack/events", _disabled_source, methods=["POST"]))
    if settings.github_webhook_secret:
        from handlers.github.app import create_routes as github_routes

        routes += github_routes(runtime)
    else:
        routes.append(Route("/github/webhook", _disabled_source, methods=["POST"]))
    if settings.linear_webhook_secret:
        from handlers.linear.app import create_routes as linear_routes

        routes += linear_routes(runtime)
    else:
        routes.append(Route("/linear/webhook", _disabled_source, methods=["POST"]))
    return routes
