"""Prometheus metrics of one Baton process (`GET /metrics`).

`Metrics` owns the process's `CollectorRegistry` (the composition root makes one per Runtime, so
tests and several runtimes in one process never share counters). What this process sees itself is
counted here: webhooks by source and outcome with their ack latency (an ASGI middleware in front of
the source endpoints), and errors the outbound API clients saw, by service. What every process
contributes to (runs, steps, approvals, merges) is read from the store at scrape time by
`bot.store.metrics.StoreCollector`, so it is right whichever worker did the work.

A webhook's outcome comes from its HTTP status, except that a delivery the store had already
claimed (`note_duplicate_delivery`, called by `Store.claim_delivery`) before the answer went out
counts as `duplicate`. Slack events, GitHub and Linear webhooks are acknowledged before they are
handled (GitHub's and Linear's once stored), so a redelivered one counts as `accepted`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEBHOOK_SOURCES = {"/slack/events": "slack", "/github/webhook": "github", "/linear/webhook": "linear"}
OUTCOMES = ("accepted", "duplicate", "refused", "bad_request", "error")
SERVICES = ("github", "slack", "linear")
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass
class _Delivery:
    duplicate: bool = False


_delivery: ContextVar[_Delivery | None] = ContextVar("baton_webhook_delivery", default=None)


def note_duplicate_delivery() -> None:
    """The request being handled (if it is a webhook) repeats a delivery already seen."""
    delivery = _delivery.get()
    if delivery is not None:
        delivery.duplicate = True


def outcome_of(status: int, duplicate: bool = False) -> str:
    """A webhook answer's outcome label: 2xx accepted (or duplicate), 401/403 refused, other 4xx
    bad_request (a disabled source's 404 and an oversized body's 413 included), else error."""
    if status < 400:
        return "duplicate" if duplicate else "accepted"
    if status in (401, 403):
        return "refused"
    if status < 500:
        return "bad_request"
    return "error"


class Metrics:
    """The registry and the metrics this process counts itself; `collectors` add store-read ones."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "baton_webhooks", "Webhook requests by source and outcome", ["source", "outcome"], registry=self.registry
        )
        self.ack_seconds = Histogram(
            "baton_webhook_ack_seconds",
            "Seconds from a webhook request's arrival to the start of its answer",
            ["source"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.outbound_errors = Counter(
            "baton_outbound_api_errors",
            "Errors the API clients of this process saw (each failed attempt), by service",
            ["service"],
            registry=self.registry,
        )
        for source in WEBHOOK_SOURCES.values():  # every series exists from the first scrape, at 0
            self.ack_seconds.labels(source=source)
            for outcome in OUTCOMES:
                self.webhooks.labels(source=source, outcome=outcome)
        for service in SERVICES:
            self.outbound_errors.labels(service=service)
        for collector in collectors:
            self.registry.register(collector)

    def record_webhook(self, source: str, status: int, duplicate: bool, seconds: float) -> None:
        self.webhooks.labels(source=source, outcome=outcome_of(status, duplicate)).inc()
        self.ack_seconds.labels(source=source).observe(seconds)

    def outbound_error(self, service: str) -> None:
        self.outbound_errors.labels(service=service).inc()

    def error_counter(self, service: str) -> Callable[[], None]:
        """What an API client calls on each error it sees."""
        return partial(self.outbound_error, service)

    def serve(self, port: int, host: str = "127.0.0.1") -> Callable[[], None]:
        """This registry on `http://host:port/metrics` from a thread (a worker serves no web app);
        returns what stops it."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop

    def exposition(self) -> bytes:
        """Everything in the registry, in Prometheus's text format (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


class WebhookMetrics:
    """ASGI middleware: counts each request to a source endpoint when its answer starts."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = WEBHOOK_SOURCES.get(scope.get("path", "")) if scope["type"] == "http" else None
        if source is None:
            await self.app(scope, receive, send)
            return
        delivery = _Delivery()
        token = _delivery.set(delivery)
        started = time.perf_counter()
        answered = False

        async def answer(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                self.metrics.record_webhook(
                    source, int(message["status"]), delivery.duplicate, time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Exception:
            if not answered:  # the server answers 500 for us
                self.metrics.record_webhook(source, 500, False, time.perf_counter() - started)
            raise
        finally:
            _delivery.reset(token)
