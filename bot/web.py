"""The ASGI app `baton serve` runs: health, readiness, metrics, the runs dashboard, and the
webhook endpoints (a source whose secret is unset answers 404, design §2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import Runtime
from bot.domain import RunState
from bot.surfaces.dashboard import render_dashboard, render_run_page


def create_web_app(runtime: Runtime) -> Starlette:
    registry = CollectorRegistry()
    runs_by_state = Gauge("baton_runs", "Runs by state", ["state"], registry=registry)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(_request: Request) -> Response:
        try:
            runtime.store.list_runs(limit=1)
        except Exception:  # the store is what readiness means
            return JSONResponse({"ok": False, "reason": "store unavailable"}, status_code=503)
        return JSONResponse({"ok": True})

    async def metrics(_request: Request) -> Response:
        counts = runtime.store.count_by_state()
        for state in RunState:
            runs_by_state.labels(state=state.value).set(counts.get(state.value, 0))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def dashboard(_request: Request) -> Response:
        views = [runtime.store.view(r.run_id) for r in runtime.store.list_runs(limit=100)]
        return HTMLResponse(render_dashboard([v for v in views if v is not None]))

    async def run_page(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        view = runtime.store.view(run_id)
        if view is None:
            return PlainTextResponse(f"no run {run_id}", status_code=404)
        return HTMLResponse(render_run_page(view, runtime.store.events(run_id)))

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/runs/{run_id}", run_page),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/", dashboard),
        *source_routes(runtime),
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Surfaces are fed from the process that serves people; workers only execute runs.
        runtime.hub.start()
        try:
            yield
        finally:
            runtime.hub.stop()

    return Starlette(routes=routes, lifespan=lifespan)


async def _disabled_source(_request: Request) -> Response:
    return PlainTextResponse("this source is not enabled", status_code=404)


def source_routes(runtime: Runtime) -> list[BaseRoute]:
    """Each source's endpoint, or a 404 when its secret is unset (design §2). Enabling a source
    also registers its surfaces and adapters on the runtime (inside its `create_routes`)."""
    settings = runtime.settings
    routes: list[BaseRoute] = []
    if settings.slack_signing_secret and settings.slack_bot_token:
        from handlers.slack import create_routes as slack_routes

        routes += slack_routes(runtime)
    else:
        routes.append(Route("/slack/events", _disabled_source, methods=["POST"]))
    if settings.github_webhook_secret:
        from handlers.github import create_routes as github_routes

        routes += github_routes(runtime)
    else:
        routes.append(Route("/github/webhook", _disabled_source, methods=["POST"]))
    if settings.linear_webhook_secret:
        from handlers.linear import create_routes as linear_routes

        routes += linear_routes(runtime)
    else:
        routes.append(Route("/linear/webhook", _disabled_source, methods=["POST"]))
    return routes
