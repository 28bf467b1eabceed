"""SQLAlchemy 2 table models for what people read: runs, steps, events, changes, approvals,
deliveries and the executors that work on runs. Alembic migrations in `bot/store/migrations` create them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, object]] = mapped_column(JSON)
    usage: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    waiting_for: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[int] = mapped_column(Integer, default=0)
    approval_generation: Mapped[int] = mapped_column(Integer, default=0)
    # Parked runs (bot/store/inbox.py): None/running, waiting (a blocking wait), parked, claimed.
    wait_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    wait_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    continuations: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StepRow(Base):
    __tablename__ = "steps"

    run_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    repo: Mapped[str | None] = mapped_column(String(120), nullable=True)
    agent: Mapped[str | None] = mapped_column(String(120), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    usage: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="uq_events_run_seq"),
        UniqueConstraint("run_id", "dedupe_key", name="uq_events_run_dedupe"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(80), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    data: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ChangeRow(Base):
    __tablename__ = "changes"

    run_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    repo: Mapped[str] = mapped_column(String(120), primary_key=True)
    data: Mapped[dict[str, object]] = mapped_column(JSON)


class ApprovalRow(Base):
    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("run_id", "actor_key", "decision", "shas_digest", "generation", name="uq_approval_once"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(80), index=True)
    actor_key: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(32))
    shas_digest: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    valid: Mapped[int] = mapped_column(Integer, default=1)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class InboxRow(Base):
    """A message for a run from people or the scheduler (a decision, a follow-up, a re-check, an
    expiry), kept until the run's workflow takes it (`consumed_by`: the taking step's key)."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(80), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    message: Mapped[dict[str, object]] = mapped_column(JSON)
    consumed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class DeliveryRow(Base):
    __tablename__ = "deliveries"

    delivery_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IntakeRow(Base):
    """A signed, well-formed webhook as it arrived, stored before it is answered; processed after
    (the parsing, claiming and first reply happen from here), replayed when never finished."""

    __tablename__ = "intake"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    delivery: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done: Mapped[int] = mapped_column(Integer, default=0, index=True)
    outcome: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)


class ExecutorRow(Base):
    __tablename__ = "executors"

    executor_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recovered: Mapped[int] = mapped_column(Integer, default=0)


class KeyValueRow(Base):
    """Small durable facts a run records outside DBOS (e.g. a repo's finished result for retries)."""

    __tablename__ = "run_facts"

    run_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


class LinkRow(Base):
    """Where a run is talked about (a Slack thread, a GitHub issue or PR, a Linear issue or agent
    session) → its runs; the newest link of a key is the run a reply there means."""

    __tablename__ = "links"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)
    linked_at_ns: Mapped[int] = mapped_column(BigInteger)


class AuditRow(Base):
    """One append-only audit record: who did (or was refused) what to which run, with the SHAs
    involved. The store only inserts and reads these rows (bot/store/audit.py)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    run_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    surface: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    shas: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    delivery_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True)
