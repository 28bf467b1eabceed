"""A stand-in for Linear's GraphQL API: a real HTTP server on 127.0.0.1 that loads Linear's published
SDL (`/work/shared/fixtures/linear/schema.graphql`) with graphql-core and executes what it receives
against an in-memory workspace (`linear_state.py`, resolvers in `linear_resolvers.py`).

Like Linear it checks the Authorization header (a personal API key as is, an OAuth token as
`Bearer …`), rejects documents that do not parse or validate with an `errors` array (HTTP 400,
`extensions.type` "graphql error"), reports refused mutations the way Linear does (`extensions.type`
"invalid input", "forbidden", …), and can answer `ratelimited` for the next N requests. Every
request is recorded in `calls`, in order; successful mutations can also be appended to a journal
file shared with the agents of a test, so tests can assert the order of things in two processes.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    build_schema,
    execute,
    parse,
    validate,
)

from tests.fakes.http_stub import StubHandler, StubServer
from tests.fakes.linear_resolvers import Root
from tests.fakes.linear_state import Workspace

SCHEMA_FIXTURE = Path("/work/shared/fixtures/linear/schema.graphql")


@cache
def load_fixture_schema() -> GraphQLSchema:
    """Linear's SDL as published (parsed once per test process: it takes ~0.7 s)."""
    return build_schema(SCHEMA_FIXTURE.read_text(encoding="utf-8"))


@dataclass
class Call:
    """One request as the fake understood it."""

    operation: str
    kind: str  # query | mutation | invalid | held (waiting on `hold`)
    variables: dict[str, Any]
    status: int
    error_type: str | None
    authorization: str
    at: float = field(default_factory=time.monotonic)
    """When the request arrived (time.monotonic, comparable across processes on this machine)."""


def _error(message: str, kind: str, **extra: Any) -> dict[str, Any]:
    code = kind.upper().replace(" ", "_")
    return {"message": message, "extensions": {"type": kind, "code": code, "userError": True, **extra}}


class FakeLinear:
    """Start with `FakeLinear().start()` (or `with FakeLinear() as fake`); `url` is what `LINEAR_API_URL` should be."""

    def __init__(
        self,
        schema: GraphQLSchema | None = None,
        *,
        api_key: str = "lin_api_fake_key",
        oauth_token: str | None = None,
        journal: Path | None = None,
    ) -> None:
        self.schema = schema if schema is not None else load_fixture_schema()
        self.workspace = Workspace()
        self.root = Root(self.workspace)
        self.api_key = api_key
        self.oauth_token = oauth_token
        self.journal = journal
        self.calls: list[Call] = []
        self._ratelimited = 0
        self._retry_after_s: float | None = None
        self._held: dict[str, tuple[threading.Event, int]] = {}
        self._lock = threading.Lock()
        self._arrived = threading.local()
        self._server: StubServer | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakeLinear:
        self._server = StubServer(_Handler, self, "fake-linear").start()
        self.url = f"{self._server.url}/graphql"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeLinear:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- what tests ask ------------------------------------------------------------------------------------
    def ratelimit(self, times: int, retry_after_s: float | None = None) -> None:
        """Answer the next `times` requests with Linear's ratelimited error."""
        with self._lock:
            self._ratelimited = times
            self._retry_after_s = retry_after_s

    def hold(self, operation: str, times: int = 1) -> threading.Event:
        """The next `times` requests of `operation` wait (unanswered) until the returned event is
        set: a call Linear is slow to answer, for as long as the test needs."""
        gate = threading.Event()
        with self._lock:
            self._held[operation] = (gate, times)
        return gate

    def _gate(self, operation: str) -> threading.Event | None:
        with self._lock:
            gate, left = self._held.get(operation, (None, 0))
            if gate is None or left <= 0:
                return None
            self._held[operation] = (gate, left - 1)
            return gate

    def mutations(self, operation: str | None = None) -> list[Call]:
        """Successful mutations, in the order they arrived (optionally of one operation)."""
        with self._lock:
            done = [c for c in self.calls if c.kind == "mutation" and c.status == 200 and c.error_type is None]
        return [c for c in done if operation is None or c.operation == operation]

    # -- answering -----------------------------------------------------------------------------------------
    def answer(
        self, body: bytes, authorization: str, arrived: float | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        self._arrived.value = arrived if arrived is not None else time.monotonic()
        if authorization not in self._accepted():
            error = _error("Authentication required, not authenticated", "authentication error")
            return self._record("", "invalid", {}, 400, authorization, {"errors": [error]})
        with self._lock:
            limited = self._ratelimited > 0
            self._ratelimited -= 1 if limited else 0
            retry_after = self._retry_after_s
        if limited:
            reset_ms = int((time.time() + (retry_after or 0)) * 1000)
            headers = {"X-RateLimit-Requests-Remaining": "0", "X-RateLimit-Requests-Reset": str(reset_ms)}
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            error = _error("Rate limit exceeded", "ratelimited")
            status, payload, _ = self._record("", "invalid", {}, 400, authorization, {"errors": [error]})
            return status, payload, headers
        try:
            request = json.loads(body)
            source, variables = request["query"], request.get("variables") or {}
            document = parse(source)
        except (ValueError, KeyError, TypeError):
            return self._record("", "invalid", {}, 400, authorization, {"errors": [_error("Bad request", "other")]})
        except GraphQLError as err:
            return self._record("", "invalid", {}, 400, authorization, {"errors": [_graphql_error(err)]})
        operation = next((d for d in document.definitions if isinstance(d, OperationDefinitionNode)), None)
        name = operation.name.value if operation and operation.name else ""
        kind = "mutation" if operation and operation.operation is OperationType.MUTATION else "query"
        gate = self._gate(name)
        if gate is not None:
            with self._lock:
                self.calls.append(Call(name, "held", variables, 0, None, authorization, self._arrived.value))
            gate.wait(60)
        problems = validate(self.schema, document)
        if problems:
            errors = [_graphql_error(p) for p in problems]
            return self._record(name, "invalid", variables, 400, authorization, {"errors": errors})
        result = execute(self.schema, document, root_value=self.root, variable_values=variables)
        payload: dict[str, Any] = {"data": result.data}
        status = 200
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
            for formatted in payload["errors"]:
                formatted.setdefault("extensions", {}).setdefault("type", "graphql error")
            status = 400 if result.data is None and not any(e.path for e in result.errors) else 200
        return self._record(name, kind, variables, status, authorization, payload)

    def _accepted(self) -> set[str]:
        accepted = {self.api_key}
        if self.oauth_token:
            accepted.add(f"Bearer {self.oauth_token}")
        return accepted

    def _record(
        self, name: str, kind: str, variables: dict[str, Any], status: int, authorization: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        errors = payload.get("errors") or []
        error_type = errors[0].get("extensions", {}).get("type") if errors else None
        with self._lock:
            self.calls.append(Call(name, kind, variables, status, error_type, authorization, self._arrived.value))
            if self.journal is not None and kind == "mutation" and error_type is None:
                with self.journal.open("a", encoding="utf-8") as f:
                    f.write(f"linear {name}\n")
        return status, payload, {}


def _graphql_error(err: GraphQLError) -> dict[str, Any]:
    formatted = dict(err.formatted)
    formatted["extensions"] = {"type": "graphql error", "code": "GRAPHQL_VALIDATION_FAILED", "userError": True}
    return formatted


class _Handler(StubHandler):
    owner: FakeLinear

    def do_POST(self) -> None:
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.split("?")[0] != "/graphql":
            self.send_json(404, {"errors": [_error("Not found", "other")]})
            return
        status, payload, headers = self.owner.answer(body, self.headers.get("Authorization") or "", arrived)
        self.send_json(status, payload, headers)
