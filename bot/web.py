"""The ASGI app `baton serve` runs: health, readiness, metrics, the runs dashboard and review page,
and the webhook endpoints (a source whose secret is unset answers 404, design §2); with
`--socket-mode`, Slack over a WebSocket instead.

On start it replays the webhooks stored but never processed (the intake drain, `bot/engine/drain.py`)
and warms what the first request would otherwise pay for (Linear's schema and documents), once,
behind a lock: `/readyz` says ready only after that."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot import sources
from bot.app import Runtime
from bot.config.settings import Settings
from bot.observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.observability.metrics import WebhookMetrics
from bot.surfaces.dashboard.review_routes import review_routes
from bot.surfaces.dashboard.routes import dashboard_routes
from handlers.slack.app import SlackEdge

log = structlog.get_logger(__name__)


def create_web_app(runtime: Runtime, slack: SlackEdge | None = None) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(_request: Request) -> Response:
        # Ready: the database answers and its migrations are current (not during a half-done
        # upgrade), and nothing is left that the first request would pay for.
        problem = await run_in_threadpool(runtime.schema_problem)
        problem = problem or warm.problem()
        if problem is not None:
            return JSONResponse({"ok": False, "reason": problem}, status_code=503)
        return JSONResponse({"ok": True})

    async def metrics(_request: Request) -> Response:
        body = await run_in_threadpool(runtime.metrics.exposition)  # reads the store
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    edges, warm_ups = source_edges(runtime, slack)
    warm = WarmUp(warm_ups)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *dashboard_routes(runtime.store, runtime.settings, runtime.config),
        *review_routes(runtime.store, runtime.settings, runtime.forges),
        *edges,
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Surfaces are fed from the process that serves people; workers only execute runs.
        runtime.hub.start()
        runtime.scheduler.start()
        warm.start()
        runtime.store.attach_intake(asyncio.get_running_loop())  # the loop writes the intake itself
        await run_in_threadpool(runtime.drain.start)  # replays what a crash left stored, unprocessed
        try:
            yield
        finally:
            runtime.store.attach_intake(None)
            await run_in_threadpool(runtime.drain.stop)  # the loop goes on meanwhile
            runtime.scheduler.stop()
            runtime.hub.stop()

    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(WebhookMetrics, metrics=runtime.metrics)])


async def _disabled_source(_request: Request) -> Response:
    return PlainTextResponse("this source is not enabled", status_code=404)


class WarmUp:
    """What the first request would pay for, done once in a thread of its own (behind a lock, so
    a second start waits for the first); `/readyz` is not ready until it is done."""

    def __init__(self, tasks: list[Callable[[], None]]) -> None:
        self.tasks = tasks
        self.done = threading.Event()
        self.failed: str | None = None
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._started = False
        if not tasks:
            self.done.set()

    def start(self) -> None:
        """Warm in a thread of its own (once; the app's start does it, or the first `/readyz`)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self.run, name="warm-up", daemon=True).start()

    def run(self) -> None:
        with self._running:
            if self.done.is_set():
                return
            try:
                for task in self.tasks:
                    task()
            except Exception as err:  # a broken schema file is our bug: not ready, saying why
                log.exception("warm_up_failed")
                self.failed = f"warming up failed ({type(err).__name__})"
                return
            self.done.set()

    def problem(self) -> str | None:
        if self.done.is_set():
            return None
        self.start()  # served without its start (an ASGI test transport): warm now
        return self.failed or "warming up"


def source_edges(runtime: Runtime, slack: SlackEdge | None = None) -> tuple[list[BaseRoute], list[Callable[[], None]]]:
    """Each source's endpoint, or a 404 when its secret is unset (design §2), and what each needs
    warmed before the first request. Enabling a source builds its edge (and registers its
    surfaces, adapters and intake processor on the runtime, bot/sources.py)."""
    settings = runtime.settings
    routes: list[BaseRoute] = []
    warm_ups: list[Callable[[], None]] = []
    if settings.slack_signing_secret and settings.slack_bot_token:
        routes += (slack or sources.slack_edge(runtime)).routes()
    else:
        routes.append(Route("/slack/events", _disabled_source, methods=["POST"]))
    if settings.github_webhook_secret:
        routes += sources.github_endpoint(runtime).routes()
    else:
        routes.append(Route("/github/webhook", _disabled_source, methods=["POST"]))
    if settings.linear_webhook_secret:
        linear = sources.linear_edge(runtime)
        routes += linear.routes()
        warm_ups.append(linear.warm_up)
    else:
        routes.append(Route("/linear/webhook", _disabled_source, methods=["POST"]))
    return routes, warm_ups


def socket_mode_problem(settings: Settings) -> str | None:
    """What is missing for Socket Mode, in words for the operator; None when it can start."""
    missing = []
    if not settings.slack_app_token:
        missing.append("SLACK_APP_TOKEN (an xapp- app-level token with connections:write)")
    if not settings.slack_bot_token:
        missing.append("SLACK_BOT_TOKEN (the bot's xoxb- token)")
    return f"socket mode needs {' and '.join(missing)}" if missing else None


def socket_mode_app(runtime: Runtime) -> Starlette:
    """`baton serve --socket-mode`: the web app, plus a Socket Mode connection to Slack (with the
    app-level token, `SLACK_APP_TOKEN`) for its lifetime, instead of a public URL for Slack."""
    edge = sources.slack_edge(runtime)
    token = runtime.settings.slack_app_token
    assert token is not None, socket_mode_problem(runtime.settings)
    web = create_web_app(runtime, slack=edge)
    serve_web = web.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        handler = AsyncSocketModeHandler(edge.app, token.get_secret_value())
        async with serve_web(app):
            await handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("slack_socket_mode_connected")
            try:
                yield
            finally:
                await handler.close_async()  # type: ignore[no-untyped-call]

    web.router.lifespan_context = lifespan
    return web
