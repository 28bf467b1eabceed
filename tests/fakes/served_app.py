"""Baton's ASGI app served over real HTTP for end-to-end tests, and the polling wait they share.

`serve(app)` runs the app under uvicorn on 127.0.0.1 at a fresh port in a daemon thread, lifespan
(the surface hub) included, as `baton serve` does, and yields its base URL; `until` polls a condition
until it holds. The Slack, Linear and GitHub harnesses build their worlds on these.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def until(what: str, condition: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll `condition` until it returns something truthy, and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """An ASGI app (Baton's) under uvicorn on 127.0.0.1:<fresh port>, lifespan (the hub) included."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="baton-web", daemon=True)
    thread.start()
    until("the web app to start", lambda: server.started, timeout=15)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
