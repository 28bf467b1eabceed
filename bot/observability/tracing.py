"""OpenTelemetry spans for runs, steps and outbound calls, exported over OTLP/HTTP.

`Tracer` is made by the composition root from the standard OTLP environment variables
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, plus the exporter's own
`OTEL_EXPORTER_OTLP_HEADERS` etc. and `OTEL_SERVICE_NAME`). With neither endpoint set it is
disabled: no SDK object is created and every method is a no-op.

A run is one trace whose ids derive from its run id (trace) and attempt (the run span), so work
resumed by another process after a crash joins the same trace: `in_run` makes the run span the
parent of whatever is traced inside (steps, outbound calls) without that span existing yet, and
`run_finished` exports the run span itself once, when the run has ended, with its real start time.

Attributes never carry secrets: outbound calls record the method, host and path (no query, no
user info), the status and the service; a failure records its exception's type, not its message.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.id_generator import IdGenerator as _IdBase
else:
    _IdBase = object  # the SDK is imported only when tracing is on

Attributes = Mapping[str, str | int | float | bool | Sequence[str]]

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def run_trace_id(run_id: str) -> int:
    """The trace id of every span of the run `run_id` (128 bits from its hash, never 0)."""
    return int.from_bytes(hashlib.sha256(f"baton-run:{run_id}".encode()).digest()[:16], "big") or 1


def run_span_id(run_id: str, attempt: int) -> int:
    """The span id of the run's span for `attempt` (64 bits, never 0)."""
    digest = hashlib.sha256(f"baton-run:{run_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def traces_endpoint(environ: Mapping[str, str]) -> str:
    """Where spans go, as the OTLP specification says: the traces endpoint as given, else the
    base endpoint with `/v1/traces` appended."""
    explicit = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if explicit:
        return explicit
    return environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").rstrip("/") + "/v1/traces"


def safe_path(url: str) -> tuple[str, str]:
    """(host, path) of `url` with no query, fragment or user info: what a span may show of it."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.path or "/"


@dataclass
class Call:
    """What an outbound call learns while it happens: its HTTP status."""

    span: Any

    def status(self, code: int) -> None:
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", int(code))
            if code >= 400:
                self.span.set_status(trace.StatusCode.ERROR, f"HTTP {code}")


class Tracer:
    """Spans for one Baton process; see the module docstring."""

    def __init__(self, provider: TracerProvider | None = None, ids: _FixedIds | None = None) -> None:
        self._provider = provider
        self._ids = ids
        self._tracer = provider.get_tracer("baton") if provider is not None else None

    @classmethod
    def disabled(cls) -> Tracer:
        return cls()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Tracer:
        """Enabled when an OTLP endpoint is configured; the exporter reads its own variables."""
        if not any(environ.get(name) for name in ENDPOINT_VARIABLES):
            return cls()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        ids = _FixedIds()
        resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "baton"})
        provider = TracerProvider(resource=resource, id_generator=ids)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint(environ))))
        return cls(provider, ids)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    # -- runs ----------------------------------------------------------------------------------------
    @contextmanager
    def in_run(self, run_id: str, attempt: Callable[[], int]) -> Iterator[None]:
        """Inside, new spans are children of the run's span (`attempt` is asked only when enabled)."""
        if self._tracer is None:
            yield
            return
        parent = trace.SpanContext(
            trace_id=run_trace_id(run_id),
            span_id=run_span_id(run_id, attempt()),
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(parent)))
        try:
            yield
        finally:
            otel_context.detach(token)

    def run_finished(
        self, run_id: str, attempt: int, started: datetime, ended: datetime, attributes: Attributes
    ) -> None:
        """Export the run's span (ids from `run_id` and `attempt`), from `started` to `ended`."""
        if self._tracer is None or self._ids is None:
            return
        with self._ids.fixed(run_trace_id(run_id), run_span_id(run_id, attempt)):
            span = self._tracer.start_span(
                "run",
                context=otel_context.Context(),  # a root: the ids above are the run's own
                kind=trace.SpanKind.INTERNAL,
                attributes={"baton.run_id": run_id, "baton.attempt": attempt, **attributes},
                start_time=_ns(started),
            )
        if attributes.get("baton.state") in ("failed", "expired", "cancelled", "rejected"):
            span.set_status(trace.StatusCode.ERROR, str(attributes["baton.state"]))
        span.end(end_time=_ns(ended))

    # -- steps and calls -------------------------------------------------------------------------------
    def span(self, name: str, attributes: Attributes | None = None) -> Any:
        """A context manager for a span under the current one (None inside when disabled)."""
        if self._tracer is None:
            return nullcontext(None)
        return self._tracer.start_as_current_span(
            name, attributes=dict(attributes or {}), record_exception=False, set_status_on_exception=False
        )

    @contextmanager
    def outbound(self, service: str, method: str, url: str) -> Iterator[Call]:
        """A client span for one request to `service` (github, slack, linear); an exception
        escaping it marks the span failed with the exception's type only."""
        if self._tracer is None:
            yield Call(None)
            return
        host, path = safe_path(url)
        attributes = {"baton.service": service, "http.request.method": method.upper(), "url.path": path}
        if host:
            attributes["server.address"] = host
        with self._tracer.start_as_current_span(
            f"{service} {method.upper()}",
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield Call(span)
            except BaseException as err:
                span.set_attribute("error.type", type(err).__name__)
                span.set_status(trace.StatusCode.ERROR, type(err).__name__)
                raise

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export what is buffered now (tests, shutdown)."""
        return self._provider.force_flush(int(timeout_s * 1000)) if self._provider is not None else True

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()


def _ns(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


class _FixedIds(_IdBase):
    """Random ids, except inside `fixed(...)` on this thread: the run span's derived ids."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        self._random = RandomIdGenerator()
        self._local = threading.local()

    @contextmanager
    def fixed(self, trace_id: int, span_id: int) -> Iterator[None]:
        self._local.ids = (trace_id, span_id)
        try:
            yield
        finally:
            self._local.ids = None

    def generate_trace_id(self) -> int:
        ids = getattr(self._local, "ids", None)
        return ids[0] if ids else self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        ids = getattr(self._local, "ids", None)
        return ids[1] if ids else self._random.generate_span_id()

    def is_trace_id_random(self) -> bool:
        return False
