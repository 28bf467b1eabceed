"""The webhook middleware's outcome labels, and a handler that raises counted as an error."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.observability.metrics import Metrics, WebhookMetrics, outcome_of


def test_statuses_map_to_outcomes() -> None:
    statuses = [200, 202, 401, 403, 400, 404, 413, 500, 503]
    assert [outcome_of(s) for s in statuses] == [
        "accepted",
        "accepted",
        "refused",
        "refused",
        "bad_request",
        "bad_request",
        "bad_request",
        "error",
        "error",
    ]
    assert outcome_of(200, duplicate=True) == "duplicate"


async def _broken(_request: Request) -> Response:
    raise RuntimeError("a bug in a handler")


async def test_a_webhook_handler_that_raises_counts_as_an_error_and_other_paths_are_not_counted() -> None:
    metrics = Metrics()
    app = Starlette(
        routes=[Route("/linear/webhook", _broken, methods=["POST"]), Route("/healthz", lambda _r: Response("ok"))],
        middleware=[Middleware(WebhookMetrics, metrics=metrics)],
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://baton") as client:
        broken = await client.post("/linear/webhook", content=b"{}")
        await client.get("/healthz")

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(metrics.exposition().decode())
        for s in f.samples
    }
    assert broken.status_code == 500
    counted = {k: v for k, v in samples.items() if k[0] == "baton_webhooks_total" and v}
    assert counted == {("baton_webhooks_total", (("outcome", "error"), ("source", "linear"))): 1}
