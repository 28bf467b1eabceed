"""The intake: webhooks stored before they are answered, then processed once (`bot/engine/drain.py`).

Storing is the only work between a verified webhook and its answer, so it must not wait behind
anything else. On PostgreSQL the rows are in the store's database (row locks: an insert waits for
nobody). On SQLite, where a writer holds the whole file, they are in a file of their own beside
the store's (`<name>-intake.db`, hidden from agents like the store's): the runs being started from
earlier deliveries write the store's file all the time, and an answer queued behind their writes
(SQLite's busy wait sleeps 1-100 ms between tries) would take as long as they do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, or_, select, update

from bot.domain.models import utcnow
from bot.store.base import StoreBase, _aware, make_engine
from bot.store.tables import IntakeRow

intake_table = cast(Table, IntakeRow.__table__)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Stored:
    """A stored webhook as the drain hands it to its source's processor."""

    id: int
    source: str
    delivery: str
    kind: str
    body: str


def intake_file(store_db: Path) -> Path:
    """The intake's own SQLite file beside the store's `store_db`."""
    return store_db.with_name(f"{store_db.stem}-intake{store_db.suffix or '.db'}")


class IntakeRecords(StoreBase):
    _intake_engine: Engine | None = None

    def intake_db(self) -> Engine:
        """Where the intake lives: the store's database, or on SQLite a file of its own."""
        if self._intake_engine is None:
            with _LOCK:
                if self._intake_engine is None:
                    self._intake_engine = self._open_intake()
        return self._intake_engine

    def _open_intake(self) -> Engine:
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return self.engine
        engine = make_engine(f"sqlite:///{intake_file(Path(url.database))}")
        intake_table.create(engine, checkfirst=True)
        return engine

    @property
    def intake_is_local(self) -> bool:
        """Whether storing is a local file's write (SQLite), cheap enough to do on the event loop."""
        return self.intake_db().url.get_backend_name() == "sqlite"

    def store_intake(self, source: str, delivery: str, kind: str, body: str) -> int:
        """Keep a verified webhook (one insert, one commit); its id, for the drain."""
        row = {"source": source, "delivery": delivery, "kind": kind, "body": body, "received_at": utcnow(), "done": 0}
        with self.intake_db().begin() as conn:
            return int(conn.execute(insert(intake_table).values(row)).inserted_primary_key[0])  # type: ignore[index]

    def claim_intake(self, intake_id: int, owner: str, stale_before: datetime, dead: list[str]) -> Stored | None:
        """Take a stored webhook to process it: when nobody holds it, its holder's claim is older
        than `stale_before`, or its holder is one of `dead` (processes known to have ended). Only one
        caller wins; None for the others, and when it is done."""
        c = intake_table.c
        claimable = or_(c.claimed_by.is_(None), c.claimed_at < stale_before, c.claimed_by.in_(dead))
        with self.intake_db().begin() as conn:
            won = conn.execute(
                update(intake_table)
                .where(c.id == intake_id, c.done == 0, claimable)
                .values(claimed_by=owner, claimed_at=utcnow())
            )
            if not won.rowcount:
                return None
            row = conn.execute(select(c.id, c.source, c.delivery, c.kind, c.body).where(c.id == intake_id)).one()
            return Stored(*row)

    def finish_intake(self, intake_id: int, outcome: dict[str, Any]) -> None:
        with self.intake_db().begin() as conn:
            conn.execute(update(intake_table).where(intake_table.c.id == intake_id).values(done=1, outcome=outcome))

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
