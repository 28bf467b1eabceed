"""Messages for runs, and the hand-off between a run's workflow and the people it waits for.

A run waiting for a person holds nothing: its workflow records that it is *parked* and ends. A
message (a decision, a follow-up, a re-check, an expiry) is appended here; in the same transaction
it *claims* a parked run, and the one claimer starts the run's next continuation workflow. A
workflow reaching a wait takes the oldest unconsumed message of its attempt, or, finding none, parks
the run, also in one transaction: a message that arrives while the run works is seen at the wait,
and only one workflow of a run works at a time.

Every transaction first writes the run's row: on PostgreSQL that locks it, on SQLite it takes the
write lock before anything is read, so post and take are serialised per run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.models import RunState
from bot.store.tables import InboxRow, KeyValueRow, RunRow

WAITING = "waiting"
"""The run's workflow blocks in `recv` (`baton run`, `baton demo`): a message wakes it."""
PARKED = "parked"
"""The run's workflow ended at the wait: the next message claims the run."""
CLAIMED = "claimed"
"""A message claimed the parked run; its continuation workflow is (about to be) enqueued."""
RUNNING = "running"


@dataclass(frozen=True)
class Posted:
    attempt: int
    claimed: int | None = None
    """The number of the continuation the caller must start (it claimed the parked run)."""
    wake: bool = False
    """The run's workflow blocks in `recv`: send it a wake-up."""


def loop_key(attempt: int) -> str:
    return f"loop:a{attempt}"


class Inbox:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @staticmethod
    def _lock(s: Session, run_id: str) -> RunRow | None:
        s.execute(update(RunRow).where(RunRow.run_id == run_id).values(wait_key=RunRow.wait_key))
        return s.get(RunRow, run_id)

    def post(self, run_id: str, message: dict[str, Any]) -> Posted | None:
        """Append `message` for the run's current attempt; claim the run if it is parked."""
        with self._sessions.begin() as s:
            row = self._lock(s, run_id)
            if row is None:
                return None
            s.add(InboxRow(run_id=run_id, attempt=row.attempt, message=message))
            if RunState(row.state).terminal:
                return Posted(attempt=row.attempt)
            if row.wait_state == PARKED:
                row.wait_state = CLAIMED
                row.continuations = (row.continuations or 0) + 1
                return Posted(attempt=row.attempt, claimed=row.continuations)
            return Posted(attempt=row.attempt, wake=row.wait_state == WAITING)

    def take(
        self, run_id: str, attempt: int, key: str, loop: dict[str, Any], mode: Literal["parked", "waiting"]
    ) -> dict[str, Any] | None:
        """The oldest unconsumed message of `attempt`, now consumed by `key`; or None, when the run
        is now parked (or waiting) with `loop` (what the loop needs to go on) recorded. Idempotent
        per `key`: a step that runs again after a crash gets the same answer."""
        with self._sessions.begin() as s:
            row = self._lock(s, run_id)
            assert row is not None, run_id
            mine = s.scalars(select(InboxRow).where(InboxRow.run_id == run_id, InboxRow.consumed_by == key)).first()
            if mine is not None:
                return dict(mine.message)
            if row.wait_key == key:
                return None
            pending = s.scalars(
                select(InboxRow)
                .where(InboxRow.run_id == run_id, InboxRow.attempt == attempt, InboxRow.consumed_by.is_(None))
                .order_by(InboxRow.id)
            ).first()
            if pending is not None:
                pending.consumed_by = key
                row.wait_state = RUNNING
                return dict(pending.message)
            fact = s.get(KeyValueRow, (run_id, loop_key(attempt)))
            if fact is None:
                s.add(KeyValueRow(run_id=run_id, key=loop_key(attempt), value=loop, updated_at=time.time()))
            else:
                fact.value = loop
                fact.updated_at = time.time()
            row.wait_state = mode
            row.wait_key = key
            return None

    def claimed(self) -> list[tuple[str, int, int]]:
        """(run, attempt, continuation) of every claimed run: its continuation may not be enqueued
        yet if the process that claimed it stopped in between (enqueueing it again joins it)."""
        with self._sessions.begin() as s:
            rows = s.execute(
                select(RunRow.run_id, RunRow.attempt, RunRow.continuations).where(RunRow.wait_state == CLAIMED)
            ).all()
            return [(r, a, c or 0) for r, a, c in rows]

    def parked(self) -> list[str]:
        with self._sessions.begin() as s:
            return list(s.scalars(select(RunRow.run_id).where(RunRow.wait_state == PARKED)))

    def reset(self, run_id: str) -> None:
        """A new attempt starts working: no wait of an earlier attempt may be claimed."""
        with self._sessions.begin() as s:
            s.execute(update(RunRow).where(RunRow.run_id == run_id).values(wait_state=RUNNING, wait_key=None))
