"""What every inbound webhook endpoint shares: a bounded body read, a constant-time HMAC check,
JSON parsing that fails with a reason (400), and one error shape. Handlers call these before
anything else touches the payload (design §2).

A body is read before its signature can be checked, so whoever can reach the endpoint decides what
is read. The read is bounded three ways: a `Content-Length` over 25 MB is refused (413) before any
of the body is read (and a body that turns out larger, as soon as it does); all bodies being read,
across every endpoint, may hold at most `PREAUTH_BUDGET_BYTES` together — a request that does not
fit waits up to `BUDGET_WAIT_S` for room, then gets 503 with `Retry-After`; and a body must arrive
within `READ_DEADLINE_S` (408). So a flood of large unsigned bodies costs Baton a bounded amount of
memory, whatever its size.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.engine.drain import Drain
from bot.store.intake import Stored

MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub's cap on webhook payloads; the same for every source."""
PREAUTH_BUDGET_BYTES = 32 * 1024 * 1024
"""Unauthenticated body bytes held at once, all endpoints together (at least one largest body)."""
BUDGET_WAIT_S = 10.0
READ_DEADLINE_S = 30.0


class WebhookError(Exception):
    """A request refused at the edge; `reason` is short, safe to return, and never echoes secrets."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


class ByteBudget:
    """Bytes that may be held at once, shared by every endpoint and event loop of the process."""

    def __init__(self, total: int, wait_s: float = BUDGET_WAIT_S) -> None:
        self.total = total
        self.wait_s = wait_s
        self.used = 0
        self._lock = threading.Lock()

    def try_take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.total:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n

    async def take(self, n: int, started: float) -> None:
        """Take `n` bytes, waiting for room until `wait_s` after `started` (monotonic); then 503."""
        deadline = started + self.wait_s
        while not self.try_take(n):
            if time.monotonic() >= deadline:
                raise WebhookError(503, "too many bodies are being received; try again", {"Retry-After": "5"})
            await asyncio.sleep(0.02)


PREAUTH = ByteBudget(PREAUTH_BUDGET_BYTES)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES, budget: ByteBudget = PREAUTH) -> bytes:
    """The raw body, refused with 413 as soon as it is known to be larger than `limit`, read only
    while it fits in `budget` (see the module docstring)."""
    too_large = WebhookError(413, f"body larger than {limit // (1024 * 1024)} MB")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    started = time.monotonic()
    held = 0
    try:
        if declared.isdigit():
            await budget.take(int(declared), started)
            held = int(declared)
        body = bytearray()
        async with asyncio.timeout(READ_DEADLINE_S):
            async for chunk in request.stream():
                if len(body) + len(chunk) > limit:
                    raise too_large
                if len(body) + len(chunk) > held:  # no (or a false) Content-Length: take as it comes
                    grow = len(body) + len(chunk) - held
                    await budget.take(grow, started)
                    held += grow
                body += chunk
        return bytes(body)
    except TimeoutError:
        raise WebhookError(408, f"body not received within {READ_DEADLINE_S:.0f} s") from None
    finally:
        budget.give(held)


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hmac_sha256(secret: str, body: bytes, signature_hex: str) -> bool:
    """Whether `signature_hex` is the HMAC-SHA256 of `body` under `secret` (constant time)."""
    expected = hmac_sha256_hex(secret, body).encode()
    return hmac.compare_digest(expected, signature_hex.strip().lower().encode("utf-8", "replace"))


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object, or a 400 saying why not."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WebhookError(400, f"malformed JSON: {err.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise WebhookError(400, "malformed payload: expected a JSON object")
    return data


def error_response(err: WebhookError) -> Response:
    return JSONResponse({"ok": False, "error": err.reason}, status_code=err.status, headers=err.headers)


async def accept(drain: Drain, source: str, delivery: str, kind: str, body: bytes) -> Response:
    """Store a verified, well-formed delivery (one insert), wake the drain, and answer: what the
    delivery means is worked out after the answer, from the store (`bot/engine/drain.py`)."""
    text = body.decode("utf-8")  # parse_json read it already: valid UTF-8
    stored = drain.store.submit_intake(source, delivery, kind, text, owner=drain.owner)
    intake_id = stored.result() if stored.done() else await asyncio.wrap_future(stored)  # done: written here
    drain.answered()
    drain.take(Stored(intake_id, source, delivery, kind, text))
    return JSONResponse({"ok": True, "action": "accepted", "intake": intake_id})
