"""The store: runs, steps, numbered events, changes (PRs), approvals and deliveries, on any
SQLAlchemy URL (SQLite file with WAL by default, PostgreSQL in production).

It holds what people read; DBOS's own database holds workflow checkpoints. `Store` is one object
made of the parts in `runs.py`, `changes.py` and `records.py`, plus the run view that reads them all.
"""

from __future__ import annotations

from sqlalchemy import Engine

from bot.domain.records import RunView
from bot.observability.logging import Redactor
from bot.store.audit import AuditLog
from bot.store.base import StoreBase, make_engine, shas_digest
from bot.store.changes import CHECKS_SEEN, HEAD_SEEN, ChangeRecords
from bot.store.inbox import Inbox
from bot.store.leases import AgentLeases
from bot.store.records import Records
from bot.store.schema import migrate as migrate

__all__ = ["CHECKS_SEEN", "HEAD_SEEN", "Store", "make_engine", "migrate", "shas_digest"]


class Store(ChangeRecords, Records):
    def __init__(self, engine: Engine, redactor: Redactor | None = None) -> None:
        """`redactor` hides secret values in the text people read (errors, events, step details)."""
        StoreBase.__init__(self, engine, redactor)
        self.audit = AuditLog(self._sessions)
        self.inbox = Inbox(self._sessions)
        self.leases = AgentLeases(self._sessions)

    # -- views --------------------------------------------------------------------------------
    def view(self, run_id: str) -> RunView | None:
        run = self.get_run(run_id)
        if run is None:
            return None
        return RunView(
            run=run,
            steps=self.steps(run_id),
            changes=self.changes(run_id),
            approvals=self.approvals(run_id),
            last_seq=self.last_seq(run_id),
            campaign=self.get_fact(run_id, "campaign") or None,
        )
