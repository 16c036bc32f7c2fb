"""eval-api: runs, their dataset steps and validation samples, and checked bundle versions.

Revision ID: 20261128_0005
Revises: 20261127_0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "20261128_0005"
down_revision = "20261127_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("evaluation_id", sa.Uuid, nullable=False),
        sa.Column("active_evaluation_id", sa.Uuid, nullable=True),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("evaluation_name", sa.String(32), nullable=False),
        sa.Column("domain", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitter", sa.String(64), nullable=False),
        sa.Column("submitter_id", sa.Uuid, nullable=False),
        sa.Column("deploy_mode", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("priority_rank", sa.Integer, nullable=False),
        sa.Column("image", sa.String(300), nullable=True),
        sa.Column("model_name", sa.String(256), nullable=True),
        sa.Column("bundle_id", sa.Uuid, nullable=True),
        sa.Column("bundle_version", sa.Integer, nullable=True),
        sa.Column("bundle_sha256", sa.String(64), nullable=True),
        sa.Column("charged", sa.JSON, nullable=False),
        sa.Column("generation", sa.JSON, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("failure_cause", sa.String(16), nullable=True),
        sa.Column("failure_message", sa.Text, nullable=True),
        sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("evaluation_id", "version", name="uq_runs_evaluation_version"),
        sa.UniqueConstraint("active_evaluation_id", name="uq_runs_active_evaluation"),
    )
    op.create_index("ix_runs_status_priority", "runs", ["status", "priority_rank", "created_at"])
    op.create_index("ix_runs_owner", "runs", ["owner_id", "created_at"])
    op.create_table(
        "run_datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Uuid, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("dataset_version", sa.String(64), nullable=True),
        sa.Column("dataset_sha256", sa.String(64), nullable=True),
        sa.UniqueConstraint("run_id", "dataset", name="uq_run_datasets_dataset"),
    )
    op.create_table(
        "run_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Uuid, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("sample_id", sa.String(128), nullable=False),
        sa.Column("sample", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("predict", sa.Text, nullable=False),
        sa.UniqueConstraint("run_id", "dataset", "sample_id", name="uq_run_samples_sample"),
    )
    op.create_table(
        "bundle_versions",
        sa.Column("bundle_id", sa.Uuid, primary_key=True),
        sa.Column("evaluation_id", sa.Uuid, nullable=False),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_bundle_versions_evaluation", "bundle_versions", ["evaluation_id", "version"]
    )


def downgrade() -> None:
    op.drop_index("ix_bundle_versions_evaluation", "bundle_versions")
    op.drop_table("bundle_versions")
    op.drop_table("run_samples")
    op.drop_table("run_datasets")
    op.drop_index("ix_runs_owner", "runs")
    op.drop_index("ix_runs_status_priority", "runs")
    op.drop_table("runs")
