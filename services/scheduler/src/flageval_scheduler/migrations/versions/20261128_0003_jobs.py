"""scheduler: jobs (one per run) and the log lines runners send.

Revision ID: 20261128_0003
Revises: 20261127_0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "20261128_0003"
down_revision = "20261127_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("run_id", sa.Uuid, primary_key=True),
        sa.Column("evaluation_id", sa.Uuid, nullable=False),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("domain", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("priority_rank", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("resumes", sa.Integer, nullable=False),
        sa.Column("executor", sa.String(16), nullable=False),
        sa.Column("handle", sa.String(512), nullable=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=False),
        sa.Column("stop_requested", sa.Boolean, nullable=False),
        sa.Column("failure_cause", sa.String(16), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_jobs_queue", "jobs", ["status", "priority_rank", "created_at"])
    op.create_index("ix_jobs_owner_id", "jobs", ["owner_id"])
    op.create_table(
        "job_logs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Uuid, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("lines", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "attempt", "seq", name="uq_job_logs_seq"),
    )


def downgrade() -> None:
    op.drop_table("job_logs")
    op.drop_index("ix_jobs_owner_id", "jobs")
    op.drop_index("ix_jobs_queue", "jobs")
    op.drop_table("jobs")
