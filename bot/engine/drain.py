"""The intake drain: webhooks are stored before they are answered, and processed from the store
after (parsed, claimed under what their source made, first reply, run start).

An endpoint stores a verified delivery (`Store.store_intake`), answers, and wakes the drain with
its id; a worker thread of this process claims it and hands it to its source's processor, and
records what came of it. Nothing is lost to a crash: on start, and every `SWEEP_S` after, the drain
reads the store for deliveries nobody finished — stored by a process that died before processing
them, or by another replica — and claims each once (one UPDATE wins). A claim is taken over when
its holder is known to have ended (same host, its process gone) or after `CLAIM_TTL_S`.

Processing may happen more than once only when a holder is presumed dead while alive; the
processors' own claims (comment id, label event, session id) keep that from doing anything twice.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import structlog

from bot.domain.models import utcnow
from bot.store.intake import Stored
from bot.store.store import Store

log = structlog.get_logger(__name__)

Processor = Callable[[Stored], dict[str, Any]]
"""A source's processing of one stored delivery; returns what came of it (kept with the delivery)."""

WORKERS = 4
"""Deliveries processed at once when no webhook is being answered: their work is mostly waiting
on the source's API and the store."""
BUSY_WORKERS = 1
"""... and while webhooks keep arriving: answering comes first (processing shares the process's
GIL and cores with the event loop), but processing never stops."""
BUSY_S = 0.05
"""Webhooks are arriving when one was answered less than this long ago."""
SWEEP_S = 5.0
CLAIM_TTL_S = 300.0
TRIES = 3
"""A delivery whose processing raised is tried again (after CLAIM_TTL_S); after this many, it is done."""
_HOST = socket.gethostname()
_OWNER = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
"""Who holds a claim: this process (every drain in it), so a later process can tell it ended."""


def _ended(holder: str) -> bool:
    """Whether the process that holds a claim is known to have ended (it ran on this host)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != _HOST or not pid.isdigit():
        return False
    if int(pid) == os.getpid():  # this pid, another start: an earlier process under a reused pid
        return holder != _OWNER
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Drain:
    """Processes stored deliveries of the sources registered on it, in worker threads."""

    def __init__(self, store: Store, workers: int = WORKERS, sweep_s: float = SWEEP_S) -> None:
        self.store = store
        self.sweep_s = sweep_s
        self.processors: dict[str, Processor] = {}
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="intake")
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._closed = False
        self._answered_at = 0.0
        self._working = 0
        self._turn = threading.Condition()

    def register(self, source: str, processor: Processor) -> None:
        self.processors[source] = processor

    def answered(self) -> None:
        """An endpoint answered a webhook: for `BUSY_S`, process on `BUSY_WORKERS` threads only."""
        self._answered_at = time.monotonic()

    def _busy(self) -> bool:
        return time.monotonic() - self._answered_at < BUSY_S

    @property
    def owner(self) -> str:
        """Who this process is, as the holder of the deliveries it stores and claims."""
        return _OWNER

    def take(self, stored: Stored) -> None:
        """Process a delivery this process's endpoint just stored, claimed in the same insert."""
        with self._lock:
            if self._closed:  # stopping: it stays stored and is replayed on the next start
                return
            self._queued.add(stored.id)
        self._pool.submit(self._process, stored.id, None, stored)

    def wake(self, intake_id: int, ended: str | None = None) -> bool:
        """Process a delivery a sweep found (held by nobody, by `ended`, a process known to have
        ended, or by a claim whose time ran out); False when it is already queued here."""
        with self._lock:
            if intake_id in self._queued or self._closed:
                return False
            self._queued.add(intake_id)
        self._pool.submit(self._process, intake_id, ended)
        return True

    def start(self) -> None:
        """Replay what is unfinished now, then sweep every `sweep_s` (idempotent)."""
        if self._sweeper is not None:
            return
        with self._lock:
            if self._closed:  # served again after a stop (tests serve one runtime twice)
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="intake")
                self._closed = False
                self._stop.clear()
        self.sweep()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="intake-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        """Stop taking deliveries; those being processed finish, the queued stay stored (replayed)."""
        self._stop.set()
        with self._lock:
            self._closed = True
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
            self._sweeper = None
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.close_intake()

    def sweep(self) -> int:
        """Queue every unfinished delivery of a registered source this process may take; how many."""
        stale = utcnow() - timedelta(seconds=CLAIM_TTL_S)
        queued = 0
        for intake_id, holder, claimed_at in self.store.unfinished_intake(list(self.processors)):
            ended = holder if holder is not None and _ended(holder) else None
            if holder is None or ended or (claimed_at is not None and claimed_at < stale):
                queued += self.wake(intake_id, ended)
        if queued:
            log.info("intake.replayed", deliveries=queued)
        return queued

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_s):
            try:
                self.sweep()
            except Exception:  # the store was unreachable: the next sweep tries again
                log.exception("intake.sweep_failed")

    def _process(self, intake_id: int, ended: str | None, stored: Stored | None = None) -> None:
        with self._turn:  # while webhooks arrive, wait for a turn (one thread works on)
            while self._working >= BUSY_WORKERS and self._busy() and not self._stop.is_set():
                self._turn.wait(BUSY_S)
            self._working += 1
        try:
            self._claimed(intake_id, ended, stored)
        except Exception:  # a bug or an outage: logged; the delivery stays stored for a later sweep
            log.exception("intake.process_failed", intake=intake_id)
        finally:
            with self._lock:
                self._queued.discard(intake_id)
            with self._turn:
                self._working -= 1
                self._turn.notify()

    def _claimed(self, intake_id: int, ended: str | None, stored: Stored | None) -> None:
        if stored is None:  # found by a sweep: claim it first (one process wins)
            stale = utcnow() - timedelta(seconds=CLAIM_TTL_S)
            stored = self.store.claim_intake(intake_id, _OWNER, stale, [ended] if ended else [])
        if stored is None:
            return
        processor = self.processors.get(stored.source)
        if processor is None:  # never woken for a source not registered here; a sweep filters them
            return
        try:
            outcome = processor(stored)
        except Exception:  # an outage (or a bug): tried again after CLAIM_TTL_S, up to TRIES times
            failures = stored.failures + 1
            log.exception("intake.failed", source=stored.source, delivery=stored.delivery, failures=failures)
            outcome = {"ok": False, "error": "the event could not be handled; it is logged", "failures": failures}
            self.store.finish_intake(intake_id, outcome, done=failures >= TRIES)
            return
        self.store.finish_intake(intake_id, outcome)
        brief = _brief(outcome)
        log.info("intake.processed", source=stored.source, delivery=stored.delivery, kind=stored.kind, **brief)


def _brief(outcome: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outcome.items() if k in ("action", "run_id", "ignored", "refused", "duplicate")}
