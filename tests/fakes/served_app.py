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

import httpx
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


Outcomes = Callable[[int], "dict[str, Any] | None"]
"""What processing a stored webhook came to, by its intake id (`Store.intake_outcome`)."""


def processed(answer: httpx.Response, outcomes: Outcomes | None, timeout: float = 60) -> httpx.Response:
    """The answer to a webhook as a test reads it: Baton stores a delivery and answers at once
    (`{"action": "accepted", "intake": id}`); what it did with it is read from the store once the
    drain has processed it, and returned in the place of the body (same status). Refusals at the
    edge (401, 400, 413, ...) and ignored events are returned as they were answered."""
    if outcomes is None or not answer.is_success:
        return answer
    intake = answer.json().get("intake")
    if not isinstance(intake, int):
        return answer
    outcome = until(f"webhook {intake} to be processed", lambda: outcomes(intake), timeout)
    return httpx.Response(answer.status_code, json=outcome, request=answer.request)
