"""links: thread / issue / PR → run; events indexed by time (the surface hub asks what is new)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("run_id", sa.String(length=80), nullable=False),
        sa.Column("linked_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "run_id"),
    )
    op.create_index(op.f("ix_links_run_id"), "links", ["run_id"], unique=False)
    op.create_index(op.f("ix_events_at"), "events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_events_at"), table_name="events")
    op.drop_index(op.f("ix_links_run_id"), table_name="links")
    op.drop_table("links")
