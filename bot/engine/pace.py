"""How often the processes that execute runs poll DBOS's queues: quickly while there is work, slowly
when there is none.

DBOS's queue workers poll each queue at the interval stored in the queue's row of DBOS's database,
re-read on every poll, and cannot be woken from their sleep. An idle poll costs about 2 ms of CPU,
so two queues at 0.1 s cost ~4% of a core doing nothing (bench/idle.py). The pace turns that down
through DBOS's public queue configuration (`Queue.set_polling_interval_sec`): every process that
hands work to a queue sets the fast interval first (`busy`), which every executing process picks
up at its next poll; an executing process that finds no workflow pending or enqueued anywhere for
`idle_after_s` sets the slow one (`settle`). The row is DBOS's own channel between processes, on
SQLite and PostgreSQL alike. Work handed to a queue after a quiet spell waits at most one slow
interval. (Starting runs in-process to skip that wait was tried and removed: a run recovered from a
dead `baton run` by `baton approve|reject` could end without taking the decision waiting in its inbox.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

log = structlog.get_logger(__name__)

PENDING = ["PENDING", "ENQUEUED"]


class QueuePace:
    """The polling interval of `queues`: `fast_s` from `busy()` until `settle()` finds no work for
    `idle_after_s`, then `idle_s` (fast and idle equal: the pace never changes)."""

    def __init__(
        self,
        workflows: Callable[[], Any],
        queues: Sequence[str],
        fast_s: float,
        idle_s: float,
        idle_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`workflows`: DBOS, or a client of its database (`Dispatch.workflows`)."""
        self._workflows = workflows
        self.queues = list(queues)
        self.fast_s = fast_s
        self.idle_s = max(idle_s, fast_s)
        self.idle_after_s = idle_after_s
        self._clock = clock
        self._last_busy = clock()
        self._last_check = clock()
        self._lock = threading.Lock()

    @property
    def adaptive(self) -> bool:
        return self.idle_s > self.fast_s

    def busy(self) -> None:
        """Work is about to be handed to a queue: poll quickly from the next poll on (one read of
        the queue rows; a write only when they were slow)."""
        self._last_busy = self._clock()
        if not self.adaptive:
            return
        try:
            self._set(self.fast_s, only_if_slower=True)
        except Exception as err:  # the work is still enqueued; it waits at most one slow interval
            log.warning("pace.busy_failed", error=str(err))

    def settle(self) -> bool:
        """Slow the queues down when nothing has been handed to them for `idle_after_s` and no
        workflow is pending or enqueued in any process; True when it did."""
        now = self._clock()
        # At most one look per `idle_after_s`: an idle process's own queries stay few.
        if not self.adaptive or min(now - self._last_busy, now - self._last_check) < self.idle_after_s:
            return False
        self._last_check = now
        if self.work_pending():
            self._last_busy = now
            return False
        return self._set(self.idle_s, only_if_slower=False)

    def work_pending(self) -> bool:
        found = self._workflows().list_workflows(status=PENDING, limit=1, load_input=False, load_output=False)
        return bool(list(found))

    def interval(self, name: str) -> float | None:
        queue = self._workflows().retrieve_queue(name)
        return None if queue is None else float(queue.polling_interval_sec)

    def _set(self, seconds: float, *, only_if_slower: bool) -> bool:
        changed = False
        with self._lock:
            for name in self.queues:
                queue = self._workflows().retrieve_queue(name)
                if queue is None:
                    continue
                current = float(queue.polling_interval_sec)
                if current == seconds or (only_if_slower and current < seconds):
                    continue
                queue.set_polling_interval_sec(seconds)
                changed = True
        if changed:
            log.info("pace.changed", polling_s=seconds, queues=self.queues)
        return changed
