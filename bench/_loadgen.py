"""Open-loop HTTP load for the benchmarks: deliveries signed as Slack, GitHub and Linear sign them,
sent on a fixed schedule from a child process.

`signed(delivery, secrets)` gives the body and headers a source sends (Slack v0 with its timestamp,
`X-Hub-Signature-256`, `Linear-Signature` over a body whose `webhookTimestamp` is stamped now).
`LoadGenerator` is a forked child with its own event loop: `phase(url, deliveries, rate)` signs
every delivery, then sends request i at start + i/rate whether or not earlier ones were answered
(open loop), over a pool of keep-alive connections, and returns each request's `Outcome`. Latency
is counted from the scheduled time, so a request that waited for a connection or for the loop
counts its wait (no coordinated omission). The HTTP/1.1 client is a few lines over asyncio streams:
an httpx request costs the sender about as much CPU as the server spends on it, which a 2-core
machine cannot afford at 1000 requests/s.

`make bench` runs every bench/*.py: run as a script this module does nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import multiprocessing
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

PATHS = {"slack": "/slack/events", "github": "/github/webhook", "linear": "/linear/webhook"}
LINEAR_STAMP = b"4242424242424"
"""Stands for `webhookTimestamp` in a Linear body until it is signed (Linear wants it within 60 s)."""
MAX_CONNECTIONS = 256
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Delivery:
    """One webhook as its source would send it, before signing; a duplicate repeats an earlier id."""

    source: str
    delivery_id: str
    body: bytes
    event: str = ""
    """GitHub's `X-GitHub-Event`, Linear's `Linear-Event`."""
    duplicate: bool = False


@dataclass(frozen=True)
class Outcome:
    due_s: float
    """When it was due, from the phase's start."""
    latency_s: float
    """From due to the whole answer read (or to the error)."""
    late_s: float
    """From due to the moment it was written: the generator's own lag."""
    status: int
    """HTTP status; 0 for a transport error or a timeout."""
    error: str = ""

    @property
    def acked(self) -> bool:
        return 200 <= self.status < 300


def signed(delivery: Delivery, secrets: dict[str, str], now: float | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers `delivery.source` sends, signed with its secret at time `now`."""
    now = time.time() if now is None else now
    body, secret = delivery.body, secrets[delivery.source]
    if delivery.source == "slack":
        stamp = str(int(now))
        digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={digest}",
        }
        if delivery.duplicate:  # Slack retries say so
            headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        return body, headers
    if delivery.source == "github":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.delivery_id,
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": f"sha256={digest}",
        }
    if delivery.source == "linear":
        body = body.replace(LINEAR_STAMP, str(int(now * 1000)).encode(), 1)
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Linear-Webhook",
            "Linear-Delivery": delivery.delivery_id,
            "Linear-Event": delivery.event,
            "Linear-Signature": digest,
        }
    raise ValueError(f"unknown source {delivery.source!r}")


def raw_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """An HTTP/1.1 POST of `body` to `url`, as bytes on the wire (keep-alive)."""
    parts = urlsplit(url)
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- the client -----------------------------------------------------------------------------------------
async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server closes the connection) after reading one whole answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        key, value = key.strip().lower(), value.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"transfer-encoding":
            chunked = b"chunked" in value
        elif key == b"connection":
            close = value == b"close"
    if chunked:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    elif length:
        await reader.readexactly(length)
    return status, close


async def run_phase(url: str, requests: list[bytes], rate: float) -> list[Outcome]:
    """Send `requests` at `rate` per second from now, open loop; one Outcome each, in order."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    outcomes: list[Outcome | None] = [None] * len(requests)
    start = loop.time() + 0.05

    async def one(i: int, raw: bytes, due: float) -> None:
        async with slots:
            writer: asyncio.StreamWriter | None = None
            sent = loop.time()
            try:
                reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
                sent = loop.time()
                writer.write(raw)
                status, close = await asyncio.wait_for(_read_answer(reader), TIMEOUT_S)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as err:
                if writer is not None:
                    writer.close()
                now = loop.time()
                outcomes[i] = Outcome(due - start, now - due, sent - due, 0, type(err).__name__)
                return
            now = loop.time()
            if close:
                writer.close()
            else:
                idle.append((reader, writer))
            outcomes[i] = Outcome(due - start, now - due, sent - due, status)

    tasks = []
    for i, raw in enumerate(requests):
        due = start + i / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        tasks.append(asyncio.create_task(one(i, raw, due)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return [o for o in outcomes if o is not None]


# -- the child process -------------------------------------------------------------------------------------
def _child(conn: Connection) -> None:
    while True:
        message = conn.recv()
        if message is None:
            return
        url, deliveries, secrets, rate = message
        now = time.time()
        requests = [raw_request(url, *signed(d, secrets, now)) for d in deliveries]
        conn.send(asyncio.run(run_phase(url, requests, rate)))


class LoadGenerator:
    """A child process that sends phases of load; start it before the parent starts any thread
    (it is forked)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process: Any = context.Process(target=_child, args=(child,), name="bench-load", daemon=True)

    def start(self) -> LoadGenerator:
        self._process.start()
        return self

    def phase(self, url: str, deliveries: list[Delivery], secrets: dict[str, str], rate: float) -> list[Outcome]:
        self._conn.send((url, deliveries, secrets, rate))
        outcomes: list[Outcome] = self._conn.recv()
        return outcomes

    def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send(None)
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


if __name__ == "__main__":
    print("bench/_loadgen.py: the load generator of the benchmarks, nothing to measure", file=sys.stderr)
