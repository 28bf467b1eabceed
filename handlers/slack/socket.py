"""`baton serve --socket-mode`: the same Slack app over a Socket Mode WebSocket instead of a public
URL. Slack is reached with the app-level token (`SLACK_APP_TOKEN`, scope `connections:write`);
health, metrics and the dashboard are still served over HTTP, and the connection lives as long as
the web app (opened at start-up, closed at shutdown)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from starlette.applications import Starlette

from bot.app import Runtime
from bot.config.models import Settings
from bot.web import create_web_app
from handlers.slack.app import SlackEdge

log = structlog.get_logger(__name__)


def socket_mode_problem(settings: Settings) -> str | None:
    """What is missing for Socket Mode, in words for the operator; None when it can start."""
    missing = []
    if not settings.slack_app_token:
        missing.append("SLACK_APP_TOKEN (an xapp- app-level token with connections:write)")
    if not settings.slack_bot_token:
        missing.append("SLACK_BOT_TOKEN (the bot's xoxb- token)")
    return f"socket mode needs {' and '.join(missing)}" if missing else None


def socket_mode_app(runtime: Runtime) -> Starlette:
    """The web app of `baton serve`, plus a Socket Mode connection to Slack for its lifetime."""
    edge = SlackEdge(runtime)
    token = runtime.settings.slack_app_token
    assert token is not None, socket_mode_problem(runtime.settings)
    web = create_web_app(runtime)
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
