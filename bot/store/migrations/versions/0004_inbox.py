"""inbox: messages for runs, and where a run waits (parked runs hold no workflow while they wait)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=80), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("consumed_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_inbox_run_id"), "inbox", ["run_id"], unique=False)
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("wait_state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("wait_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("continuations", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("continuations")
        batch.drop_column("wait_key")
        batch.drop_column("wait_state")
    op.drop_index(op.f("ix_inbox_run_id"), table_name="inbox")
    op.drop_table("inbox")
