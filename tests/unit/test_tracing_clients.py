"""Outbound spans of the Slack and Linear clients, sent to a stand-in OTLP collector: one client span
per request with the service, method, path and status — never the token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError

from bot.config.settings import Settings
from bot.observability.tracing import Tracer
from bot.services.linear import documents as docs
from bot.services.linear.client import LinearClient, published_schema
from bot.surfaces.slack.surface import web_client
from tests.fakes.linear_api import FakeLinear
from tests.fakes.otlp_collector import OtlpCollector, Span
from tests.fakes.slack_api import FakeSlack

SLACK_TOKEN = "xoxb-tracing-test-token"
LINEAR_KEY = "lin_api_tracing_test_key"
CLIENT_KIND = 3  # SpanKind.CLIENT in OTLP


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as started:
        yield started


@pytest.fixture
def tracer(collector: OtlpCollector) -> Iterator[Tracer]:
    made = Tracer.from_environ({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url})
    yield made
    made.shutdown()


def _calls(spans: list[Span]) -> list[tuple[str, str, object, int]]:
    return [(s.name, s.attributes["url.path"], s.attributes.get("http.response.status_code"), s.kind) for s in spans]


def test_each_slack_api_call_is_a_client_span_with_its_method_path_and_status(
    tracer: Tracer, collector: OtlpCollector, tmp_path: Path
) -> None:
    with FakeSlack(SLACK_TOKEN) as slack:
        settings = Settings(home=tmp_path, SLACK_BOT_TOKEN=SecretStr(SLACK_TOKEN), SLACK_API_URL=slack.api_url)
        client = web_client(settings, tracer=tracer)
        client.chat_postMessage(channel="C1", text="hello")
        with pytest.raises(SlackApiError):
            client.chat_update(channel="C1", ts="999.1", text="edited")  # no such message: Slack says so
    assert tracer.flush()
    spans = collector.spans()
    assert _calls(spans) == [
        ("slack POST", "/api/chat.postMessage", 200, CLIENT_KIND),
        ("slack POST", "/api/chat.update", 200, CLIENT_KIND),
    ]
    assert spans[1].attributes["error.type"] == "SlackApiError"
    assert {s.attributes["baton.service"] for s in spans} == {"slack"}
    assert SLACK_TOKEN not in json.dumps([s.attributes for s in spans])


def test_each_linear_request_is_a_client_span_and_a_rate_limited_answer_is_a_failed_one(
    tracer: Tracer, collector: OtlpCollector
) -> None:
    with FakeLinear(api_key=LINEAR_KEY) as linear:
        linear.ratelimit(1)
        client = LinearClient(linear.url, LINEAR_KEY, schema=published_schema(), backoff_s=0.001, tracer=tracer)
        client.execute(docs.VIEWER)
    assert tracer.flush()
    spans = collector.spans()
    assert [(n, p, s) for n, p, s, _ in _calls(spans)] == [
        ("linear POST", "/graphql", 400),  # Linear's RATELIMITED error comes with HTTP 400
        ("linear POST", "/graphql", 200),
    ]
    assert [s.attributes.get("error.type") for s in spans] == ["LinearRateLimited", None]
    assert LINEAR_KEY not in json.dumps([s.attributes for s in spans])
