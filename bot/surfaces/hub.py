"""The one-way road from the engine to the places people look: deliver each run's new events, in
order, to every surface that wants the run.

The engine only appends events to the store; it never calls a surface (design §1). In the process
that serves people (`baton serve`), a thread polls the store for runs that changed and hands each
new event to each interested surface as `publish(view, event)` with the run's current view. Delivery
is at-least-once: a surface that raises is given the same event again on the next tick, so surfaces
edit in place rather than append. Each surface's position per run is kept in the store, so a
restarted bot neither repeats nor skips what it had delivered. A surface that coalesces its edits
(Slack: one edit per second per card) has `flush()` called on every tick. Each surface has its own
thread and position, so one service being slow or down never holds back the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from bot.domain.models import utcnow
from bot.domain.ports import Surface
from bot.domain.records import RunView
from bot.store.store import Store

log = structlog.get_logger(__name__)

Wants = Callable[[RunView], bool]


class Flushable(Protocol):
    def flush(self) -> None: ...


@dataclass
class _Entry:
    name: str
    surface: Surface
    wants: Wants
    since: datetime
    cursors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None
    failing: tuple[str, int] | None = None  # (run, seq) last refused: logged once, not every tick
    woken: threading.Event = field(default_factory=threading.Event)


class SurfaceHub:
    def __init__(
        self,
        store: Store,
        interval_s: float = 0.1,
        lookback: timedelta = timedelta(days=3),
        idle_interval_s: float = 1.0,
        hot_s: float = 10.0,
    ) -> None:
        """Each surface looks for new events every `interval_s` for `hot_s` after this process
        appended one (a run it started or executes: the store wakes the hub at once), or after the
        surface delivered one; else every `idle_interval_s` (events only other processes write)."""
        self.store = store
        self.interval_s = interval_s
        self.idle_interval_s = max(idle_interval_s, interval_s)
        self.hot_s = hot_s
        self.lookback = lookback
        self._entries: list[_Entry] = []
        self._stop = threading.Event()
        self._running = False
        self._hot_until = 0.0
        store.on_append(self.wake)

    def wake(self) -> None:
        """New events in this process: every surface looks now, and often for a while."""
        self._hot_until = time.monotonic() + self.hot_s
        for entry in list(self._entries):
            entry.woken.set()

    def register(self, name: str, surface: Surface, wants: Wants) -> None:
        """Deliver events of the runs `wants` accepts to `surface`, under `name` (its cursor key)."""
        entry = _Entry(name, surface, wants, since=utcnow() - self.lookback)
        self._entries.append(entry)
        if self._running:
            self._start_entry(entry)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    # -- delivery ---------------------------------------------------------------------------------
    def pump_once(self) -> int:
        """Deliver everything new to every surface once; returns how many events were published."""
        return sum(self._pump(entry) for entry in list(self._entries))

    def _pump(self, entry: _Entry) -> int:
        with entry.lock:
            started = utcnow()
            # A little overlap: a transaction that began before this tick may commit during it.
            heads = self.store.event_heads(entry.since - timedelta(seconds=5))
            delivered = sum(self._deliver_run(entry, run_id, last) for run_id, last in heads.items())
            self._flush(entry)
            entry.since = started
            return delivered

    def _deliver_run(self, entry: _Entry, run_id: str, last_seq: int) -> int:
        """Events up to `last_seq` (read before the view, so the view reflects all of them)."""
        cursor = self._cursor(entry, run_id)
        if cursor >= last_seq:
            return 0
        view = self.store.view(run_id)
        if view is None:
            return 0
        if not entry.wants(view):
            entry.cursors[run_id] = last_seq
            return 0
        delivered = 0
        position = cursor
        for event in self.store.events(run_id, after_seq=cursor):
            if event.seq > last_seq:
                # Appended after the view was read: the view may not show it yet (a state change is
                # committed before its event). It goes out next tick, with a view that does.
                break
            try:
                with structlog.contextvars.bound_contextvars(run_id=run_id):  # on the surface's log lines
                    entry.surface.publish(view, event)
            except Exception as err:  # retried next tick; other runs and surfaces go on
                if entry.failing != (run_id, event.seq):
                    entry.failing = (run_id, event.seq)
                    log.warning(
                        "surface_publish_failed", surface=entry.name, run_id=run_id, seq=event.seq, error=str(err)
                    )
                break
            position = event.seq
            delivered += 1
        if position != cursor:
            entry.cursors[run_id] = position
            self.store.put_fact(run_id, f"surface:{entry.name}", {"seq": position})
        return delivered

    def _cursor(self, entry: _Entry, run_id: str) -> int:
        if run_id not in entry.cursors:
            fact = self.store.get_fact(run_id, f"surface:{entry.name}")
            entry.cursors[run_id] = int(fact["seq"]) if fact else 0
        return entry.cursors[run_id]

    @staticmethod
    def _flush(entry: _Entry) -> None:
        flush = getattr(entry.surface, "flush", None)
        if flush is None:
            return
        try:
            flush()
        except Exception as err:
            log.warning("surface_flush_failed", surface=entry.name, error=str(err))

    # -- the background threads: one per surface, so a slow service (Slack's 429 wait) delays
    # -- only its own surface ------------------------------------------------------------------------
    def start(self) -> None:
        if self._running:
            return
        self._stop.clear()
        self._running = True
        for entry in self._entries:
            self._start_entry(entry)

    def _start_entry(self, entry: _Entry) -> None:
        entry.thread = threading.Thread(
            target=self._loop, args=(entry,), name=f"baton-surface-{entry.name}", daemon=True
        )
        entry.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._running = False
        for entry in self._entries:
            entry.woken.set()
            if entry.thread is not None:
                entry.thread.join(timeout=5)
                entry.thread = None

    def _loop(self, entry: _Entry) -> None:
        while not self._stop.is_set():
            entry.woken.clear()
            try:
                if self._pump(entry):
                    self._hot_until = max(self._hot_until, time.monotonic() + self.hot_s)
            except Exception as err:  # the store may be briefly unavailable; try again next tick
                log.warning("surface_pump_failed", surface=entry.name, error=str(err))
            # Often while events flow (and a coalescing surface has edits to flush), seldom idle.
            hot = time.monotonic() < self._hot_until
            entry.woken.wait(self.interval_s if hot else self.idle_interval_s)
