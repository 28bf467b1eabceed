"""Baton's Linear GraphQL client: gql over httpx, validating every document locally against Linear's
published schema before anything is sent, and retrying Linear's rate-limit answers with backoff.

Authorization: a personal API key (`lin_api_…`) is sent as is; anything else is an OAuth access
token and goes as `Bearer <token>` (Linear's two documented forms). Errors carry Linear's own
error type (`extensions.type`: "ratelimited", "invalid input", "authentication error", …) and a
message that never contains the token.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import structlog
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError, TransportServerError
from gql.transport.httpx import HTTPXTransport
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    get_variable_values,
    parse,
    validate,
)
from pydantic import SecretStr

from bot.observability.tracing import Tracer

log = structlog.get_logger(__name__)

SCHEMA_PATH = Path(__file__).parent / "schema" / "schema.graphql"
"""A byte-for-byte copy of linear/linear `packages/sdk/src/schema.graphql` (MIT, licence beside it)."""


@cache
def published_schema(path: Path = SCHEMA_PATH) -> GraphQLSchema:
    """Linear's schema, parsed once per process: the file is immutable and takes ~0.7 s to build."""
    return build_schema(path.read_text(encoding="utf-8"))


class LinearError(Exception):
    """Linear refused a request; `kind` is Linear's `extensions.type` (or our own reason)."""

    def __init__(self, message: str, kind: str = "unknown", detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail or message

    @property
    def not_found(self) -> bool:
        """Linear's answer for an id that names nothing ("Entity not found: Comment")."""
        return self.kind == "invalid input" and "entity not found" in self.detail.lower()


class LinearRateLimited(LinearError):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message, "ratelimited")
        self.retry_after_s = retry_after_s


def authorization_header(token: str) -> str:
    if token.startswith("lin_api_") or token.lower().startswith("bearer "):
        return token
    return f"Bearer {token}"


class LinearClient:
    """One Linear workspace's API. Thread-safe: each call uses its own connection."""

    def __init__(
        self,
        url: str,
        token: SecretStr | str,
        *,
        schema: GraphQLSchema | None = None,
        retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
        on_error: Callable[[], None] = lambda: None,
        throttle: Callable[[], None] = lambda: None,
        tracer: Tracer | None = None,
    ) -> None:
        """`on_error` is told of each request Linear refused or failed (the outbound-errors metric);
        `throttle` waits for the shared rate limit (`rate_limits.linear`) before each request."""
        self.url = url
        self._on_error = on_error
        self._throttle = throttle
        self._tracer = tracer or Tracer.disabled()
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._schema = schema
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self._documents: dict[str, DocumentNode] = {}
        self._lock = threading.Lock()
        self._schema_lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext:
        """One TLS context for every call: building one loads the CA bundle (tens of ms of CPU),
        which each call's new httpx client would otherwise do again, inside a webhook's answer."""
        with self._lock:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            return self._tls

    @property
    def schema(self) -> GraphQLSchema:
        """Linear's schema, built once however many threads ask at first (behind a lock)."""
        if self._schema is None:
            with self._schema_lock:
                if self._schema is None:
                    self._schema = published_schema()
        return self._schema

    def warm(self, documents: list[str]) -> None:
        """Pay now what the first request would: the schema, each of `documents` parsed and
        validated, the TLS context (`baton serve` does this before `/readyz` says ready)."""
        for source in documents:
            self.document(source)
        self._tls_context()

    @property
    def warmed(self) -> bool:
        """Whether the schema is built (nothing the first request pays for is left to do)."""
        return self._schema is not None and self._tls is not None

    def document(self, source: str) -> DocumentNode:
        """The parsed document, checked against the schema once (a bad one is our bug: raise)."""
        with self._lock:
            found = self._documents.get(source)
        if found is not None:
            return found
        try:
            node = parse(source)
        except GraphQLError as err:
            raise LinearError(f"invalid GraphQL document: {err.message}", "invalid document") from None
        errors = validate(self.schema, node)
        if errors:
            raise LinearError(f"invalid GraphQL document: {errors[0].message}", "invalid document")
        with self._lock:
            self._documents[source] = node
        return node

    def execute(
        self, source: str, variables: dict[str, Any] | None = None, *, deadline_s: float | None = None
    ) -> dict[str, Any]:
        """Run one document; ratelimited answers are retried with exponential backoff (honouring
        Retry-After), within `retries` and, when given, `deadline_s` seconds from now."""
        node = self.document(source)
        self._check_variables(node, variables or {})
        request = GraphQLRequest(node, variable_values=variables or None)
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return self._once(request)
            except LinearRateLimited as limited:
                attempt += 1
                wait = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                if limited.retry_after_s is not None:
                    wait = min(self.max_backoff_s, max(wait, limited.retry_after_s))
                over_deadline = deadline_s is not None and time.monotonic() - started + wait > deadline_s
                if attempt > self.retries or over_deadline:
                    raise
                log.info("linear_ratelimited", attempt=attempt, wait_s=round(wait, 3))
                time.sleep(wait)

    def _check_variables(self, node: DocumentNode, variables: dict[str, Any]) -> None:
        """Coerce the variables through the schema as Linear will (an unknown input field fails
        here, where gql's own serialisation would silently drop it)."""
        operation = next(d for d in node.definitions if isinstance(d, OperationDefinitionNode))
        definitions = operation.variable_definitions or ()
        coerced = get_variable_values(self.schema, definitions, variables, max_errors=1)
        if isinstance(coerced, list):
            raise LinearError(f"invalid variables: {coerced[0].message}", "invalid document")

    def _once(self, request: GraphQLRequest) -> dict[str, Any]:
        self._throttle()
        headers = {"Authorization": authorization_header(self._token.get_secret_value())}
        with self._tracer.outbound("linear", "POST", self.url) as call:
            hooks = {"response": [lambda answer: call.status(answer.status_code)]} if self._tracer.enabled else {}
            transport = HTTPXTransport(
                self.url, headers=headers, timeout=self.timeout_s, event_hooks=hooks, verify=self._tls_context()
            )
            # No schema for gql: `document` validated this document once already; gql would do it per call.
            client = Client(transport=transport, execute_timeout=self.timeout_s)
            try:
                with client as session:
                    result: dict[str, Any] = session.execute(request)
                    return result
            except TransportError as err:
                self._on_error()
                raise _translated(err, transport) from None


def _translated(err: TransportError, transport: HTTPXTransport) -> LinearError:
    """gql's error as ours: Linear's own error list, a rate limit, or the HTTP failure."""
    if isinstance(err, TransportQueryError):
        return _from_errors(err.errors or [], transport)
    if isinstance(err, TransportServerError):
        if err.code == 429:
            return LinearRateLimited("Linear answered 429", _retry_after(transport))
        return LinearError(f"Linear answered HTTP {err.code}", "network error")
    return LinearError(f"Linear unreachable: {type(err).__name__}", "network error")


def _from_errors(errors: list[Any], transport: HTTPXTransport) -> LinearError:
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    extensions = first.get("extensions") or {}
    kind = str(extensions.get("type") or "unknown").lower()
    detail = str(first.get("message") or kind)
    message = str(extensions.get("userPresentableMessage") or detail)
    if kind == "ratelimited" or extensions.get("code") == "RATELIMITED":
        return LinearRateLimited(message, _retry_after(transport))
    return LinearError(message, kind, detail)


def _retry_after(transport: HTTPXTransport) -> float | None:
    headers = transport.response_headers
    if headers is None:
        return None
    value = headers.get("retry-after")
    if value is not None:
        try:
            return max(float(value), 0.0)
        except ValueError:
            return None
    reset = headers.get("x-ratelimit-requests-reset")  # Linear: epoch milliseconds
    if reset is not None:
        try:
            return max(float(reset) / 1000 - time.time(), 0.0)
        except ValueError:
            return None
    return None
