"""The intake: webhooks stored before they are answered, then processed once (`bot/engine/drain.py`).

Storing is the only work between a verified webhook and its answer, so it must not wait behind
anything else. On SQLite, where a writer holds the whole file, the rows are in a file of their own
beside the store's (`<name>-intake.db`, hidden from agents like the store's): the runs being
started from earlier deliveries write the store's file all the time, and an answer queued behind
their writes (SQLite's busy wait sleeps 1-100 ms between tries) would take as long as they do.
On PostgreSQL they are in the store's database.

Every write to the intake (store, claim, finish) is made by one writer, so writers never wait for
each other's locks. In `baton serve` that writer is the event loop's thread (`attach`): the
answer's insert is made right there, with no hand-off to another thread — each costs a wait for
a core on a busy machine — and the drain's claims and finishes are scheduled onto the loop. Without
a loop (commands, tests) a thread of its own writes, committing whatever is queued in one
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Table, insert, or_, select, update

from bot.domain.models import utcnow
from bot.store.base import StoreBase, _aware, make_engine
from bot.store.tables import IntakeRow

intake_table = cast(Table, IntakeRow.__table__)
_LOCK = threading.Lock()
T = TypeVar("T")
BATCH = 256


class Writer:
    """Makes every write to the intake: on an attached event loop's thread, else on a thread of its
    own, a batch per transaction."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[tuple[Callable[[Connection], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._thread.start()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the thread writes
                loop.call_soon_threadsafe(self.attach, loop)

    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Write on `loop`'s thread from now on (call it there); None: on the writer thread."""
        self._loop_thread = threading.get_ident() if loop is not None else None
        self._loop = loop

    def submit(self, write: Callable[[Connection], T]) -> Future[T]:
        done: Future[T] = Future()
        loop = self._loop
        if loop is not None and threading.get_ident() == self._loop_thread:
            self._commit([(write, done)])  # the loop itself: at once
            return done
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._on_loop, write, done)
                return done
            except RuntimeError:  # the loop is closed
                pass
        self._queue.put((write, done))
        return done

    def _on_loop(self, write: Callable[[Connection], Any], done: Future[Any]) -> None:
        if self._loop is None:  # detached since: the writer thread does it
            self._queue.put((write, done))
        else:
            self._commit([(write, done)])

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # close after this batch
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Callable[[Connection], Any], Future[Any]]]) -> None:
        try:
            with self.engine.begin() as conn:
                results = [write(conn) for write, _ in batch]
        except Exception:  # one write failed: the others again, each in its own transaction
            if len(batch) > 1:
                for one in batch:
                    self._commit([one])
                return

            batch[0][1].set_exception(sys.exc_info()[1] or RuntimeError("intake write failed"))
            return
        for (_, done), result in zip(batch, results, strict=True):
            done.set_result(result)


@dataclass(frozen=True)
class Stored:
    """A stored webhook as the drain hands it to its source's processor."""

    id: int
    source: str
    delivery: str
    kind: str
    body: str
    failures: int = 0
    """Times its processing raised before (it is tried again after the claim's time runs out)."""


def intake_file(store_db: Path) -> Path:
    """The intake's own SQLite file beside the store's `store_db`."""
    return store_db.with_name(f"{store_db.stem}-intake{store_db.suffix or '.db'}")


class IntakeRecords(StoreBase):
    _intake_engine: Engine | None = None
    _intake_writer: Writer | None = None
    _intake_loop: asyncio.AbstractEventLoop | None = None

    def attach_intake(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Make `loop`'s thread (call this on it) the intake's writer; None: a thread of its own."""
        self._intake_loop = loop
        self.intake_writer().attach(loop)

    def intake_db(self) -> Engine:
        """Where the intake lives: the store's database, or on SQLite a file of its own."""
        if self._intake_engine is None:
            with _LOCK:
                if self._intake_engine is None:
                    self._intake_engine = self._open_intake()
        return self._intake_engine

    def intake_writer(self) -> Writer:
        if self._intake_writer is None:
            engine = self.intake_db()
            with _LOCK:
                if self._intake_writer is None:
                    self._intake_writer = Writer(engine, self._intake_loop)
        return self._intake_writer

    def close_intake(self) -> None:
        """End the writer thread (a later write starts another) and the intake's own file's engine."""
        with _LOCK:
            writer, self._intake_writer = self._intake_writer, None
            engine, self._intake_engine = self._intake_engine, None
        if writer is not None:
            writer.close()
        if engine is not None and engine is not self.engine:
            engine.dispose()

    def _open_intake(self) -> Engine:
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return self.engine
        engine = make_engine(f"sqlite:///{intake_file(Path(url.database))}")
        intake_table.create(engine, checkfirst=True)
        return engine

    def submit_intake(self, source: str, delivery: str, kind: str, body: str, owner: str | None = None) -> Future[int]:
        """Keep a verified webhook (one insert, committed with whatever else is being written),
        claimed already by `owner` when given (the process that will process it); its id, once
        committed."""
        now = utcnow()
        row = {"source": source, "delivery": delivery, "kind": kind, "body": body, "received_at": now, "done": 0}
        if owner is not None:
            row |= {"claimed_by": owner, "claimed_at": now}

        def write(conn: Connection) -> int:
            return int(conn.execute(insert(intake_table).values(row)).inserted_primary_key[0])  # type: ignore[index]

        return self.intake_writer().submit(write)

    def store_intake(self, source: str, delivery: str, kind: str, body: str) -> int:
        return self.submit_intake(source, delivery, kind, body).result()

    def claim_intake(self, intake_id: int, owner: str, stale_before: datetime, dead: list[str]) -> Stored | None:
        """Take a stored webhook to process it: when nobody holds it, its holder's claim is older
        than `stale_before`, or its holder is one of `dead` (processes known to have ended). Only one
        caller wins; None for the others, and when it is done."""
        c = intake_table.c
        claimable = or_(c.claimed_by.is_(None), c.claimed_at < stale_before, c.claimed_by.in_(dead))
        claim = update(intake_table).where(c.id == intake_id, c.done == 0, claimable)

        def write(conn: Connection) -> Stored | None:
            if not conn.execute(claim.values(claimed_by=owner, claimed_at=utcnow())).rowcount:
                return None
            row = conn.execute(select(c.id, c.source, c.delivery, c.kind, c.body, c.outcome).where(c.id == intake_id))
            got = row.one()
            failures = int((got.outcome or {}).get("failures", 0))
            return Stored(got.id, got.source, got.delivery, got.kind, got.body, failures)

        return self.intake_writer().submit(write).result()

    def finish_intake(self, intake_id: int, outcome: dict[str, Any], done: bool = True) -> None:
        """Record what processing came to; `done=False`: it failed and is to be tried again (the
        claim stays until its time runs out, then any replica's sweep takes it)."""
        write = update(intake_table).where(intake_table.c.id == intake_id).values(done=int(done), outcome=outcome)
        self.intake_writer().submit(lambda conn: conn.execute(write)).result()

    def unfinished_intake(self, sources: list[str]) -> list[tuple[int, str | None, datetime | None]]:
        """(id, holder, claimed at) of every stored webhook of `sources` not processed yet, oldest first."""
        c = intake_table.c
        query = select(c.id, c.claimed_by, c.claimed_at).where(c.done == 0, c.source.in_(sources)).order_by(c.id)
        with self.intake_db().connect() as conn:
            return [(i, by, _aware(at) if at else None) for i, by, at in conn.execute(query)]

    def intake_outcome(self, intake_id: int) -> dict[str, Any] | None:
        """What processing the stored webhook came to (None while it is not processed)."""
        c = intake_table.c
        with self.intake_db().connect() as conn:
            row = conn.execute(select(c.done, c.outcome).where(c.id == intake_id)).first()
        return dict(row.outcome or {}) if row is not None and row.done else None
