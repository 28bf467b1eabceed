"""Runs, their numbered events and their steps: what a run is, how it stands, and its timeline.
Every state change of a run is also an append-only, numbered RunEvent, written in the same
transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain.models import Budget, RunSpec, RunState, Usage, utcnow
from bot.domain.records import Run, RunEvent, Step, StepState
from bot.store.base import APPENDED, StoreBase, _aware
from bot.store.tables import (
    EventRow,
    RunRow,
    StepRow,
)


class RunRecords(StoreBase):
    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, spec: RunSpec) -> bool:
        """Record a new queued run; False if a run with this id already exists."""
        now = utcnow()
        try:
            with self._tx() as s:
                s.add(
                    RunRow(
                        run_id=spec.run_id,
                        state=RunState.queued.value,
                        source=spec.trigger.source.value,
                        spec=spec.model_dump(mode="json"),
                        usage=Usage().model_dump(),
                        attempt=1,
                        last_seq=0,
                        cancel_requested=0,
                        approval_generation=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            return False
        self.append_event(spec.run_id, "run_created", {"request": spec.trigger.request})
        return True

    def get_run(self, run_id: str) -> Run | None:
        with self._tx() as s:
            row = s.get(RunRow, run_id)
            return self._run(row) if row else None

    @staticmethod
    def _run(row: RunRow) -> Run:
        return Run(
            run_id=row.run_id,
            state=RunState(row.state),
            spec=RunSpec.model_validate(row.spec),
            created_at=_aware(row.created_at),
            updated_at=_aware(row.updated_at),
            usage=Usage.model_validate(row.usage or {}),
            error=row.error,
            waiting_for=row.waiting_for,
            attempt=row.attempt,
        )

    def list_runs(self, limit: int = 50, state: RunState | None = None) -> list[Run]:
        with self._tx() as s:
            q = select(RunRow).order_by(RunRow.created_at.desc()).limit(limit)
            if state is not None:
                q = q.where(RunRow.state == state.value)
            return [self._run(r) for r in s.scalars(q)]

    def count_by_state(self) -> dict[str, int]:
        with self._tx() as s:
            rows = s.execute(select(RunRow.state, func.count()).group_by(RunRow.state))
            return {state: int(n) for state, n in rows}

    def set_state(
        self,
        run_id: str,
        state: RunState,
        *,
        error: str | None = None,
        waiting_for: str | None = None,
        dedupe_key: str | None = None,
    ) -> None:
        # The new state and the event that announces it in one transaction: a reader never sees a
        # run `merged` whose timeline has not said so yet, and a crash between them loses neither.
        try:
            with self._tx() as s:
                row = s.get(RunRow, run_id)
                if row is None:
                    raise KeyError(run_id)
                previous = row.state
                if RunState(previous).terminal and state is not RunState.queued:
                    return
                row.state = state.value
                error = self._redact(error)
                row.error = error
                row.waiting_for = waiting_for
                row.updated_at = utcnow()
                data: dict[str, object] = {"from": previous, "to": state.value}
                if error:
                    data["error"] = error
                if waiting_for:
                    data["waiting_for"] = waiting_for
                self._append(s, run_id, "state", self._redact(data), dedupe_key)
        except IntegrityError:
            return  # the same change by another writer, at the same moment

    def update_budget(self, run_id: str, budget: Budget) -> None:
        with self._tx() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise KeyError(run_id)
            row.spec = {**row.spec, "budget": budget.model_dump()}

    def update_repos(self, run_id: str, repos: list[str]) -> None:
        """The repos a run takes, once its plan knows them (discovery, a repo dropped from the plan)."""
        with self._tx() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise KeyError(run_id)
            row.spec = {**row.spec, "repos": list(repos)}

    def set_attempt(self, run_id: str, attempt: int) -> None:
        with self._tx() as s:
            s.execute(update(RunRow).where(RunRow.run_id == run_id).values(attempt=attempt))

    def add_usage(self, run_id: str, usage: Usage) -> Usage:
        with self._tx() as s:
            row = s.get(RunRow, run_id, with_for_update=True)
            if row is None:
                raise KeyError(run_id)
            total = Usage.model_validate(row.usage or {}) + usage
            row.usage = total.model_dump()
            return total

    def request_cancel(self, run_id: str) -> None:
        with self._tx() as s:
            s.execute(update(RunRow).where(RunRow.run_id == run_id).values(cancel_requested=1))

    def cancel_requested(self, run_id: str) -> bool:
        with self._tx() as s:
            value = s.scalar(select(RunRow.cancel_requested).where(RunRow.run_id == run_id))
            return bool(value)

    def clear_cancel(self, run_id: str) -> None:
        with self._tx() as s:
            s.execute(update(RunRow).where(RunRow.run_id == run_id).values(cancel_requested=0))

    # -- events -------------------------------------------------------------------------------
    def append_event(
        self, run_id: str, kind: str, data: dict[str, Any], *, dedupe_key: str | None = None
    ) -> RunEvent | None:
        """Append the run's next numbered event; with a dedupe key, a repeat is ignored (None)."""
        try:
            with self._tx() as s:
                return self._append(s, run_id, kind, self._redact(data), dedupe_key)
        except IntegrityError:
            return None

    def save_step_with_event(
        self, step: Step, kind: str, data: dict[str, Any], *, dedupe_key: str | None = None
    ) -> RunEvent | None:
        """A step's new state and the event that announces it, in one transaction."""
        try:
            with self._tx() as s:
                self._save_step(s, step.model_copy(update={"detail": self._redact(step.detail)}))
                return self._append(s, step.run_id, kind, self._redact(data), dedupe_key)
        except IntegrityError:
            return None

    @staticmethod
    def _append(s: Session, run_id: str, kind: str, data: dict[str, Any], dedupe_key: str | None) -> RunEvent | None:
        if dedupe_key is not None:
            seen = s.scalar(select(EventRow.id).where(EventRow.run_id == run_id, EventRow.dedupe_key == dedupe_key))
            if seen is not None:
                return None
        at = utcnow()
        seq = s.scalar(
            update(RunRow)
            .where(RunRow.run_id == run_id)
            .values(last_seq=RunRow.last_seq + 1)
            .returning(RunRow.last_seq)
        )
        if seq is None:
            raise KeyError(run_id)
        s.add(EventRow(run_id=run_id, seq=seq, kind=kind, at=at, data=data, dedupe_key=dedupe_key))
        s.info[APPENDED] = True
        return RunEvent(run_id=run_id, seq=seq, kind=kind, at=at, data=data)

    def events(self, run_id: str, after_seq: int = 0) -> list[RunEvent]:
        with self._tx() as s:
            rows = s.scalars(
                select(EventRow).where(EventRow.run_id == run_id, EventRow.seq > after_seq).order_by(EventRow.seq)
            )
            return [RunEvent(run_id=r.run_id, seq=r.seq, kind=r.kind, at=_aware(r.at), data=r.data) for r in rows]

    def event_heads(self, since: datetime) -> dict[str, int]:
        """run id → its last event's seq, for every run with an event at or after `since`."""
        with self._tx() as s:
            rows = s.execute(
                select(EventRow.run_id, func.max(EventRow.seq)).where(EventRow.at >= since).group_by(EventRow.run_id)
            )
            return {run_id: int(seq or 0) for run_id, seq in rows}

    def last_seq(self, run_id: str) -> int:
        with self._tx() as s:
            return s.scalar(select(RunRow.last_seq).where(RunRow.run_id == run_id)) or 0

    # -- steps --------------------------------------------------------------------------------
    def save_step(self, step: Step) -> None:
        with self._tx() as s:
            self._save_step(s, step.model_copy(update={"detail": self._redact(step.detail)}))

    @staticmethod
    def _save_step(s: Session, step: Step) -> None:
        row = s.get(StepRow, (step.run_id, step.key))
        if row is None:
            count = s.scalar(select(func.count()).select_from(StepRow).where(StepRow.run_id == step.run_id))
            row = StepRow(run_id=step.run_id, key=step.key, position=count or 0)
            s.add(row)
        row.name = step.name
        row.repo = step.repo
        row.agent = step.agent
        row.state = step.state.value
        row.started_at = step.started_at
        row.finished_at = step.finished_at
        row.usage = step.usage.model_dump()
        row.detail = step.detail

    def steps(self, run_id: str) -> list[Step]:
        with self._tx() as s:
            rows = s.scalars(select(StepRow).where(StepRow.run_id == run_id).order_by(StepRow.position))
            return [
                Step(
                    run_id=r.run_id,
                    key=r.key,
                    name=r.name,
                    repo=r.repo,
                    agent=r.agent,
                    state=StepState(r.state),
                    started_at=_aware(r.started_at),
                    finished_at=_aware(r.finished_at) if r.finished_at else None,
                    usage=Usage.model_validate(r.usage or {}),
                    detail=r.detail,
                )
                for r in rows
            ]
