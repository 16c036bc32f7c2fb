"""gateway: login failure counters, shared by every gateway replica.

Revision ID: 20261202_0002
Revises: 20261127_0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "20261202_0002"
down_revision = "20261127_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failure_counters",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_login_failure_counters_window_ends_at", "login_failure_counters", ["window_ends_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_login_failure_counters_window_ends_at", "login_failure_counters")
    op.drop_table("login_failure_counters")
