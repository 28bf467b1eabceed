"""How fast one GitHub token's requests go: GitHub's secondary-rate-limit guidance, applied as GitHub
answers instead of a flat pause between all writes.

GitHub asks integrators to make content-creating requests (POST, PATCH, PUT, DELETE) for one token
one at a time, to wait as a 403/429 says (`Retry-After`, else until `x-ratelimit-reset` when
`x-ratelimit-remaining` is 0, else at least a minute), and not to spend a quota that is already
spent. A `Pacer` (one per token, so per PyGithub client) does exactly that for every request the
client sends: writes take turns, a rate-limit answer to any request holds every later request of
the token until GitHub's time, and a spent quota holds them until its reset — nothing waits when
GitHub asks for nothing. `github.seconds_between_writes` / `seconds_between_requests` remain as
optional least gaps (default 0).

The pacer sits in the client's connection class (as `tracing.py` does), around the one call that
sends a request and reads its answer; the retry of the refused request itself is `client.call`'s.
That class also keeps each thread's pending request apart: PyGithub shares one connection object
per client, and its `request()` stores the verb, URL and body on it for `getresponse()` to send —
with a run's repos worked on at once, another thread's `request()` in between would send that
thread's request twice and this one never (a PR read answered with an issue, a write repeated).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from github import Github

log = structlog.get_logger(__name__)

_CONNECTION_CLASS = "_Requester__connectionClass"
_PENDING = ("verb", "url", "input", "headers", "stream")
"""What PyGithub's connection `request()` stores for `getresponse()`: kept per thread here."""
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class Pacer:
    """One token's pace: writes in turn, and the pauses GitHub's answers ask for."""

    def __init__(
        self,
        *,
        write_gap_s: float = 0.0,
        request_gap_s: float = 0.0,
        secondary_wait_s: float = 60.0,
        max_wait_s: float = 900.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.write_gap_s = write_gap_s
        self.request_gap_s = request_gap_s
        self.secondary_wait_s = secondary_wait_s
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._sleep = sleep
        self._writes = threading.Lock()  # held from a write's send to its answer
        self._state = threading.Lock()
        self._resume_at = 0.0  # no request of this token before then (epoch seconds)
        self._last_write = 0.0
        self._last_request = 0.0

    @contextmanager
    def turn(self, verb: str) -> Iterator[Callable[[int, Mapping[str, str], str], None]]:
        """Wait for this request's turn; the caller reports GitHub's answer through the yielded
        function (status, headers, GitHub's message on a 403) before the turn ends."""
        write = verb.upper() not in _READS
        if write:
            self._writes.acquire()
        try:
            self._wait(write)
            yield self._answered
        finally:
            with self._state:
                now = self._clock()
                self._last_request = now
                if write:
                    self._last_write = now
            if write:
                self._writes.release()

    def _wait(self, write: bool) -> None:
        with self._state:
            due = max(
                self._resume_at,
                self._last_request + self.request_gap_s if self.request_gap_s else 0.0,
                self._last_write + self.write_gap_s if write and self.write_gap_s else 0.0,
            )
            wait = due - self._clock()
        if wait > 0:
            self._sleep(min(wait, self.max_wait_s))

    def _answered(self, status: int, headers: Mapping[str, str], message: str = "") -> None:
        """Note the pause GitHub's answer asks of this token's later requests, if any."""
        pause = self.pause_for(status, headers, message)
        if pause is None:
            return
        with self._state:
            self._resume_at = max(self._resume_at, self._clock() + min(pause, self.max_wait_s))
        log.info("github.paced", status=status, pause_s=round(pause, 2))

    def pause_for(self, status: int, headers: Mapping[str, str], message: str = "") -> float | None:
        """Seconds GitHub asks this token to hold off after an answer, or None."""
        h = {k.lower(): str(v) for k, v in headers.items()}
        retry_after = h.get("retry-after", "")
        if status in (403, 429) and retry_after.isdigit():
            return float(retry_after)
        reset = h.get("x-ratelimit-reset", "")
        if h.get("x-ratelimit-remaining") == "0" and reset.isdigit():
            return max(0.0, int(reset) - self._clock()) + 1.0  # the quota is spent: none left before its reset
        if status == 429 or (status == 403 and "secondary rate limit" in message.lower()):
            return self.secondary_wait_s  # GitHub: wait at least a minute when it names no time
        return None


def paced(client: Github, pacer: Pacer) -> Github:
    """`client`, each of its requests sent in `pacer`'s turn."""
    requester = client.requester
    base = getattr(requester, _CONNECTION_CLASS, None)
    if base is None:
        log.warning("github.pacing_unavailable", reason="PyGithub's Requester has no connection class")
        return client

    def getresponse(self: Any) -> Any:
        with pacer.turn(str(getattr(self, "verb", "GET"))) as answered:
            response = base.getresponse(self)
            status = int(response.status)
            message = str(response.read())[:2000] if status == 403 else ""  # requests keeps the body
            answered(status, dict(response.getheaders()), message)
            return response

    members: dict[str, Any] = {name: _per_thread(name) for name in _PENDING}
    members["getresponse"] = getresponse
    setattr(requester, _CONNECTION_CLASS, type(f"Paced{base.__name__}", (base,), members))
    return client


def _per_thread(name: str) -> property:
    """An attribute of the connection object whose value is the current thread's own."""

    def pending(self: Any) -> threading.local:
        # dict.setdefault is atomic: two threads' first requests get one and the same store.
        store: threading.local = self.__dict__.setdefault("_baton_pending", threading.local())
        return store

    def get(self: Any) -> Any:
        try:
            return getattr(pending(self), name)
        except AttributeError:
            raise AttributeError(name) from None

    def put(self: Any, value: Any) -> None:
        setattr(pending(self), name, value)

    return property(get, put)
