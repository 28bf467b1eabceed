"""The baselines the ingress and first-reply benchmarks measure Baton against, each served in its own
process by uvicorn exactly as `baton serve` serves Baton (same server, loop and HTTP parser):

- `floor`: a bare Starlette app whose three endpoints only check the signature (Slack v0 with its
  5-minute window, `X-Hub-Signature-256`, `Linear-Signature`) and answer 200: the least any
  webhook receiver must do.
- `bolt`: a minimal slack-bolt app with a no-op `app_mention` listener, what a team writes by hand.
- `bolt-reply`: the same app whose listener answers in the thread with `chat.postMessage`.

    .venv/bin/python bench/_baselines.py floor|bolt|bolt-reply PORT

reads the secrets from SLACK_SIGNING_SECRET, GITHUB_WEBHOOK_SECRET, LINEAR_WEBHOOK_SECRET and
SLACK_BOT_TOKEN / SLACK_API_URL (bolt calls `auth.test` there once). Run without arguments (as
`make bench` does) it does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import time
from typing import Any


def floor_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    slack = os.environ["SLACK_SIGNING_SECRET"].encode()
    github = os.environ["GITHUB_WEBHOOK_SECRET"].encode()
    linear = os.environ["LINEAR_WEBHOOK_SECRET"].encode()

    def valid(secret: bytes, message: bytes, signature: str) -> bool:
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))

    def answer(ok: bool) -> Response:
        return JSONResponse({"ok": True}) if ok else JSONResponse({"ok": False}, status_code=401)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        stamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= 300
        return answer(fresh and valid(slack, b"v0:" + stamp.encode() + b":" + body, signature.removeprefix("v0=")))

    async def github_webhook(request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("x-hub-signature-256", "")
        return answer(valid(github, body, signature.removeprefix("sha256=")))

    async def linear_webhook(request: Request) -> Response:
        body = await request.body()
        return answer(valid(linear, body, request.headers.get("linear-signature", "")))

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/github/webhook", github_webhook, methods=["POST"]),
            Route("/linear/webhook", linear_webhook, methods=["POST"]),
        ]
    )


def bolt_app(reply: bool) -> Any:
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @app.event("app_mention")
    async def app_mention(event: dict[str, Any], client: AsyncWebClient) -> None:
        if reply:
            await client.chat_postMessage(channel=event["channel"], thread_ts=event["ts"], text="On it.")

    handler = AsyncSlackRequestHandler(app)

    async def endpoint(request: Request) -> Response:
        answer: Response = await handler.handle(request)
        return answer

    return Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])


def main(kind: str, port: int) -> None:
    import uvicorn

    app = floor_app() if kind == "floor" else bolt_app(reply=kind == "bolt-reply")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        main(sys.argv[1], int(sys.argv[2]))
    else:
        print("bench/_baselines.py: baseline servers for the benchmarks, nothing to measure", file=sys.stderr)
