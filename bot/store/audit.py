"""The audit trail: an append-only record of every trigger, approval, rejection, refused click or
command, merge, cancellation, retry and follow-up — who did it, from which surface, what came of it
and why, with the SHAs involved (approvals: every PR's head; merges: the merged SHA).

`AuditLog` offers insert and read only: nothing here (or anywhere) updates or deletes a record.
A record written from a step that may run again (a merge replayed after a crash) carries a dedupe
key, so the replay adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.models import Actor, Decision, RunSpec, utcnow
from bot.store.tables import AuditRow


class AuditKind(StrEnum):
    trigger = "trigger"
    approval = "approval"
    rejection = "rejection"
    cancellation = "cancellation"
    retry = "retry"
    follow_up = "follow_up"
    merge = "merge"
    revert = "revert"
    plan_change = "plan_change"
    """A repo dropped from a plan awaiting approval."""


class AuditOutcome(StrEnum):
    accepted = "accepted"
    refused = "refused"
    failed = "failed"


ENGINE_ACTOR = "baton"
"""The actor of what Baton does on its own (the merge train)."""


class AuditRecord(BaseModel):
    """One line of the trail, as `baton audit --json` prints it."""

    at: datetime
    run_id: str | None = None
    kind: AuditKind
    actor: str
    surface: str
    outcome: AuditOutcome
    reason: str = ""
    shas: dict[str, str] = Field(default_factory=dict)
    delivery_id: str | None = None


def decision_kind(decision: Decision) -> AuditKind:
    """The audit kind of a person's decision on a run."""
    if decision is Decision.approve:
        return AuditKind.approval
    if decision is Decision.reject:
        return AuditKind.rejection
    return AuditKind.cancellation


class AuditLog:
    """Insert and read audit records; there is deliberately no way to change or remove one."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self,
        kind: AuditKind,
        *,
        actor: str,
        surface: str,
        outcome: AuditOutcome = AuditOutcome.accepted,
        run_id: str | None = None,
        reason: str = "",
        shas: dict[str, str] | None = None,
        delivery_id: str | None = None,
        dedupe_key: str | None = None,
    ) -> bool:
        """Append one record; False when a record with the same dedupe key already exists."""
        row = AuditRow(
            at=utcnow(),
            run_id=run_id,
            kind=kind.value,
            actor=actor[:200],
            surface=surface[:16],
            outcome=outcome.value,
            reason=reason[:2000],
            shas=dict(shas or {}),
            delivery_id=delivery_id,
            dedupe_key=dedupe_key,
        )
        try:
            with self._sessions.begin() as s:
                s.add(row)
        except IntegrityError:
            if dedupe_key is None:
                raise
            return False
        return True

    def triggered(self, spec: RunSpec) -> None:
        """A new run: who asked, from where, and the delivery that carried the request."""
        trigger = spec.trigger
        self.record(
            AuditKind.trigger,
            actor=trigger.actor.key,
            surface=trigger.source.value,
            run_id=spec.run_id,
            reason=f"playbook {spec.playbook} on {', '.join(spec.repos) or 'no repos'}",
            delivery_id=trigger.delivery_id,
        )

    def command(
        self, kind: AuditKind, actor: Actor, run_id: str, message: str, *, accepted: bool, shas: dict[str, str]
    ) -> None:
        """A person's command on a run (cancel, retry, follow-up) as it ended: accepted, or refused and why."""
        if accepted:
            self.record(kind, actor=actor.key, surface=actor.source.value, run_id=run_id, shas=shas)
        else:
            self.refused(kind, actor, message, run_id=run_id, shas=shas)

    def refused(
        self,
        kind: AuditKind,
        actor: Actor,
        reason: str,
        *,
        run_id: str | None = None,
        surface: str | None = None,
        shas: dict[str, str] | None = None,
        delivery_id: str | None = None,
    ) -> None:
        """A click or command refused before it changed anything, and why (the words the person saw)."""
        self.record(
            kind,
            actor=actor.key,
            surface=surface or actor.source.value,
            outcome=AuditOutcome.refused,
            run_id=run_id,
            reason=reason,
            shas=shas,
            delivery_id=delivery_id,
        )

    def records(self, run_id: str | None = None, limit: int = 10_000) -> list[AuditRecord]:
        """The trail in the order it was written, for one run or for all."""
        with self._sessions.begin() as s:
            query = select(AuditRow).order_by(AuditRow.id)
            if run_id is not None:
                query = query.where(AuditRow.run_id == run_id)
            rows = list(s.scalars(query.limit(limit)))
            return [
                AuditRecord(
                    at=r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC),
                    run_id=r.run_id,
                    kind=AuditKind(r.kind),
                    actor=r.actor,
                    surface=r.surface,
                    outcome=AuditOutcome(r.outcome),
                    reason=r.reason,
                    shas={str(k): str(v) for k, v in (r.shas or {}).items()},
                    delivery_id=r.delivery_id,
                )
                for r in rows
            ]


def audit_table(records: list[AuditRecord]) -> str:
    """The trail as aligned text for people (`baton audit`); scripts use `--json`."""
    if not records:
        return "no audit records"
    lines = [f"{'at (UTC)':<19}  {'run':<14} {'kind':<12} {'outcome':<8} {'actor':<24} {'surface':<11} shas / reason"]
    for r in records:
        shas = ", ".join(f"{repo}@{sha[:7]}" for repo, sha in r.shas.items())
        note = " · ".join(part for part in (shas, r.delivery_id and f"delivery {r.delivery_id}", r.reason) if part)
        lines.append(
            f"{r.at:%Y-%m-%d %H:%M:%S}  {r.run_id or '-':<14} {r.kind.value:<12} {r.outcome.value:<8} "
            f"{r.actor[:24]:<24} {r.surface:<11} {note}"
        )
    return "\n".join(lines)
