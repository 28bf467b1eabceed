"""The one-way road from the engine to the places people look: deliver each run's new events, in
order, to every surface that wants the run.

The engine only appends events to the store; it never calls a surface (design §1). In the process
that serves people (`baton serve`), a thread polls the store for runs that changed and hands each
new event to each interested surface as `publish(view, event)` with the run's current view. Delivery
is at-least-once: a surface that raises is given the same event again on the next tick, so surfaces
edit in place rather than append. Each surface's position per run is kept in the store, so a
restarted bot neither repeats nor skips what it had delivered. A surface that coalesces its edits
(Slack: one edit per second per card) has `flush()` called on every tick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from bot.domain import RunView, utcnow
from bot.ports import Surface
from bot.store import Store

log = structlog.get_logger(__name__)

Wants = Callable[[RunView], bool]


class Flushable(Protocol):
    def flush(self) -> None: ...


@dataclass
class _Entry:
    name: str
    surface: Surface
    wants: Wants


class SurfaceHub:
    def __init__(self, store: Store, interval_s: float = 0.1, lookback: timedelta = timedelta(days=3)) -> None:
        self.store = store
        self.interval_s = interval_s
        self._entries: list[_Entry] = []
        self._cursors: dict[tuple[str, str], int] = {}
        self._since: datetime = utcnow() - lookback
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, name: str, surface: Surface, wants: Wants) -> None:
        """Deliver events of the runs `wants` accepts to `surface`, under `name` (its cursor key)."""
        with self._lock:
            self._entries.append(_Entry(name, surface, wants))

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    # -- delivery ---------------------------------------------------------------------------------
    def pump_once(self) -> int:
        """Deliver everything new once; returns how many events were published."""
        with self._lock:
            if not self._entries:
                return 0
            started = utcnow()
            # A little overlap: a transaction that began before this tick may commit during it.
            heads = self.store.event_heads(self._since - timedelta(seconds=5))
            delivered = sum(self._deliver_run(run_id, last) for run_id, last in heads.items())
            for entry in self._entries:
                self._flush(entry)
            self._since = started
            return delivered

    def _deliver_run(self, run_id: str, last_seq: int) -> int:
        behind = [(e, c) for e in self._entries if (c := self._cursor(e.name, run_id)) < last_seq]
        if not behind:
            return 0
        view = self.store.view(run_id)
        if view is None:
            return 0
        delivered = 0
        for entry, cursor in behind:
            if not entry.wants(view):
                self._cursors[(entry.name, run_id)] = last_seq
                continue
            position = cursor
            for event in self.store.events(run_id, after_seq=cursor):
                try:
                    entry.surface.publish(view, event)
                except Exception as err:  # a surface's outage must not stop the others
                    log.warning(
                        "surface_publish_failed", surface=entry.name, run_id=run_id, seq=event.seq, error=str(err)
                    )
                    break
                position = event.seq
                delivered += 1
            if position != cursor:
                self._cursors[(entry.name, run_id)] = position
                self.store.put_fact(run_id, f"surface:{entry.name}", {"seq": position})
        return delivered

    def _cursor(self, name: str, run_id: str) -> int:
        key = (name, run_id)
        if key not in self._cursors:
            fact = self.store.get_fact(run_id, f"surface:{name}")
            self._cursors[key] = int(fact["seq"]) if fact else 0
        return self._cursors[key]

    @staticmethod
    def _flush(entry: _Entry) -> None:
        flush = getattr(entry.surface, "flush", None)
        if flush is None:
            return
        try:
            flush()
        except Exception as err:
            log.warning("surface_flush_failed", surface=entry.name, error=str(err))

    # -- the background thread ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="baton-surfaces", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump_once()
            except Exception as err:  # the store may be briefly unavailable; try again next tick
                log.warning("surface_pump_failed", error=str(err))
            self._stop.wait(self.interval_s)
