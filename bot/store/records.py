"""What the store keeps beside runs: the intake (webhooks stored before they are answered, then
processed once), claimed deliveries (a webhook acted on once), links (where a run is talked
about), facts (a run's small durable notes) and executors' heartbeats."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.domain.models import (
    utcnow,
)
from bot.observability.metrics import note_duplicate_delivery
from bot.store.base import _aware
from bot.store.intake import IntakeRecords, intake_table
from bot.store.tables import (
    DeliveryRow,
    ExecutorRow,
    KeyValueRow,
    LinkRow,
)


class Records(IntakeRecords):
    # -- deliveries ---------------------------------------------------------------------------
    def claim_delivery(self, key: str, run_id: str | None) -> str | None:
        """Record a delivery; if it was seen before, return the run it started (or '')."""
        try:
            with self._tx() as s:
                s.add(DeliveryRow(delivery_key=key, run_id=run_id, received_at=utcnow()))
        except IntegrityError:
            note_duplicate_delivery()  # the webhook being answered counts as a duplicate
            with self._tx() as s:
                row = s.get(DeliveryRow, key)
                return (row.run_id or "") if row else ""
        return None

    def settle_delivery(self, key: str) -> None:
        """A claimed trigger came to no run (refused): a later copy is a duplicate, not a retry."""
        with self._tx() as s:
            s.execute(update(DeliveryRow).where(DeliveryRow.delivery_key == key).values(run_id=None))

    def prune_deliveries(self, before: datetime) -> int:
        """Forget the deliveries received before `before` (`retention.deliveries_days`); how many."""
        with self._tx() as s:
            result = s.execute(delete(DeliveryRow).where(DeliveryRow.received_at < before))
            pruned = int(getattr(result, "rowcount", 0) or 0)
        c = intake_table.c  # the intake's processed deliveries that old too (written by its one writer)
        old = delete(intake_table).where(c.received_at < before, c.done == 1)
        self.intake_writer().submit(lambda conn: conn.execute(old)).result()
        return pruned

    # -- links: where a run is talked about -----------------------------------------------------
    def link(self, key: str, run_id: str) -> None:
        """Remember that `key` (e.g. `github:issue:o/r#12`) is about `run_id`, as its newest run."""
        now = time.time_ns()
        with self._tx() as s:
            row = s.get(LinkRow, (key, run_id))
            if row is None:
                s.add(LinkRow(key=key, run_id=run_id, linked_at_ns=now))
            else:
                row.linked_at_ns = now

    def run_for_link(self, key: str) -> str | None:
        """The newest run linked to `key` (an issue may see several runs over time)."""
        with self._tx() as s:
            query = select(LinkRow.run_id).where(LinkRow.key == key)
            return s.scalar(query.order_by(LinkRow.linked_at_ns.desc()).limit(1))

    def links(self, run_id: str) -> list[str]:
        with self._tx() as s:
            return list(s.scalars(select(LinkRow.key).where(LinkRow.run_id == run_id).order_by(LinkRow.key)))

    # -- facts --------------------------------------------------------------------------------
    def put_fact(self, run_id: str, key: str, value: dict[str, Any]) -> None:
        with self._tx() as s:
            row = s.get(KeyValueRow, (run_id, key))
            if row is None:
                s.add(KeyValueRow(run_id=run_id, key=key, value=value, updated_at=time.time()))
            else:
                row.value = value
                row.updated_at = time.time()

    def get_fact(self, run_id: str, key: str) -> dict[str, Any] | None:
        with self._tx() as s:
            row = s.get(KeyValueRow, (run_id, key))
            return dict(row.value) if row else None

    # -- executors ----------------------------------------------------------------------------
    def heartbeat(self, executor_id: str, host: str, pid: int) -> None:
        with self._tx() as s:
            row = s.get(ExecutorRow, executor_id)
            if row is None:
                s.add(
                    ExecutorRow(
                        executor_id=executor_id,
                        host=host,
                        pid=pid,
                        heartbeat_at=utcnow(),
                        recovered=0,
                    )
                )
            else:
                row.heartbeat_at = utcnow()

    def executors(self) -> list[tuple[str, str, int, datetime, bool]]:
        with self._tx() as s:
            return [
                (r.executor_id, r.host, r.pid, _aware(r.heartbeat_at), bool(r.recovered))
                for r in s.scalars(select(ExecutorRow))
            ]

    def mark_recovered(self, executor_id: str) -> bool:
        """Claim the recovery of a dead executor's runs; only one process wins."""
        with self._tx() as s:
            result = s.execute(
                update(ExecutorRow)
                .where(ExecutorRow.executor_id == executor_id, ExecutorRow.recovered == 0)
                .values(recovered=1)
            )
            return bool(getattr(result, "rowcount", 0))
