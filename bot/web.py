"""The ASGI app `baton serve` runs: health, readiness, metrics, the runs dashboard, and the
webhook endpoints (a source whose secret is unset answers 404, design §2)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import Runtime
from bot.domain import RunState
from bot.surfaces.dashboard import render_dashboard


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

    async def disabled_source(_request: Request) -> Response:
        return PlainTextResponse("this source is not enabled", status_code=404)

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/", dashboard),
        Route("/slack/events", disabled_source, methods=["POST"]),
        Route("/github/webhook", disabled_source, methods=["POST"]),
        Route("/linear/webhook", disabled_source, methods=["POST"]),
    ]
    return Starlette(routes=routes)
