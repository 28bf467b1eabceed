"""The HTTP plumbing the service stand-ins share (the GitHub, Linear and Slack fakes).

`StubServer` is a threading HTTP server on 127.0.0.1 at a fresh port, served from a daemon thread
once started; `StubHandler` is a quiet HTTP/1.1 request handler that can write a JSON answer. Each
stand-in keeps its own routes, checks and wire details; only the serving is here.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing (tests read what the stand-in recorded) and answers in JSON;
    `owner` is the stand-in it serves (subclasses narrow its type)."""

    protocol_version = "HTTP/1.1"
    owner: Any

    def log_message(self, format: str, *args: Any) -> None:
        return

    def send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """`body` as JSON (no body and no Content-Type when it is None), then `headers`."""
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a server under test being killed) is not an error of the stand-in."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class StubServer:
    """`handler` serving `owner` on 127.0.0.1:<fresh port> (bound at once: `url` is known before `start`)."""

    def __init__(self, handler: type[StubHandler], owner: object, name: str) -> None:
        bound = type(handler.__name__, (handler,), {"owner": owner})
        self._server = _QuietServer(("127.0.0.1", 0), bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
