"""`baton audit` for people: one aligned line per record with short SHAs, the delivery and the reason."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store.audit import AuditKind, AuditOutcome, AuditRecord, audit_table

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_each_record_is_one_line_with_short_shas_and_the_reason() -> None:
    records = [
        AuditRecord(
            at=AT,
            run_id="r1",
            kind=AuditKind.trigger,
            actor="slack:U1",
            surface="slack",
            outcome=AuditOutcome.accepted,
            delivery_id="Ev1",
        ),
        AuditRecord(
            at=AT,
            run_id="r1",
            kind=AuditKind.approval,
            actor="slack:U2",
            surface="slack",
            outcome=AuditOutcome.refused,
            reason="not an approver",
            shas={"api": "a" * 40},
        ),
    ]

    lines = audit_table(records).splitlines()

    assert len(lines) == 3
    assert lines[1].startswith("2026-01-02 03:04:05  r1") and lines[1].endswith("delivery Ev1")
    assert " approval " in lines[2] and " refused " in lines[2]
    assert lines[2].endswith("api@aaaaaaa · not an approver")


def test_an_empty_trail_says_so() -> None:
    assert audit_table([]) == "no audit records"
