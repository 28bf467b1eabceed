"""Before a body is authenticated Baton holds little of it: a `Content-Length` over the cap is
refused before any of the body is read, and a flood of large unsigned bodies is refused without the
memory of a real `baton serve` growing with it (only a bounded amount of unauthenticated bodies is
buffered at once, across every endpoint)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.scale_support import baton_env, free_port, until

FLOOD = 60
BODY_BYTES = 24 * 1024 * 1024
RSS_LIMIT_KB = 300 * 1024
REFUSALS = {"401", "408", "413", "503", "closed"}
"""What an unsigned body may get: refused with a status, or its connection closed unread."""


@dataclass
class Serve:
    pid: int
    port: int


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    return False


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    port = free_port()
    secrets = {"GITHUB_WEBHOOK_SECRET": "gh-flood-secret", "LINEAR_WEBHOOK_SECRET": "lin-flood-secret"}
    env = baton_env(tmp_path, {}, **secrets)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        until("baton serve to answer /healthz", lambda: _healthy(f"http://127.0.0.1:{port}"))
        yield Serve(process.pid, port)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def _peak_rss_kb(pid: int) -> int:
    """The process's high-water resident set (`VmHWM`), in kB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def _post(port: int, path: str, body: memoryview, declared: int | None = None) -> str:
    """POST an unsigned `body` over a raw socket; the status it got, or `closed` if the server
    closed the connection without answering (it refused to read the rest)."""
    size = declared if declared is not None else len(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nX-GitHub-Event: issue_comment\r\nX-GitHub-Delivery: flood\r\n"
        "X-Hub-Signature-256: sha256=00\r\nLinear-Signature: 00\r\nLinear-Delivery: flood\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(head.encode())
        with contextlib.suppress(OSError):  # the server may stop reading and close: that is a refusal
            for start in range(0, len(body), 1 << 20):
                sock.sendall(body[start : start + (1 << 20)])
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else "closed"


def test_a_content_length_over_the_cap_is_refused_before_any_body_is_sent(serve: Serve) -> None:
    assert _post(serve.port, "/github/webhook", memoryview(b""), declared=25 * 1024 * 1024 + 1) == "413"


def test_sixty_concurrent_unsigned_24_mb_bodies_are_refused_and_memory_stays_bounded(serve: Serve) -> None:
    body = memoryview(b"{" + b" " * (BODY_BYTES - 2) + b"}")
    idle = _peak_rss_kb(serve.pid)
    outcomes: list[str] = []
    paths = ["/github/webhook", "/linear/webhook"]

    def one(i: int) -> None:
        outcomes.append(_post(serve.port, paths[i % 2], body))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(FLOOD)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    assert len(outcomes) == FLOOD
    assert [o for o in outcomes if o not in REFUSALS] == []
    peak = _peak_rss_kb(serve.pid)
    tally = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(f"baton serve peak RSS: {idle >> 10} MB idle, {peak >> 10} MB after {FLOOD} unsigned bodies: {tally}")
    assert peak < RSS_LIMIT_KB
    assert _healthy(f"http://127.0.0.1:{serve.port}")
