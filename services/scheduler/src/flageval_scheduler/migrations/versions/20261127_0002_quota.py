"""scheduler: quota ledger and per-user quota limits.

Revision ID: 20261127_0002
Revises: 20261127_0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "20261127_0002"
down_revision = "20261127_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("run_id", sa.Uuid, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "run_id", "delta", name="uq_quota_ledger_kind_run_delta"),
        sa.CheckConstraint("delta IN (1, -1)", name="ck_quota_ledger_delta"),
        sa.CheckConstraint(
            "kind IN ('formal_run', 'human_evaluation')", name="ck_quota_ledger_kind"
        ),
    )
    op.create_index(
        "ix_quota_ledger_user_kind_period", "quota_ledger", ["user_id", "kind", "period"]
    )
    op.create_table(
        "quota_limits",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("formal_runs_per_month", sa.Integer, nullable=False),
        sa.Column("human_evaluations_total", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.Uuid, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quota_limits")
    op.drop_index("ix_quota_ledger_user_kind_period", "quota_ledger")
    op.drop_table("quota_ledger")
