"""What every inbound webhook endpoint shares: a bounded body read (413 past 25 MB without reading
the rest), a constant-time HMAC check, JSON parsing that fails with a reason (400), and one error
shape. Handlers call these before anything else touches the payload (design §2)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub's cap on webhook payloads; the same for every source."""


class WebhookError(Exception):
    """A request refused at the edge; `reason` is short, safe to return, and never echoes secrets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused with 413 as soon as it is known to be larger than `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise WebhookError(413, f"body larger than {limit // (1024 * 1024)} MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookError(413, f"body larger than {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


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
    return JSONResponse({"ok": False, "error": err.reason}, status_code=err.status)
