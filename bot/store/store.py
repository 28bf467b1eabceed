"""The store: runs, steps, numbered events, changes (PRs), approvals and deliveries, on any
SQLAlchemy URL (SQLite file with WAL by default, PostgreSQL in production).

It holds what people read; DBOS's own database holds workflow checkpoints. Every state change
of a run is also an append-only, numbered RunEvent.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.diffs import DiffStat
from bot.domain.models import (
    Approval,
    Budget,
    ChangeSet,
    Run,
    RunEvent,
    RunSpec,
    RunState,
    RunView,
    Step,
    StepState,
    Usage,
    utcnow,
)
from bot.observability.logging import Redactor
from bot.observability.metrics import note_duplicate_delivery
from bot.store.audit import AuditLog
from bot.store.inbox import Inbox
from bot.store.schema import migrate as migrate
from bot.store.tables import (
    ApprovalRow,
    ChangeRow,
    DeliveryRow,
    EventRow,
    ExecutorRow,
    KeyValueRow,
    LinkRow,
    RunRow,
    StepRow,
)

HEAD_SEEN = "_head_seen_at"
"""Key beside a change's fields in its row: when Baton first saw its current head (ISO, UTC)."""
CHECKS_SEEN = "_checks_events"
"""Key beside a change's fields in its row: how many `checks` events the PR has had (`save_checks`)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def make_engine(url: str) -> Engine:
    """An engine with SQLite tuned for many short writers (WAL, busy timeout)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # Few connections per process: PostgreSQL's default allows 100 in all, and a deployment runs a
    # serve and several workers, each with DBOS's own pool beside this one (threads queue for one).
    return create_engine(url, pool_size=5, max_overflow=5, pool_timeout=60, pool_pre_ping=True)


def _unchanged(value: Any) -> Any:
    return value


def shas_digest(head_shas: dict[str, str]) -> str:
    canonical = json.dumps(sorted(head_shas.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Store:
    def __init__(self, engine: Engine, redactor: Redactor | None = None) -> None:
        """`redactor` hides secret values in the text people read (errors, events, step details)."""
        self.engine = engine
        self._redact = redactor.value if redactor is not None else _unchanged
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.audit = AuditLog(self._sessions)
        self.inbox = Inbox(self._sessions)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def redact(self, value: Any) -> Any:
        """`value` with the secrets this store hides replaced, for text read from elsewhere (a diff,
        an agent's transcript) shown beside what the store holds."""
        return self._redact(value)

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

    def prune_deliveries(self, before: datetime) -> int:
        """Forget the deliveries received before `before` (`retention.deliveries_days`); how many."""
        with self._tx() as s:
            result = s.execute(delete(DeliveryRow).where(DeliveryRow.received_at < before))
            return int(getattr(result, "rowcount", 0) or 0)

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
        )
