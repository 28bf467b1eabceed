"""A stand-in OpenTelemetry collector: OTLP/HTTP `POST /v1/traces` (protobuf), spans kept in order.

Point `OTEL_EXPORTER_OTLP_ENDPOINT` at `url`; `spans()` decodes what arrived into `Span` records
(ids as hex, attributes as Python values) so tests assert on names, parents and attributes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.fakes.http_stub import StubHandler, StubServer


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any] = field(default_factory=dict)
    service: str = ""
    start_ns: int = 0
    end_ns: int = 0
    status_code: int = 0


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, which) if which else None


class _Handler(StubHandler):
    owner: OtlpCollector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_json(404, {"error": "not an OTLP/HTTP protobuf traces request"})
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.owner.receive(request)
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class OtlpCollector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self.requests = 0
        self._server = StubServer(_Handler, self, "otlp-collector")

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> OtlpCollector:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OtlpCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def receive(self, request: ExportTraceServiceRequest) -> None:
        found: list[Span] = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        Span(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            service=str(resource.get("service.name", "")),
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            status_code=span.status.code,
                        )
                    )
        with self._lock:
            self.requests += 1
            self._spans += found

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)
