"""GitHub's limits as the stand-in keeps them: how many writing requests it is answering at once
(GitHub's secondary limits punish concurrent content creation), and an optional primary quota —
`x-ratelimit-limit/remaining/reset` on every answer, and a 403 "API rate limit exceeded" for a
request made while the quota is spent, as GitHub answers."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.fakes.github_http import Answer

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class Limits:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.writes_in_flight = 0
        self.most_writes_in_flight = 0
        """The most writing requests the stand-in was answering at one time."""
        self.refused_for_quota = 0
        self._quota: tuple[int, float] | None = None  # (requests per window, window seconds)
        self._remaining = 0
        self._reset_at = 0

    def set_quota(self, requests: int, window_s: float) -> None:
        """From now on, `requests` requests per window of `window_s` seconds (reset on whole seconds)."""
        with self._lock:
            self._quota = (requests, window_s)
            self._remaining, self._reset_at = requests, math.ceil(time.time() + window_s)

    @contextmanager
    def serving(self, method: str) -> Iterator[None]:
        write = method in WRITES
        if write:
            with self._lock:
                self.writes_in_flight += 1
                self.most_writes_in_flight = max(self.most_writes_in_flight, self.writes_in_flight)
        try:
            yield
        finally:
            if write:
                with self._lock:
                    self.writes_in_flight -= 1

    def charge(self, error: dict[str, object]) -> tuple[Answer | None, dict[str, str]]:
        """One request against the quota: a refusal when it is spent, and the headers to answer with."""
        with self._lock:
            if self._quota is None:
                return None, {}
            requests, window_s = self._quota
            if time.time() >= self._reset_at:
                self._remaining, self._reset_at = requests, math.ceil(time.time() + window_s)
            refused = self._remaining == 0
            if refused:
                self.refused_for_quota += 1
            else:
                self._remaining -= 1
            headers = {
                "x-ratelimit-limit": str(requests),
                "x-ratelimit-remaining": str(self._remaining),
                "x-ratelimit-reset": str(self._reset_at),
            }
        return (Answer(403, error, headers) if refused else None), headers
