"""A run's changes (its PRs, with when each head was first seen and its checks announced once) and
the approvals bound to them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain.diffs import DiffStat
from bot.domain.models import ChangeSet, utcnow
from bot.domain.records import Approval, RunEvent
from bot.store.base import shas_digest
from bot.store.runs import RunRecords
from bot.store.tables import (
    ApprovalRow,
    ChangeRow,
    RunRow,
)

HEAD_SEEN = "_head_seen_at"
"""Key beside a change's fields in its row: when Baton first saw its current head (ISO, UTC)."""
CHECKS_SEEN = "_checks_events"
"""Key beside a change's fields in its row: how many `checks` events the PR has had (`save_checks`)."""


class ChangeRecords(RunRecords):
    """(On runs: a PR's checks are announced as the run's events.)"""

    # -- changes ------------------------------------------------------------------------------
    def save_change(self, change: ChangeSet) -> None:
        with self._tx() as s:
            self._save_change(s, change)

    def save_checks(self, change: ChangeSet, source: str, warnings: Sequence[str] = ()) -> RunEvent | None:
        """A PR's checks as just read (`change` carries them), saved, with a `checks` event when its
        head or checks state differ from what the store held. Compared, saved and announced in one
        transaction, the event keyed on the PR's count of checks events: two readers of one outcome
        (the approval gate and a webhook) record it once. Each warning is recorded once per head."""
        event = None
        try:
            with self._tx() as s:
                row = s.get(ChangeRow, (change.run_id, change.repo))
                held: dict[str, Any] = dict(row.data) if row is not None else {}
                same = held.get("head_sha") == change.head_sha and held.get("checks") == change.checks.value
                count = int(held.get(CHECKS_SEEN) or 0) + (0 if same else 1)
                self._save_change(s, change, checks_seen=count)
                if not same:
                    data = {"repo": change.repo, "sha": change.head_sha, "state": change.checks.value, "source": source}
                    event = self._append(s, change.run_id, "checks", data, f"checks:{change.repo[:120]}:{count}")
        except IntegrityError:  # another reader recorded this very outcome first
            event = None
        for warning in warnings:
            digest = hashlib.sha256(warning.encode()).hexdigest()[:16]
            self.append_event(
                change.run_id,
                "forge_warning",
                {"repo": change.repo, "sha": change.head_sha, "message": warning, "source": source},
                dedupe_key=f"warning:{change.repo[:120]}:{change.head_sha}:{digest}",
            )
        return event

    def _save_change(self, s: Session, change: ChangeSet, checks_seen: int | None = None) -> None:
        shown = ("checks_output", "merge_error")
        change = change.model_copy(update={k: self._redact(getattr(change, k)) for k in shown})
        row = s.get(ChangeRow, (change.run_id, change.repo))
        stat = change.diffstat
        if stat is None or stat.sha != change.head_sha:
            # A diffstat describes one head: a refresh (which carries none) keeps the one of the
            # same head; one measured at an older head is dropped, never shown for the new one.
            known = row.data.get("diffstat") if row is not None else None
            kept = isinstance(known, dict) and known.get("sha") == change.head_sha
            change = change.model_copy(update={"diffstat": DiffStat.model_validate(known) if kept else None})
        data = change.model_dump(mode="json")
        # When Baton first saw this head (kept beside the change): an approval written before it is stale.
        same = row is not None and row.data.get("head_sha") == change.head_sha
        data[HEAD_SEEN] = row.data.get(HEAD_SEEN) if same and row is not None else utcnow().isoformat()
        held = row.data.get(CHECKS_SEEN) if row is not None else None
        data[CHECKS_SEEN] = checks_seen if checks_seen is not None else held
        if row is None:
            s.add(ChangeRow(run_id=change.run_id, repo=change.repo, data=data))
        else:
            row.data = data

    def heads_seen_at(self, run_id: str) -> dict[str, datetime]:
        """repo → when Baton first saw the current head of the run's PR there."""
        with self._tx() as s:
            rows = s.scalars(select(ChangeRow).where(ChangeRow.run_id == run_id))
            seen = {r.repo: r.data.get(HEAD_SEEN) for r in rows}
        return {repo: datetime.fromisoformat(at) for repo, at in seen.items() if isinstance(at, str)}

    def changes(self, run_id: str) -> list[ChangeSet]:
        with self._tx() as s:
            rows = s.scalars(select(ChangeRow).where(ChangeRow.run_id == run_id))
            found = [ChangeSet.model_validate(r.data) for r in rows]
        return sorted(found, key=lambda c: (c.order, c.repo))

    # -- approvals ----------------------------------------------------------------------------
    def record_approval(self, approval: Approval) -> bool:
        """False when the same actor already made the same decision on the same SHAs."""
        try:
            with self._tx() as s:
                generation = s.scalar(select(RunRow.approval_generation).where(RunRow.run_id == approval.run_id))
                s.add(
                    ApprovalRow(
                        generation=generation or 0,
                        run_id=approval.run_id,
                        actor_key=approval.actor.key,
                        decision=approval.decision.value,
                        shas_digest=shas_digest(approval.head_shas),
                        data=approval.model_dump(mode="json"),
                        valid=1,
                    )
                )
        except IntegrityError:
            return False
        return True

    def approvals(self, run_id: str) -> list[Approval]:
        with self._tx() as s:
            rows = s.scalars(select(ApprovalRow).where(ApprovalRow.run_id == run_id).order_by(ApprovalRow.id))
            return [Approval.model_validate({**r.data, "valid": bool(r.valid)}) for r in rows]

    def invalidate_approvals(self, run_id: str) -> int:
        """Every approval so far stops counting; the same person may approve again afterwards."""
        with self._tx() as s:
            s.execute(
                update(RunRow).where(RunRow.run_id == run_id).values(approval_generation=RunRow.approval_generation + 1)
            )
            result = s.execute(
                update(ApprovalRow).where(ApprovalRow.run_id == run_id, ApprovalRow.valid == 1).values(valid=0)
            )
            return int(getattr(result, "rowcount", 0) or 0)
